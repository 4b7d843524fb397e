import {
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  type JsonWebKey,
  KeyObject,
  randomUUID,
} from 'node:crypto'
import { promisify } from 'node:util'

const generate = promisify(generateKeyPair)

/** The only algorithm digi.me uses, both ways: RSASSA-PSS with SHA-512 (salt 64 bytes). */
export const DIGIME_ALGORITHM = 'PS512'

type Jose = typeof import('jose')
let loaded: Promise<Jose> | undefined

// `jose` is ES modules only: importing it when a server starts keeps `require('@ongoing/testing')`
// free of it for the users of the other helpers.
export function loadJose(): Promise<Jose> {
  loaded ??= import('jose')
  return loaded
}

/** An RSA key pair for a digi.me contract; see {@link generateDigiMeContractKey}. */
export interface DigiMeContractKey {
  /** The private key, to sign request JWTs with. */
  privateKey: KeyObject
  /** The private key as a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`). */
  privateKeyPem: string
  /** The public key, for the digi.me server's `contractPublicKey` option. */
  publicKey: KeyObject
  /** The public key as an SPKI PEM (`-----BEGIN PUBLIC KEY-----`). */
  publicKeyPem: string
}

/**
 * Generates an RSA 2048 key pair for a digi.me contract: the app signs every request JWT (PS512)
 * with the private key, and the digi.me server verifies with the public one.
 *
 * @returns The key pair, as `KeyObject`s and as PEM.
 * @example
 * ```ts
 * const contractKey = await generateDigiMeContractKey()
 * const digiMe = await startDigiMeServer({ contractPublicKey: contractKey.publicKey })
 * // the client under test signs with contractKey.privateKeyPem
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7518#section-3.5 PS512 (RSASSA-PSS using SHA-512)
 */
export async function generateDigiMeContractKey(): Promise<DigiMeContractKey> {
  const { privateKey, publicKey } = await generate('rsa', { modulusLength: 2048 })
  return {
    privateKey,
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  }
}

/** A key given as a `KeyObject`, a PEM string or a JWK. */
export type DigiMeKeyInput = KeyObject | string | JsonWebKey

/**
 * The RSA public key of `input` (a public or private `KeyObject`, a PEM of either, or a JWK).
 * Throws TypeError for anything else, or for an RSA key shorter than 2048 bits.
 */
export function toRSAPublicKey(input: unknown, name: string): KeyObject {
  let key: KeyObject
  try {
    if (input instanceof KeyObject) {
      if (input.type === 'secret') throw new Error('secret key')
      key = input.type === 'private' ? createPublicKey(input) : input
    } else if (typeof input === 'string') {
      key = createPublicKey(input)
    } else if (typeof input === 'object' && input !== null) {
      key = createPublicKey({ key: input as JsonWebKey, format: 'jwk' })
    } else {
      throw new Error('not a key')
    }
  } catch {
    throw new TypeError(`${name} must be an RSA key: a KeyObject, a PEM string or a JWK`)
  }
  assertRSA2048(key, name)
  return key
}

/** The RSA private key of `input` (a private `KeyObject`, a PEM or a private JWK). */
export function toRSAPrivateKey(input: unknown, name: string): KeyObject {
  let key: KeyObject
  try {
    if (input instanceof KeyObject && input.type === 'private') {
      key = input
    } else if (typeof input === 'string') {
      key = createPrivateKey(input)
    } else if (typeof input === 'object' && input !== null && !(input instanceof KeyObject)) {
      key = createPrivateKey({ key: input as JsonWebKey, format: 'jwk' })
    } else {
      throw new Error('not a private key')
    }
  } catch {
    throw new TypeError(`${name} must be an RSA private key: a KeyObject, a PEM string or a JWK`)
  }
  assertRSA2048(key, name)
  return key
}

function assertRSA2048(key: KeyObject, name: string): void {
  if (key.asymmetricKeyType !== 'rsa' || (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) {
    throw new TypeError(`${name} must be an RSA key of at least 2048 bits`)
  }
}

/** A signing key of the server, with the `kid` it is published under. */
export interface ServerSigningKey {
  kid: string
  privateKey: KeyObject
  publicKey: KeyObject
}

/** Generates a fresh RSA 2048 signing key with a random `kid`. */
export async function generateServerSigningKey(): Promise<ServerSigningKey> {
  const { privateKey, publicKey } = await generate('rsa', { modulusLength: 2048 })
  return { kid: randomUUID(), privateKey, publicKey }
}

/** A key set entry as digi.me publishes it: the JWK members, plus `pem`, a PKCS#1 public key. */
export interface DigiMeKeySetEntry {
  kid: string
  kty: 'RSA'
  n: string
  e: string
  alg: 'PS512'
  use: 'sig'
  pem: string
}

export function toKeySetEntry(key: Pick<ServerSigningKey, 'kid' | 'publicKey'>): DigiMeKeySetEntry {
  const { n, e } = key.publicKey.export({ format: 'jwk' })
  return {
    kid: key.kid,
    kty: 'RSA',
    n: n ?? '',
    e: e ?? '',
    alg: DIGIME_ALGORITHM,
    use: 'sig',
    pem: key.publicKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
  }
}

/** Signs `payload` as a compact JWS with the header digi.me's signed responses carry. */
export async function signResponse(
  payload: Record<string, unknown>,
  key: KeyObject,
  header: { jku: string; kid: string },
): Promise<string> {
  const jose = await loadJose()
  return new jose.SignJWT(payload)
    .setProtectedHeader({ alg: DIGIME_ALGORITHM, typ: 'JWT', jku: header.jku, kid: header.kid })
    .sign(key)
}
