import { createPrivateKey, KeyObject, type webcrypto } from 'node:crypto'
import type { JWK } from 'jose'
import { loadJose, preloadJose } from './jose.js'
import { generateRandomToken } from './pkce.js'

type CryptoKey = webcrypto.CryptoKey

/** A private JSON Web Key (RFC 7517), e.g. `{ kty: 'EC', crv: 'P-256', x, y, d, kid }`. */
export interface PrivateJWK {
  kty: string
  d?: string
  kid?: string
  alg?: string
  crv?: string
  [parameter: string]: unknown
}

/** Algorithms accepted for `private_key_jwt` client assertions. */
export type ClientAssertionAlgorithm = 'RS256' | 'PS256' | 'PS512' | 'ES256' | 'EdDSA'

const ASSERTION_ALGORITHMS: readonly ClientAssertionAlgorithm[] = [
  'RS256',
  'PS256',
  'PS512',
  'ES256',
  'EdDSA',
]

/**
 * The client's registration. `{ id, secret }` authenticates with `client_secret_basic` (or
 * `client_secret_post` with `authMethod`); `{ id, privateKey }` with `private_key_jwt`; a public
 * client says so with `{ id, authMethod: 'none' }`. A `secret` or `privateKey` that is present but
 * `undefined` (an unset environment variable), and `{ id }` alone, throw a `TypeError` at
 * construction rather than quietly making a public client.
 */
export type ClientOptions = SecretClientOptions | PrivateKeyClientOptions | PublicClientOptions

/** A confidential client with a shared secret. */
export interface SecretClientOptions {
  id: string
  secret: string
  /** Default: `client_secret_basic`. */
  authMethod?: 'client_secret_basic' | 'client_secret_post'
}

/** A confidential client that signs assertions with its private key (RFC 7523). */
export interface PrivateKeyClientOptions {
  id: string
  /** A private JWK, a PKCS#8 PEM string, a `KeyObject` or a `CryptoKey`. */
  privateKey: PrivateJWK | string | KeyObject | webcrypto.CryptoKey
  /** The `kid` header of the assertion (a JWK's own `kid` is used when absent). */
  keyId?: string
  /** Default: inferred from the key (RSA → RS256, P-256 → ES256, Ed25519 → EdDSA). */
  alg?: ClientAssertionAlgorithm
  authMethod?: 'private_key_jwt'
}

/**
 * A public client (no authentication; PKCE protects the code), declared explicitly.
 *
 * @example
 * ```ts
 * new OngoingAccess({ ...options, client: { id: 'my-spa', authMethod: 'none' } })
 * ```
 */
export interface PublicClientOptions {
  id: string
  /** Required: `'none'` is how a client declares that it has no credentials. */
  authMethod: 'none'
}

/** Authenticates requests to the token and revocation endpoints. */
export interface ClientAuthenticator {
  readonly clientId: string
  readonly method: 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none'
  /** Adds the client's credentials to a request's headers and form body. */
  apply(headers: Headers, body: URLSearchParams): Promise<void>
  /** The JWS algorithm of `private_key_jwt` assertions (reads the key once); absent otherwise. */
  signingAlgorithm?(): Promise<ClientAssertionAlgorithm>
  /**
   * Added to an `invalid_client` error's message: set when `client_secret_basic` form-encodes
   * the id or secret into something else. Never holds the secret.
   */
  readonly invalidClientHint?: string
}

/**
 * Builds the authenticator of a client registration, validating it once.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1 (client_secret_basic / _post)
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-2.2 (private_key_jwt)
 */
export function createClientAuthenticator(client: ClientOptions, issuer: () => string): ClientAuthenticator {
  if (typeof client !== 'object' || client === null) throw new TypeError('ongoing: `client` is required')
  const { id } = client
  if (typeof id !== 'string' || id.length === 0)
    throw new TypeError('ongoing: `client.id` must be a non-empty string')
  const declaredPublic = client.authMethod === 'none'
  const given: Record<string, unknown> = { ...client }
  for (const name of ['secret', 'privateKey'] as const) {
    if (name in given && given[name] === undefined && !declaredPublic)
      throw new TypeError(
        `ongoing: \`client.${name}\` is undefined (an unset environment variable?); give it a value, ` +
          "or declare a public client with `client: { id, authMethod: 'none' }`",
      )
  }
  if ('secret' in client && client.secret !== undefined) {
    const { secret } = client
    if (typeof secret !== 'string' || secret.length === 0)
      throw new TypeError('ongoing: `client.secret` must be a non-empty string')
    const method = client.authMethod ?? 'client_secret_basic'
    if (method === 'client_secret_post') {
      return {
        clientId: id,
        method,
        async apply(_headers, body) {
          body.set('client_id', id)
          body.set('client_secret', secret)
        },
      }
    }
    if (method !== 'client_secret_basic')
      throw new TypeError(
        `ongoing: \`client.authMethod\` ${String(method)} does not fit a client with a secret`,
      )
    // RFC 6749 §2.3.1: each part is form-urlencoded before base64.
    const basic = `Basic ${Buffer.from(`${formEncode(id)}:${formEncode(secret)}`).toString('base64')}`
    const changed = [formEncode(id) !== id && 'id', formEncode(secret) !== secret && 'secret'].filter(
      (part): part is string => part !== false,
    )
    return {
      clientId: id,
      method,
      async apply(headers) {
        headers.set('authorization', basic)
      },
      ...(changed.length === 0
        ? {}
        : {
            invalidClientHint:
              `The client ${changed.join(' and ')} has characters that client_secret_basic form-encodes before base64 ` +
              "(RFC 6749 §2.3.1), which some servers do not decode: try `client: { id, secret, authMethod: 'client_secret_post' }`.",
          }),
    }
  }
  if ('privateKey' in client && client.privateKey !== undefined) {
    const authenticator = privateKeyJWTAuthenticator(client, issuer)
    preloadJose()
    return authenticator
  }
  if (client.authMethod !== undefined && client.authMethod !== 'none') {
    throw new TypeError(
      `ongoing: \`client.authMethod\` ${client.authMethod} needs a \`secret\` or a \`privateKey\``,
    )
  }
  if (!declaredPublic)
    throw new TypeError(
      'ongoing: `client` has no credentials: give `client.secret` or `client.privateKey`, ' +
        "or declare a public client with `client: { id, authMethod: 'none' }`",
    )
  return {
    clientId: id,
    method: 'none',
    async apply(_headers, body) {
      body.set('client_id', id)
    },
  }
}

function privateKeyJWTAuthenticator(
  client: PrivateKeyClientOptions,
  issuer: () => string,
): ClientAuthenticator {
  const { id, privateKey } = client
  if (client.alg !== undefined && !ASSERTION_ALGORITHMS.includes(client.alg)) {
    throw new TypeError(`ongoing: \`client.alg\` must be one of ${ASSERTION_ALGORITHMS.join(', ')}`)
  }
  let prepared:
    | Promise<{
        key: KeyObject | CryptoKey | Uint8Array
        alg: ClientAssertionAlgorithm
        kid: string | undefined
      }>
    | undefined
  const prepare = async () => {
    if (typeof privateKey === 'string') {
      let key: KeyObject
      try {
        key = createPrivateKey(privateKey)
      } catch {
        throw new TypeError('ongoing: `client.privateKey` is not a readable PKCS#8 PEM private key')
      }
      return {
        key,
        alg: client.alg ?? inferAlgorithm(key.asymmetricKeyType, key.asymmetricKeyDetails?.namedCurve),
        kid: client.keyId,
      }
    }
    if (isKeyObject(privateKey)) {
      if (privateKey.type !== 'private')
        throw new TypeError('ongoing: `client.privateKey` must be a private key')
      return {
        key: privateKey,
        alg:
          client.alg ??
          inferAlgorithm(privateKey.asymmetricKeyType, privateKey.asymmetricKeyDetails?.namedCurve),
        kid: client.keyId,
      }
    }
    if (isCryptoKey(privateKey)) {
      const alg = client.alg ?? inferFromCryptoKey(privateKey)
      return { key: privateKey, alg, kid: client.keyId }
    }
    const jwk = privateKey as JWK
    if (typeof jwk.d !== 'string')
      throw new TypeError('ongoing: `client.privateKey` JWK must be a private key (it has no `d`)')
    const alg = client.alg ?? (jwk.alg as ClientAssertionAlgorithm | undefined) ?? inferFromJWK(jwk)
    const { importJWK } = await loadJose()
    return { key: await importJWK(jwk, alg), alg, kid: client.keyId ?? jwk.kid }
  }
  return {
    clientId: id,
    method: 'private_key_jwt',
    async signingAlgorithm() {
      prepared ??= prepare()
      return (await prepared).alg
    },
    async apply(_headers, body) {
      prepared ??= prepare()
      const { key, alg, kid } = await prepared
      const { SignJWT } = await loadJose()
      const now = Math.floor(Date.now() / 1000)
      const assertion = await new SignJWT({})
        .setProtectedHeader(kid === undefined ? { alg } : { alg, kid })
        .setIssuer(id)
        .setSubject(id)
        .setAudience(issuer())
        .setJti(generateRandomToken(16))
        .setIssuedAt(now)
        .setExpirationTime(now + 60)
        .sign(key)
      body.set('client_id', id)
      body.set('client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
      body.set('client_assertion', assertion)
    },
  }
}

function inferAlgorithm(type: string | undefined, curve: string | undefined): ClientAssertionAlgorithm {
  if (type === 'rsa') return 'RS256'
  if (type === 'rsa-pss') return 'PS256'
  if (type === 'ec' && (curve === 'prime256v1' || curve === 'P-256')) return 'ES256'
  if (type === 'ed25519') return 'EdDSA'
  throw new TypeError('ongoing: cannot infer `client.alg` from this key; set `client.alg`')
}

function inferFromJWK(jwk: JWK): ClientAssertionAlgorithm {
  if (jwk.kty === 'RSA') return 'RS256'
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256'
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA'
  throw new TypeError('ongoing: cannot infer `client.alg` from this JWK; set `client.alg`')
}

function inferFromCryptoKey(key: CryptoKey): ClientAssertionAlgorithm {
  const algorithm = key.algorithm as { name: string; hash?: { name: string }; namedCurve?: string }
  if (algorithm.name === 'RSASSA-PKCS1-v1_5') return 'RS256'
  if (algorithm.name === 'RSA-PSS') return algorithm.hash?.name === 'SHA-512' ? 'PS512' : 'PS256'
  if (algorithm.name === 'ECDSA' && algorithm.namedCurve === 'P-256') return 'ES256'
  if (algorithm.name === 'Ed25519') return 'EdDSA'
  throw new TypeError('ongoing: cannot infer `client.alg` from this CryptoKey; set `client.alg`')
}

function isKeyObject(value: unknown): value is KeyObject {
  return value instanceof KeyObject
}

function isCryptoKey(value: unknown): value is CryptoKey {
  return typeof globalThis.CryptoKey === 'function' && value instanceof globalThis.CryptoKey
}

function formEncode(value: string): string {
  return encodeURIComponent(value).replace(/%20/g, '+')
}
