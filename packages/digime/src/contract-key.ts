import { createPrivateKey, type JsonWebKey, KeyObject } from 'node:crypto'

/**
 * The contract's RSA private key as `digiMe` takes it: a PEM string (PKCS#1 or PKCS#8), a private
 * JWK, or a private `KeyObject`. A `CryptoKey` is refused: give `KeyObject.from(cryptoKey)`.
 *
 * @example
 * ```ts
 * const privateKey: DigiMePrivateKey = createPrivateKey(readFileSync('contract.key'))
 * digiMe({ applicationId, contractId, privateKey })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7518#section-3.5 (PS512, which it signs with)
 */
export type DigiMePrivateKey = string | JsonWebKey | KeyObject

const MIN_MODULUS_BITS = 2048

const EXPECTED =
  "the contract's RSA private key: a PEM string (PKCS#1 `BEGIN RSA PRIVATE KEY` or PKCS#8 `BEGIN PRIVATE KEY`), a private JWK (`kty: 'RSA'` with `d`), or a private KeyObject"

/**
 * The contract's RSA private key as a `KeyObject`. Messages never quote the key: a wrong one is
 * described by its kind only.
 *
 * @throws {TypeError} naming `privateKey` for anything but an RSA private key of 2048 bits or more.
 */
export function toContractKey(input: unknown): KeyObject {
  let key: KeyObject
  if (input instanceof KeyObject) {
    if (input.type !== 'private')
      throw new TypeError(`ongoing: \`privateKey\` is a ${input.type} KeyObject; it must be ${EXPECTED}`)
    key = input
  } else if (typeof input === 'string') {
    if (!/-----BEGIN (RSA )?PRIVATE KEY-----/.test(input)) {
      const hint = /-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(input)
        ? ' (an encrypted PEM: decrypt it first, e.g. with createPrivateKey({ key, passphrase }))'
        : /-----BEGIN (RSA )?PUBLIC KEY-----/.test(input)
          ? ' (a public key was given)'
          : ''
      throw new TypeError(`ongoing: \`privateKey\` must be ${EXPECTED}${hint}`)
    }
    key = parse(() => createPrivateKey({ key: input, format: 'pem' }))
  } else if (isCryptoKey(input)) {
    throw new TypeError(
      `ongoing: \`privateKey\` is a CryptoKey; give KeyObject.from(cryptoKey) instead, or ${EXPECTED}`,
    )
  } else if (typeof input === 'object' && input !== null && !Array.isArray(input)) {
    const jwk = input as JsonWebKey
    if (jwk.kty !== 'RSA' || typeof jwk.d !== 'string')
      throw new TypeError(
        `ongoing: \`privateKey\` is a JWK but not a private RSA one; it must be ${EXPECTED}`,
      )
    key = parse(() => createPrivateKey({ key: jwk, format: 'jwk' }))
  } else {
    throw new TypeError(`ongoing: \`privateKey\` is required: ${EXPECTED}`)
  }
  if (key.asymmetricKeyType !== 'rsa')
    throw new TypeError(
      `ongoing: \`privateKey\` is a ${key.asymmetricKeyType ?? 'non-asymmetric'} key; digi.me signs with RSA (PS512): it must be ${EXPECTED}`,
    )
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0
  if (bits < MIN_MODULUS_BITS)
    throw new TypeError(
      `ongoing: \`privateKey\` is an RSA key of ${bits} bits; PS512 needs ${MIN_MODULUS_BITS} or more`,
    )
  return key
}

function parse(create: () => KeyObject): KeyObject {
  try {
    return create()
  } catch {
    // The parser's own message is not passed on: it says nothing useful, and nothing of the key may leak.
    throw new TypeError(`ongoing: \`privateKey\` could not be read; it must be ${EXPECTED}`)
  }
}

function isCryptoKey(value: unknown): boolean {
  const CryptoKeyClass = (globalThis as { CryptoKey?: abstract new () => unknown }).CryptoKey
  return CryptoKeyClass !== undefined && value instanceof CryptoKeyClass
}
