/**
 * Why the digi.me test server refused a request. Each reason answers with one status and error
 * code (see the `@ongoing/testing` README):
 *
 * - `missing_jwt`, `malformed_jwt`, `unsupported_alg`, `bad_signature`: 401 `InvalidJWT`
 * - `unknown_client`: 401 `InvalidClient`
 * - `invalid_claims`, `invalid_body`, `unsupported_challenge_method`, `unsupported_grant_type`,
 *   `stale_timestamp`, `reused_nonce`: 400 `InvalidRequest`
 * - `invalid_redirect_uri`: 400 `InvalidRedirectUri`
 * - `invalid_code`, `pkce_mismatch`: 400 `InvalidGrant`
 * - `invalid_refresh_token`, `reused_refresh_token`, `expired_refresh_token`,
 *   `invalid_access_token`, `forced_invalid_token`: 401 `InvalidToken`
 * - `not_found`: 404 `NotFound`; `method_not_allowed`: 405 `MethodNotAllowed`;
 *   `body_too_large`: 413 `InvalidRequest`
 */
export type DigiMeRefusalReason =
  | 'missing_jwt'
  | 'malformed_jwt'
  | 'unsupported_alg'
  | 'unknown_client'
  | 'bad_signature'
  | 'invalid_claims'
  | 'stale_timestamp'
  | 'reused_nonce'
  | 'invalid_body'
  | 'body_too_large'
  | 'invalid_redirect_uri'
  | 'unsupported_challenge_method'
  | 'unsupported_grant_type'
  | 'invalid_code'
  | 'pkce_mismatch'
  | 'invalid_refresh_token'
  | 'reused_refresh_token'
  | 'expired_refresh_token'
  | 'invalid_access_token'
  | 'forced_invalid_token'
  | 'not_found'
  | 'method_not_allowed'

const REFUSAL_REASONS: readonly DigiMeRefusalReason[] = [
  'missing_jwt',
  'malformed_jwt',
  'unsupported_alg',
  'unknown_client',
  'bad_signature',
  'invalid_claims',
  'stale_timestamp',
  'reused_nonce',
  'invalid_body',
  'body_too_large',
  'invalid_redirect_uri',
  'unsupported_challenge_method',
  'unsupported_grant_type',
  'invalid_code',
  'pkce_mismatch',
  'invalid_refresh_token',
  'reused_refresh_token',
  'expired_refresh_token',
  'invalid_access_token',
  'forced_invalid_token',
  'not_found',
  'method_not_allowed',
]

/** A request the server received, as it arrived: the request JWT's claims and the JSON body. */
export interface DigiMeReceivedRequest {
  /** Every claim of the request JWT (`client_id`, `nonce`, `timestamp` and the operation's own). */
  claims: Readonly<Record<string, unknown>>
  /** The parsed JSON body, `undefined` when there was none or it was not JSON. */
  body: unknown
}

/** The last refusal: why, and what the server answered. */
export interface DigiMeRefusal {
  reason: DigiMeRefusalReason
  status: number
  code: string
  message: string
}

/** What the digi.me test server has seen since it started or since the last reset. */
export interface DigiMeServerStats {
  /** `POST oauth/authorize` requests, counted on arrival, refusals included. */
  preAuthorizations: number
  /** `POST oauth/token/reference` (re-authorization) requests, counted on arrival. */
  reauthorizations: number
  /**
   * Consent pages requested (`{consent}/authorize` and `{consent}/user-reauth`), by the outcome
   * the server answered with (the legacy forms counted with their kind); `invalid`: an unknown,
   * expired or already used pre-authorization code.
   */
  consents: { success: number; cancel: number; error: number; invalid: number }
  /** `POST oauth/token` requests, counted on arrival by their `grant_type` claim, refusals included. */
  tokenCalls: {
    authorization_code: number
    refresh_token: number
    /** Every token request, whatever its `grant_type` (or none, or an unreadable JWT). */
    total: number
  }
  /** Data calls, counted on arrival, refusals included. */
  dataCalls: {
    /** `POST permission-access/trigger`. */
    trigger: number
    /** `GET permission-access/query/{sessionKey}`. */
    fileList: number
    /** `GET permission-access/query/{sessionKey}/{file}`. */
    file: number
    total: number
  }
  /** `GET jwks/oauth`. */
  keySetFetches: number
  /** Request JWTs whose PS512 signature verified with the contract's key. */
  verifiedJwts: number
  /**
   * Request JWTs that did not verify, whatever the reason: unreadable, an algorithm other than
   * PS512, an unknown `client_id`, or a bad signature. A correct client keeps this at zero.
   */
  unverifiedJwts: number
  /** Request JWTs that carried a `nonce` claim (signature checked or not). */
  noncesSeen: number
  /**
   * Request JWTs whose `nonce` the server had already seen in an earlier JWT, at any time since
   * it started (a reset clears this count, not the server's memory of nonces). A correct client
   * keeps this at zero.
   */
  duplicateNonces: number
  /** Refused requests, by reason; every reason is present, most at zero. */
  refused: Record<DigiMeRefusalReason, number>
  /** The last refused request, if any since the reset. */
  lastRefusal: DigiMeRefusal | undefined
  /** Refresh requests that presented an already rotated refresh token. */
  refreshTokenReuse: number
  /** Grants revoked: on refresh token or authorization code reuse, and by `revokeGrantsOf`. */
  grantsRevoked: number
  /** Token responses signed with a forged key (see `forgeNextTokenResponse`). */
  forgedResponses: number
  /**
   * The last pre-authorization (`POST oauth/authorize`) whose JWT verified, refused or not: its
   * claims (`code_challenge`, `code_challenge_method`, `redirect_uri`, `state`, …) and body.
   */
  lastPreAuthorization: DigiMeReceivedRequest | undefined
}

/** Mutable counters behind `DigiMeServer.stats()`. */
export class DigiMeStats {
  #stats: DigiMeServerStats = DigiMeStats.#empty()
  readonly #everyNonce = new Set<string>()

  static #empty(): DigiMeServerStats {
    return {
      preAuthorizations: 0,
      reauthorizations: 0,
      consents: { success: 0, cancel: 0, error: 0, invalid: 0 },
      tokenCalls: { authorization_code: 0, refresh_token: 0, total: 0 },
      dataCalls: { trigger: 0, fileList: 0, file: 0, total: 0 },
      keySetFetches: 0,
      verifiedJwts: 0,
      unverifiedJwts: 0,
      noncesSeen: 0,
      duplicateNonces: 0,
      refused: Object.fromEntries(REFUSAL_REASONS.map((reason) => [reason, 0])) as Record<
        DigiMeRefusalReason,
        number
      >,
      lastRefusal: undefined,
      refreshTokenReuse: 0,
      grantsRevoked: 0,
      forgedResponses: 0,
      lastPreAuthorization: undefined,
    }
  }

  get counters(): DigiMeServerStats {
    return this.#stats
  }

  countNonce(nonce: unknown): void {
    if (typeof nonce !== 'string') return
    this.#stats.noncesSeen++
    if (this.#everyNonce.has(nonce)) {
      this.#stats.duplicateNonces++
    } else {
      this.#everyNonce.add(nonce)
    }
  }

  countTokenCall(grantType: unknown): void {
    const calls = this.#stats.tokenCalls
    calls.total++
    if (grantType === 'authorization_code') calls.authorization_code++
    else if (grantType === 'refresh_token') calls.refresh_token++
  }

  countDataCall(kind: 'trigger' | 'fileList' | 'file'): void {
    this.#stats.dataCalls[kind]++
    this.#stats.dataCalls.total++
  }

  countRefusal(refusal: DigiMeRefusal): void {
    this.#stats.refused[refusal.reason]++
    this.#stats.lastRefusal = refusal
  }

  reset(): void {
    this.#stats = DigiMeStats.#empty()
  }

  snapshot(): DigiMeServerStats {
    return structuredClone(this.#stats)
  }
}
