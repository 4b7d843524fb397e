/** A warning about a grant that may not be ongoing, without the user key it is about. */
export interface OfflineAccessWarning {
  code: 'offline_access_not_granted' | 'no_refresh_token'
  message: string
}

const scopeTokens = (scope: string | undefined): string[] =>
  scope === undefined ? [] : scope.split(/\s+/).filter((token) => token !== '')

/**
 * Whether a code exchange's answer leaves the grant short of ongoing access: the granted scope
 * dropped a requested `offline_access` (OpenID Connect Core section 11), or no refresh token came
 * back. An absent granted scope is the requested one (RFC 6749 section 5.1).
 *
 * @param requested - The scope the consent asked for.
 * @param granted - The token response's `scope`, if any.
 * @param refreshToken - Whether the token response has a refresh token.
 */
export function offlineAccessWarning(
  requested: string,
  granted: string | undefined,
  refreshToken: boolean,
): OfflineAccessWarning | undefined {
  const dropped =
    scopeTokens(requested).includes('offline_access') &&
    granted !== undefined &&
    !scopeTokens(granted).includes('offline_access')
  if (dropped) {
    return {
      code: 'offline_access_not_granted',
      message: refreshToken
        ? "the authorization server did not grant `offline_access`; its refresh token may end with the user's session there (send `prompt=consent`, or leave `prompt` to the library)"
        : 'the authorization server did not grant `offline_access` and issued no refresh token; this grant ends when its access token expires (send `prompt=consent`, or leave `prompt` to the library)',
    }
  }
  if (!refreshToken) {
    return {
      code: 'no_refresh_token',
      message:
        'the authorization server issued no refresh token; this grant ends when its access token expires (does the scope need `offline_access`, or the client the refresh_token grant?)',
    }
  }
  return undefined
}
