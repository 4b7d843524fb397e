import type { createRemoteJWKSet } from 'jose'
import { OngoingAccessError } from './errors.js'
import { loadJose } from './jose.js'

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

  /** @throws {OngoingAccessError} `ERR_INVALID_RESPONSE` when the ID token does not verify. */
  async verify(idToken: string): Promise<void> {
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
    try {
      await jwtVerify(idToken, this.#jwks, {
        algorithms: this.#algorithms,
        issuer: this.issuer,
        audience: this.clientId,
        requiredClaims: ['sub', 'iat', 'exp'],
        clockTolerance: 30,
      })
    } catch (err) {
      const reason = (err as { code?: string }).code ?? 'ERR_JWT_INVALID'
      throw new OngoingAccessError(
        'ERR_INVALID_RESPONSE',
        `Token endpoint answered with an ID token that does not verify (${reason})`,
        {
          cause: err,
        },
      )
    }
  }
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
