import type { DPoPKeyMaterial } from './dpop.js'
import type { OngoingAccessErrorCode } from './errors.js'
import type { TokenSet } from './profile.js'

/**
 * An access token ready to use, as `getAccessToken` hands it out.
 *
 * @example
 * ```ts
 * const token = await access.getAccessToken(userKey)
 * await fetch(api, { headers: { authorization: `${token.tokenType} ${token.value}` } })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-2.1
 */
export interface AccessToken {
  /** The token itself. Never log it. */
  readonly value: string
  /** `Bearer`, or `DPoP` with the `dpop` option (then only `access.fetch` can present it: it signs the proofs). */
  readonly tokenType: string
  /** When it expires, in ms since epoch. */
  readonly expiresAt: number
  /** The scope granted, when the server said. */
  readonly scope?: string | undefined
  /** True when this call (or the call it joined) refreshed the token. */
  readonly refreshed: boolean
}

/** A stored grant, in clear. Lives only inside `OngoingAccess`; stores receive it sealed. */
export interface Grant {
  accessToken: string
  tokenType: string
  /** ms since epoch. */
  expiresAt: number
  /** When the access token was obtained, ms since epoch (to refresh short-lived tokens at half life). */
  obtainedAt: number
  refreshToken: string | undefined
  /** ms since epoch, when the server told us. */
  refreshExpiresAt: number | undefined
  scope: string | undefined
  /**
   * A random id given at consent (or `restore`) and kept by every refresh: two records of one grant
   * share it, a new consent has another. Absent in records written before it existed.
   */
  grantId: string | undefined
  /**
   * The grant's DPoP key pair (RFC 9449), made at consent and kept by every refresh: stored sealed
   * with the grant, never in clear. Absent without the `dpop` option.
   */
  dpopKey?: DPoPKeyMaterial | undefined
  /** Failed refreshes since the last success (0 or absent when the last one succeeded). */
  failures?: number | undefined
  /** After a failed refresh: no token call for this grant before then, ms since epoch. */
  nextAttemptAt?: number | undefined
  /** After a failed refresh: what failed, so every process reports the same outcome. */
  lastError?: RefreshFailure | undefined
}

/** What a failed refresh leaves with its grant (no token material). */
export interface RefreshFailure {
  code: OngoingAccessErrorCode
  status?: number | undefined
  oauthError?: string | undefined
  outcomeUnknown?: boolean | undefined
  /** When it failed, ms since epoch. */
  at?: number | undefined
}

/**
 * When a token should be refreshed: `skewMs` before it expires, or at half its life, whichever
 * comes later (so a token that lives less than twice the skew is refreshed at half its life). After
 * a failed refresh, not before the next attempt is due, while the token is still valid.
 */
export function refreshAtOf(
  grant: Pick<Grant, 'expiresAt' | 'obtainedAt' | 'nextAttemptAt'>,
  skewMs: number,
): number {
  const lifetime = grant.expiresAt - grant.obtainedAt
  const refreshAt = grant.expiresAt - Math.min(skewMs, Math.max(0, lifetime) / 2)
  const next = grant.nextAttemptAt
  return next === undefined || next <= refreshAt ? refreshAt : Math.min(next, grant.expiresAt)
}

/** When a keeper refreshes ahead of requests (see {@link keptRefreshAtOf}). */
export interface RefreshAhead {
  /** How long before the access token expires; at most three quarters of its life. */
  aheadMs: number
  /** The refresh token's idle limit at the server, if any: refreshed `aheadMs` before it is reached. */
  idleMs: number | undefined
}

/**
 * When a keeper refreshes a grant: `aheadMs` before its access token expires (but not in the first
 * quarter of its life, so a token shorter than `aheadMs` is not refreshed on every sweep), and
 * before its refresh token would sit unused for `idleMs`; never earlier than requests would, and
 * after a failed refresh not before the next attempt is due.
 */
export function keptRefreshAtOf(
  grant: Pick<Grant, 'expiresAt' | 'obtainedAt' | 'nextAttemptAt'>,
  skewMs: number,
  ahead: RefreshAhead,
): number {
  const lifetime = Math.max(0, grant.expiresAt - grant.obtainedAt)
  let at = Math.min(refreshAtOf(grant, skewMs), grant.expiresAt - Math.min(ahead.aheadMs, (lifetime * 3) / 4))
  if (ahead.idleMs !== undefined) at = Math.min(at, grant.obtainedAt + ahead.idleMs - ahead.aheadMs)
  return grant.nextAttemptAt === undefined ? at : Math.max(at, grant.nextAttemptAt)
}

// The DPoP key of each access token handed out, for the profile that signs its proofs. Not a
// property: a token can be logged or serialized, its key must not go with it.
const dpopKeys = new WeakMap<AccessToken, DPoPKeyMaterial>()

export function accessTokenOf(grant: Grant, refreshed: boolean): AccessToken {
  const token: AccessToken = {
    value: grant.accessToken,
    tokenType: grant.tokenType,
    expiresAt: grant.expiresAt,
    scope: grant.scope,
    refreshed,
  }
  if (grant.dpopKey !== undefined) dpopKeys.set(token, grant.dpopKey)
  return token
}

/** The DPoP key of an access token's grant, when it has one. */
export function dpopKeyOf(token: AccessToken): DPoPKeyMaterial | undefined {
  return dpopKeys.get(token)
}

/**
 * When a token set's access token and refresh token expire, in ms since epoch: the absolute time
 * the server gave, else `now` plus the lifetime it gave, else (access token only) `now` plus
 * `defaultExpiresInMs`. A refresh token without a known lifetime has no `refreshExpiresAt`.
 */
export function lifetimesOf(
  tokens: Pick<TokenSet, 'expiresAt' | 'expiresIn' | 'refreshExpiresAt' | 'refreshExpiresIn'>,
  now: number,
  defaultExpiresInMs: number,
): { expiresAt: number; refreshExpiresAt: number | undefined } {
  const expiresAt =
    tokens.expiresAt ?? now + (tokens.expiresIn === undefined ? defaultExpiresInMs : tokens.expiresIn * 1000)
  const refreshExpiresAt =
    tokens.refreshExpiresAt ??
    (tokens.refreshExpiresIn !== undefined && tokens.refreshExpiresIn > 0
      ? now + tokens.refreshExpiresIn * 1000
      : undefined)
  return { expiresAt, refreshExpiresAt }
}
