import { type Grant, type RefreshFailure, refreshAtOf } from './access-token.js'
import type { ConsentRequiredReason } from './errors.js'
import type { GrantRead } from './grant-repository.js'

/**
 * A grant's health:
 * - `active`: its last refresh (if any) succeeded, or it was stored since;
 * - `failing`: refreshes failed for a reason that may pass (no answer, a 5xx, a 429, a store
 *   outage); `failures` counts them and `lastError` says what the last one was. The access token
 *   in hand is used until it expires, and the grant comes back to `active` with the next success;
 * - `consent_required`: the grant is dead (`consentRequired` says why and since when); the user
 *   must consent again.
 */
export type GrantStatus = 'active' | 'failing' | 'consent_required'

/**
 * Why and since when a grant needs the user back. Kept in the store after the server rejected the
 * refresh token, so every instance, and every restart, says the same until a new consent (or
 * `restore`) replaces it or `revoke` clears it.
 */
export interface ConsentRequiredRecord {
  /** The same reason {@link ConsentRequiredError} gives. */
  reason: ConsentRequiredReason
  /** When the grant was found dead (or, for a reason found on reading, now), ms since epoch. */
  at: number
  /** The server's error code (`invalid_grant`, or one listed in `deadGrantErrors`), when it gave one. */
  oauthError?: string | undefined
  /** The HTTP status of the server's answer, when there was one. */
  status?: number | undefined
}

/** What a failed refresh left with the grant: no token material. */
export interface GrantLastError {
  /** The error code the refresh failed with (`ERR_NETWORK`, `ERR_TOKEN_ENDPOINT`, …). */
  code: RefreshFailure['code']
  /** The token endpoint's HTTP status, when it answered. */
  status?: number | undefined
  /** The token endpoint's `error`, when it gave one. */
  oauthError?: string | undefined
  /** When it failed, ms since epoch (absent in records written before it was kept). */
  at?: number | undefined
  /**
   * No token call for this grant before then, ms since epoch: the backoff after this failure, or
   * the server's `Retry-After` when it gave one.
   */
  nextAttemptAt?: number | undefined
}

/**
 * One stored grant as an operator sees it: its health, what it grants and when it is refreshed.
 * Never any token material. See {@link OngoingAccess.inspect} and {@link OngoingAccess.grants}.
 *
 * @example
 * ```ts
 * const info = await access.inspect(userKey)
 * if (info?.status === 'consent_required') notifyUser(userKey, info.consentRequired?.reason)
 * ```
 */
export interface GrantInfo {
  userKey: string
  status: GrantStatus
  /** The scope granted, when the server said. */
  scope: string | undefined
  /** When the access token in hand expires, ms since epoch; `undefined` when the record does not open here. */
  expiresAt: number | undefined
  /** When the refresh token expires, when the server said (RFC 6749 gives no field for it; some servers do). */
  refreshExpiresAt?: number | undefined
  /** When the access token in hand was obtained: at consent, or by the last refresh. */
  lastRefreshedAt?: number | undefined
  /**
   * When a request would refresh it next (`refreshSkewSeconds` before it expires, or after the
   * backoff of a failing grant); absent when it cannot be refreshed. A keeper refreshes earlier.
   */
  nextRefreshAt?: number | undefined
  /** Failed refreshes since the last success. */
  failures: number
  /** The last failed refresh, while the grant is `failing`. */
  lastError?: GrantLastError | undefined
  /** Why the user must consent again, when `status` is `consent_required`. */
  consentRequired?: ConsentRequiredRecord | undefined
}

/**
 * The {@link GrantInfo} of a stored record at `now`. A grant whose refresh token is past its
 * expiry, or whose access token expired with no refresh token, is `consent_required` here already.
 */
export function grantInfoOf(userKey: string, record: GrantRead, skewMs: number, now: number): GrantInfo {
  if (record.grant === undefined) {
    if (record.consentRequired === undefined) {
      const consentRequired: ConsentRequiredRecord = { reason: 'unreadable', at: now }
      return {
        userKey,
        status: 'consent_required',
        scope: undefined,
        expiresAt: undefined,
        failures: 0,
        consentRequired,
      }
    }
    const { consentRequired, scope, expiresAt } = record
    return { userKey, status: 'consent_required', scope, expiresAt, failures: 0, consentRequired }
  }
  const { grant } = record
  const info: GrantInfo = {
    userKey,
    status: 'active',
    scope: grant.scope,
    expiresAt: grant.expiresAt,
    failures: grant.failures ?? 0,
  }
  if (grant.refreshExpiresAt !== undefined) info.refreshExpiresAt = grant.refreshExpiresAt
  info.lastRefreshedAt = grant.obtainedAt
  const dead = deadOnReading(grant, now)
  if (dead !== undefined) {
    info.status = 'consent_required'
    info.consentRequired = { reason: dead, at: now }
    return info
  }
  if (grant.refreshToken !== undefined) info.nextRefreshAt = refreshAtOf(grant, skewMs)
  if (info.failures > 0) {
    info.status = 'failing'
    if (grant.lastError !== undefined) info.lastError = lastErrorOf(grant.lastError, grant.nextAttemptAt)
  }
  return info
}

/** Whether a stored grant can no longer be refreshed, and why. */
function deadOnReading(grant: Grant, now: number): ConsentRequiredReason | undefined {
  if (grant.refreshToken === undefined) return now >= grant.expiresAt ? 'no_refresh_token' : undefined
  if (grant.refreshExpiresAt !== undefined && now >= grant.refreshExpiresAt) return 'invalid_grant'
  return undefined
}

function lastErrorOf(failure: RefreshFailure, nextAttemptAt: number | undefined): GrantLastError {
  const error: GrantLastError = { code: failure.code }
  if (nextAttemptAt !== undefined) error.nextAttemptAt = nextAttemptAt
  if (failure.status !== undefined) error.status = failure.status
  if (failure.oauthError !== undefined) error.oauthError = failure.oauthError
  if (failure.at !== undefined) error.at = failure.at
  return error
}
