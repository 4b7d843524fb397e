import type { OngoingAccess, OngoingRequestState } from '@ongoing/core'
import { isPromiseLike, OngoingRoutes } from '@ongoing/core/adapter'
import type { Context, Next } from 'koa'
import type { RequireAccessTokenMiddleware, RequireAccessTokenOptions } from './options.js'
import { checkAccess, checkUserKey, httpErrorOf, send, toWebRequest } from './web.js'

/**
 * Middleware that puts a fresh access token on `ctx.state.ongoing` (`{ accessToken, expiresAt,
 * userKey }`), refreshing it when it is about to expire (once per grant, however many requests
 * wait). A cached token costs no promise of ours.
 *
 * When consent is required (no grant, or its refresh token expired or was revoked) and the
 * access's `onRefreshTokenExpired` is `'reconsent'` (the default): a browser navigation is
 * redirected to the consent route with `returnTo` set to where it was; any other request gets
 * `401` with `WWW-Authenticate: Bearer error="invalid_token"` and `{ error: 'consent_required',
 * reason, consentUrl }`. With `'error'`, the `ConsentRequiredError` is thrown to Koa's error
 * handling, like every other error (with `status` 401, `expose`, and `headers`; see
 * {@link ongoingRouter}).
 *
 * @param access - The app's `OngoingAccess`.
 * @param options - `userKey(ctx)`, `consentPath` (default: the sibling of `redirectUri`'s path,
 *   `/auth/callback` → `/auth/consent`), `cookieName`. The same as {@link ongoingRouter}'s.
 * @returns A named middleware (`requireAccessTokenMiddleware`), typed so that the handlers after it
 *   on a route see `ctx.state.ongoing` set (see {@link RequireAccessTokenMiddleware}); elsewhere
 *   `ctx.state.ongoing` is optional, and {@link getOngoing} reads it.
 * @throws {TypeError} at once, for a bad option.
 * @example
 * ```ts
 * router.get('/library', requireAccessToken(access), async (ctx) => {
 *   const { accessToken } = ctx.state.ongoing // typed as set after requireAccessToken
 *   const api = await fetch(url, { headers: { authorization: `Bearer ${accessToken}` } })
 *   ctx.body = await api.json()
 * })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6 (refreshing), https://www.rfc-editor.org/rfc/rfc6750#section-3.1 (invalid_token)
 */
export function requireAccessToken(
  access: OngoingAccess,
  options: RequireAccessTokenOptions = {},
): RequireAccessTokenMiddleware {
  checkAccess(access)
  const userKeyOf = checkUserKey(options.userKey)
  const routes = new OngoingRoutes(access, options)

  function fail(ctx: Context, err: unknown): void {
    const request = toWebRequest(ctx)
    if (!routes.handlesConsentRequired(err)) throw httpErrorOf(err)
    send(ctx, routes.consentRequired(request, err))
  }

  function withUserKey(ctx: Context, next: Next, given: string | undefined) {
    let userKey = given
    if (userKey === undefined) {
      const cookie = routes.userKeyCookieFromNodeRequest(ctx.req)
      // Sealed under an older secret (rotation): the answer seals it again under the current one.
      if (cookie?.renewal !== undefined) ctx.append('Set-Cookie', cookie.renewal)
      userKey = cookie?.userKey
    }
    const state = routes.requestState(userKey)
    // The cached path allocates nothing but ctx.state.ongoing: no closure, no promise of ours.
    if (!isPromiseLike(state)) return attach(ctx, next, state)
    return state.then(
      (fresh) => attach(ctx, next, fresh),
      (err: unknown) => fail(ctx, err),
    )
  }

  return function requireAccessTokenMiddleware(ctx: Context, next: Next) {
    const given = userKeyOf?.(ctx)
    if (isPromiseLike(given)) return Promise.resolve(given).then((key) => withUserKey(ctx, next, key))
    return withUserKey(ctx, next, given)
  }
}

function attach(ctx: Context, next: Next, state: OngoingRequestState) {
  ctx.state.ongoing = state
  return next()
}
