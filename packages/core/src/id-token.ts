import type { createRemoteJWKSet } from 'jose'
import { OngoingAccessError } from './errors.js'
import { loadJose } from './jose.js'
import { sameSecret } from './pkce.js'

/** Asymmetric algorithms accepted for ID token signatures by default. Never `none`, never HMAC. */
export const DEFAULT_ID_TOKEN_ALGORITHMS = [
  'RS256',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'EdDSA',
] as const

const MAX_ID_TOKEN_LENGTH = 16 * 1024

/**
 * Verifies ID tokens from the token endpoint: signature with a key from the server's configured
 * JWKS only (never `jku`, `x5u` or an embedded `jwk`), an algorithm allow-list, `iss`, `aud`, `exp`.
 * An unknown `kid` refetches the JWKS at most once per cooldown (30 s).
 *
 * @see https://openid.net/specs/openid-connect-core-1_0.html#IDTokenValidation
 * @see https://www.rfc-editor.org/rfc/rfc8725#section-3.1 (algorithm verification)
 */
export class IdTokenVerifier {
  readonly #jwksUri: URL
  readonly #fetch: typeof fetch
  readonly #timeoutMs: number
  // Made on the first verification (`jose` is loaded then), and kept: it caches the keys.
  #jwks: ReturnType<typeof createRemoteJWKSet> | undefined
  readonly #algorithms: string[]

  constructor(
    jwksUri: string,
    fetchImpl: typeof fetch,
    timeoutMs: number,
    private readonly issuer: string,
    private readonly clientId: string,
    algorithms: readonly string[] = DEFAULT_ID_TOKEN_ALGORITHMS,
  ) {
    this.#algorithms = checkAlgorithms(algorithms)
    this.#jwksUri = new URL(jwksUri)
    this.#fetch = fetchImpl
    this.#timeoutMs = timeoutMs
  }

  /**
   * Verifies `idToken` and returns its claims. `nonce`, when the authorization request sent one,
   * must come back in the token unchanged; `azp`, when present or when `aud` names several
   * audiences, must be our client id.
   *
   * @throws {OngoingAccessError} `ERR_INVALID_RESPONSE` when the ID token does not verify.
   * @see https://openid.net/specs/openid-connect-core-1_0.html#IDTokenValidation (steps 4, 5, 11)
   */
  async verify(idToken: string, nonce: string | undefined): Promise<IdTokenClaims> {
    if (
      idToken.length > MAX_ID_TOKEN_LENGTH ||
      !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(idToken)
    ) {
      throw new OngoingAccessError(
        'ERR_INVALID_RESPONSE',
        'Token endpoint answered with a malformed ID token',
      )
    }
    const { createRemoteJWKSet, customFetch, jwtVerify } = await loadJose()
    const fetchImpl = this.#fetch
    this.#jwks ??= createRemoteJWKSet(this.#jwksUri, {
      timeoutDuration: this.#timeoutMs,
      cooldownDuration: 30_000,
      [customFetch]: (url: string, init: RequestInit) => fetchImpl(url, init),
    })
    let payload: Record<string, unknown>
    try {
      ;({ payload } = await jwtVerify(idToken, this.#jwks, {
        algorithms: this.#algorithms,
        issuer: this.issuer,
        audience: this.clientId,
        requiredClaims: ['sub', 'iat', 'exp'],
        clockTolerance: 30,
      }))
    } catch (err) {
      const reason = (err as { code?: string }).code ?? 'ERR_JWT_INVALID'
      throw new OngoingAccessError(
        'ERR_INVALID_RESPONSE',
        `Token endpoint answered with an ID token that does not verify (${reason})`,
        { cause: err },
      )
    }
    if (typeof payload.sub !== 'string' || payload.sub === '')
      throw invalidClaims('`sub` is not a non-empty string')
    const { aud, azp } = payload
    if ((Array.isArray(aud) && aud.length > 1) || azp !== undefined) {
      if (azp !== this.clientId) throw invalidClaims('`azp` is not this client')
    }
    if (nonce !== undefined) {
      // A replayed or injected ID token carries another nonce, or none.
      if (typeof payload.nonce !== 'string' || !sameSecret(payload.nonce, nonce))
        throw invalidClaims('`nonce` is not the one this consent sent')
    }
    return Object.freeze({ ...payload }) as IdTokenClaims
  }
}

function invalidClaims(problem: string): OngoingAccessError {
  return new OngoingAccessError(
    'ERR_INVALID_RESPONSE',
    `Token endpoint answered with an ID token whose ${problem}`,
  )
}

/**
 * The claims of a verified ID token: who the user is at the authorization server. `sub` (with
 * `iss`) is the stable identifier of the user; names and e-mail addresses may change.
 *
 * @example
 * ```ts
 * const { claims } = await access.finishConsent({ callbackUrl, transaction })
 * if (claims) console.log(`signed in as ${claims.sub} at ${claims.iss}`)
 * ```
 * @see https://openid.net/specs/openid-connect-core-1_0.html#IDToken
 */
export interface IdTokenClaims {
  /** The issuer (checked: the configured one). */
  readonly iss: string
  /** The user's identifier at the issuer: stable, never reassigned. */
  readonly sub: string
  /** The audience (checked: holds our client id). */
  readonly aud: string | readonly string[]
  /** Expiry, seconds since epoch. */
  readonly exp: number
  /** Issue time, seconds since epoch. */
  readonly iat: number
  /** The nonce the consent sent (checked). */
  readonly nonce?: string
  /** When the user authenticated, seconds since epoch. */
  readonly auth_time?: number
  /** The authorized party (checked: our client id, when present). */
  readonly azp?: string
  readonly acr?: string
  readonly amr?: readonly string[]
  /** Any other claim the server put in the ID token (`email`, `name`, …). */
  readonly [claim: string]: unknown
}

/** Validates an algorithm allow-list: asymmetric signatures only. */
export function checkAlgorithms(algorithms: readonly string[]): string[] {
  if (!Array.isArray(algorithms) || algorithms.length === 0) {
    throw new TypeError('ongoing: `idTokenSigningAlgorithms` must be a non-empty list')
  }
  for (const alg of algorithms) {
    if (typeof alg !== 'string' || !/^(RS|PS|ES)(256|384|512)$|^EdDSA$|^Ed25519$/.test(alg)) {
      throw new TypeError(
        `ongoing: \`idTokenSigningAlgorithms\` may hold only asymmetric algorithms, not ${JSON.stringify(alg)}`,
      )
    }
  }
  return [...algorithms]
}
