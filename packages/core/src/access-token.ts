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
  /** Always `Bearer`. */
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
}

/**
 * When a token should be refreshed: `skewMs` before it expires, or at half its life when it lives
 * less than `skewMs` in all.
 */
export function refreshAtOf(grant: Pick<Grant, 'expiresAt' | 'obtainedAt'>, skewMs: number): number {
  const lifetime = grant.expiresAt - grant.obtainedAt
  return grant.expiresAt - Math.min(skewMs, Math.max(0, lifetime) / 2)
}

export function accessTokenOf(grant: Grant, refreshed: boolean): AccessToken {
  return {
    value: grant.accessToken,
    tokenType: grant.tokenType,
    expiresAt: grant.expiresAt,
    scope: grant.scope,
    refreshed,
  }
}
