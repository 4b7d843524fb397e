import { createHash, randomBytes } from 'node:crypto'
import type { JWK } from 'jose'
import { OngoingAccessError } from './errors.js'
import { loadJose } from './jose.js'

/**
 * A grant's DPoP key pair, as it is kept with the grant (sealed with it, never in clear): the
 * algorithm and the private JWK (which holds the public half).
 */
export interface DPoPKeyMaterial {
  readonly alg: string
  readonly jwk: DPoPJWK
}

/**
 * A DPoP key as a JWK (RFC 7517): the members of EC, OKP and RSA keys, private ones included.
 * Our own type, so the published types name nothing of `jose` (an ES module a CommonJS consumer's
 * types cannot `require`).
 */
export interface DPoPJWK {
  kty?: string
  crv?: string
  x?: string
  y?: string
  n?: string
  e?: string
  d?: string
  [member: string]: unknown
}

/** The DPoP signing algorithms we use, in order of preference (RFC 9449 §5.1). */
export const DPOP_ALGORITHMS = ['ES256', 'EdDSA', 'Ed25519', 'PS256', 'RS256'] as const

/**
 * The algorithm of new DPoP keys: ES256 unless the server's `dpop_signing_alg_values_supported`
 * leaves it out, then the first of ours it lists.
 *
 * @throws {OngoingAccessError} `ERR_CONFIGURATION` when the server lists none of ours.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5.1
 */
export function chooseDPoPAlgorithm(supported: readonly string[] | undefined): string {
  if (supported === undefined) return 'ES256'
  const alg = DPOP_ALGORITHMS.find((candidate) => supported.includes(candidate))
  if (alg === undefined)
    throw new OngoingAccessError(
      'ERR_CONFIGURATION',
      `\`dpop\` is set but the server's \`dpop_signing_alg_values_supported\` lists none of ${DPOP_ALGORITHMS.join(', ')}`,
    )
  return alg
}

/** Makes a new DPoP key pair (extractable, so it can be kept with the grant). */
export async function generateDPoPKey(alg: string): Promise<DPoPKeyMaterial> {
  const jose = await loadJose()
  const { privateKey } = await jose.generateKeyPair(alg, { extractable: true })
  return { alg, jwk: await jose.exportJWK(privateKey) }
}

const PRIVATE_MEMBERS = new Set(['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'])

/** The public half of a key's JWK: only the members of a public key. */
export function publicJWKOf(material: DPoPKeyMaterial): JWK {
  const jwk: JWK = {}
  for (const [name, value] of Object.entries(material.jwk)) {
    if (PRIVATE_MEMBERS.has(name) || name === 'key_ops' || name === 'ext' || name === 'use') continue
    ;(jwk as Record<string, unknown>)[name] = value
  }
  return jwk
}

/** Whether a value read back (a store record, a transaction) is well-formed key material. */
export function isDPoPKeyMaterial(value: unknown): value is DPoPKeyMaterial {
  const v = value as DPoPKeyMaterial | undefined
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.alg === 'string' &&
    typeof v.jwk === 'object' &&
    v.jwk !== null &&
    typeof v.jwk.kty === 'string' &&
    typeof v.jwk.d === 'string'
  )
}

interface ImportedKey {
  privateKey: CryptoKey
  publicJWK: JWK
}

// Imported keys, by the material object they came from: a grant read once is imported once.
const imported = new WeakMap<DPoPKeyMaterial, Promise<ImportedKey>>()

function importDPoPKey(material: DPoPKeyMaterial): Promise<ImportedKey> {
  let key = imported.get(material)
  if (key === undefined) {
    key = loadJose().then(async (jose) => ({
      privateKey: (await jose.importJWK(material.jwk, material.alg)) as CryptoKey,
      publicJWK: publicJWKOf(material),
    }))
    // A key that does not import is not remembered; the error says nothing of the key.
    key.catch(() => imported.delete(material))
    imported.set(material, key)
  }
  return key
}

/**
 * The JWK SHA-256 thumbprint of the key (RFC 7638), base64url: the `dpop_jkt` of the authorization
 * request and the `cnf.jkt` of bound tokens.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-6.1
 */
export async function calculateDPoPThumbprint(material: DPoPKeyMaterial): Promise<string> {
  const jose = await loadJose()
  return jose.calculateJwkThumbprint(publicJWKOf(material), 'sha256')
}

/** What one proof is for. */
export interface DPoPProofRequest {
  /** The HTTP method. */
  htm: string
  /** The target URI; its query and fragment are left out. */
  url: string | URL
  /** The server's nonce, when it gave one. */
  nonce?: string | undefined
  /** The access token presented with the proof (resource requests): its hash goes in `ath`. */
  accessToken?: string | undefined
  /** Seconds to add to our clock to read the server's (learned from its `Date` header). */
  clockOffsetSeconds?: number | undefined
}

/**
 * Signs a DPoP proof: `typ: dpop+jwt`, the public `jwk` in the header, a fresh random `jti`, `htm`,
 * `htu` without query and fragment, `iat`, and `nonce` and `ath` when given.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.2
 */
export async function createDPoPProof(material: DPoPKeyMaterial, request: DPoPProofRequest): Promise<string> {
  const [jose, key] = await Promise.all([loadJose(), importDPoPKey(material)])
  const htu = new URL(request.url)
  htu.search = ''
  htu.hash = ''
  const claims: Record<string, unknown> = {
    // 16 random bytes: RFC 9449 §11.1 asks for enough entropy that a jti is never reused.
    jti: randomBytes(16).toString('base64url'),
    htm: request.htm.toUpperCase(),
    htu: htu.href,
    iat: Math.floor(Date.now() / 1000) + (request.clockOffsetSeconds ?? 0),
  }
  if (request.nonce !== undefined) claims.nonce = request.nonce
  if (request.accessToken !== undefined)
    claims.ath = createHash('sha256').update(request.accessToken).digest('base64url')
  return new jose.SignJWT(claims)
    .setProtectedHeader({ alg: material.alg, typ: 'dpop+jwt', jwk: key.publicJWK })
    .sign(key.privateKey)
}

const MAX_NONCES = 100
const MAX_NONCE_LENGTH = 1024
// Below this, a `Date` header's one-second resolution and the request's own time are the difference.
const MIN_CLOCK_OFFSET_SECONDS = 5

/**
 * What the servers told us for proofs: the last `DPoP-Nonce` of each origin (RFC 9449 §8, §9),
 * and the authorization server's clock offset (from its `Date` header).
 */
export class DPoPServerState {
  readonly #nonces = new Map<string, string>()
  /** Seconds to add to our clock to read the authorization server's. */
  clockOffsetSeconds = 0

  nonceFor(url: string | URL): string | undefined {
    return this.#nonces.get(new URL(url).origin)
  }

  /** Remembers the `DPoP-Nonce` of a response, if it has one. Returns it. */
  noteNonce(url: string | URL, headers: Headers): string | undefined {
    const nonce = headers.get('dpop-nonce')
    // RFC 9449 §8.1: NQCHAR, not empty.
    if (
      nonce === null ||
      nonce === '' ||
      nonce.length > MAX_NONCE_LENGTH ||
      !/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(nonce)
    )
      return undefined
    const origin = new URL(url).origin
    this.#nonces.delete(origin)
    if (this.#nonces.size >= MAX_NONCES) this.#nonces.delete(this.#nonces.keys().next().value as string)
    this.#nonces.set(origin, nonce)
    return nonce
  }

  /** Learns the server's clock from its `Date` header. */
  noteDate(headers: Headers): void {
    const date = Date.parse(headers.get('date') ?? '')
    if (Number.isNaN(date)) return
    const offset = Math.round((date - Date.now()) / 1000)
    this.clockOffsetSeconds = Math.abs(offset) < MIN_CLOCK_OFFSET_SECONDS ? 0 : offset
  }
}

/**
 * Whether a resource server's 401 asks for a (new) nonce: `WWW-Authenticate: DPoP
 * error="use_dpop_nonce"`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-9
 */
export function asksForDPoPNonce(response: Response): boolean {
  if (response.status !== 401) return false
  const header = response.headers.get('www-authenticate')
  // A DPoP challenge (the scheme at the start, or after another challenge's comma) naming the error.
  if (header === null || !/(?:^|,)\s*DPoP(?:\s|$)/i.test(header)) return false
  return /\berror\s*=\s*"?use_dpop_nonce"?/i.test(header)
}
