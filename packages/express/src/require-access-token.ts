import type { OngoingAccess, OngoingRequestState } from '@ongoing/core'
import { isPromiseLike, OngoingRoutes, RequestProperty } from '@ongoing/core/adapter'
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import type { RequireAccessTokenOptions } from './options.js'
import { checkAccess, checkUserKey, httpErrorOf, send, toWebRequest } from './web.js'

/**
 * Middleware that puts a fresh access token on `req.ongoing` (`{ accessToken, expiresAt, userKey }`),
 * refreshing it when it is about to expire (once per grant, however many requests wait). A cached
 * token costs no promise, and `req.ongoing` costs no property added to `req`: it is an accessor on
 * `express.request` whose value is kept in `res.locals` under a symbol, in a holder with private
 * fields (so it is not an own property of `req`, and logging `req` or `res.locals`, or rendering a
 * view, does not print the token; see `RequestProperty` in `@ongoing/core/adapter`). Replacing `res.locals`
 * after this middleware with an object that does not carry its symbol keys over loses `req.ongoing`.
 * `req.ongoing` is typed optional (a route may lack this middleware): read it with
 * {@link getOngoing}, which throws if the middleware did not run.
 *
 * When consent is required (no grant, or its refresh token expired or was revoked) and the
 * access's `onRefreshTokenExpired` is `'reconsent'` (the default): a browser navigation is
 * redirected to the consent route with `returnTo` set to where it was; any other request gets
 * `401` with `WWW-Authenticate: Bearer error="invalid_token"` and `{ error: 'consent_required',
 * reason, consentUrl }`. With `'error'`, the `ConsentRequiredError` goes to `next(err)`, like every
 * other error (with `status` 401, `expose`, and `headers`; see {@link ongoingRouter}).
 *
 * @param access - The app's `OngoingAccess`.
 * @param options - `userKey(req)`, `consentPath` (default: the sibling of `redirectUri`'s path,
 *   `/auth/callback` → `/auth/consent`), `cookieName`. The same as {@link ongoingRouter}'s.
 * @returns A named middleware (`requireAccessTokenMiddleware`).
 * @throws {TypeError} at once, for a bad option.
 * @example
 * ```ts
 * app.get('/library', requireAccessToken(access), async (req, res) => {
 *   const { accessToken } = getOngoing(req)
 *   const api = await fetch(url, { headers: { authorization: `Bearer ${accessToken}` } })
 *   res.json(await api.json())
 * })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6 (refreshing), https://www.rfc-editor.org/rfc/rfc6750#section-3.1 (invalid_token)
 */
export function requireAccessToken(
  access: OngoingAccess,
  options: RequireAccessTokenOptions = {},
): RequestHandler {
  checkAccess(access)
  const userKeyOf = checkUserKey(options.userKey)
  const routes = new OngoingRoutes(access, options)

  function fail(req: Request, res: Response, next: NextFunction, err: unknown): void {
    const request = toWebRequest(req)
    if (routes.handlesConsentRequired(err)) send(res, routes.consentRequired(request, err))
    else next(httpErrorOf(err))
  }

  function withUserKey(req: Request, res: Response, next: NextFunction, given: string | undefined): void {
    let userKey = given
    if (userKey === undefined) {
      const cookie = routes.userKeyCookieFromNodeRequest(req)
      // Sealed under an older secret (rotation): the answer seals it again under the current one.
      if (cookie?.renewal !== undefined) res.append('Set-Cookie', cookie.renewal)
      userKey = cookie?.userKey
    }
    const state = routes.requestState(userKey)
    // The cached path allocates nothing but the state: no closure, no promise, no property added
    // to req (see RequestProperty).
    if (!isPromiseLike(state)) {
      attach(req, res, next, state)
      return
    }
    state.then(
      (fresh) => attach(req, res, next, fresh),
      (err: unknown) => fail(req, res, next, err),
    )
  }

  return function requireAccessTokenMiddleware(req: Request, res: Response, next: NextFunction): void {
    let given: string | undefined | PromiseLike<string | undefined>
    try {
      given = userKeyOf?.(req)
    } catch (err) {
      next(err)
      return
    }
    if (isPromiseLike(given))
      given.then(
        (key) => withUserKey(req, res, next, key),
        (err: unknown) => next(err),
      )
    else withUserKey(req, res, next, given)
  }
}

/** `req.ongoing`: this middleware sets it, {@link getOngoing} reads it. */
export const ongoing = new RequestProperty<OngoingRequestState>('ongoing')

function attach(req: Request, res: Response, next: NextFunction, state: OngoingRequestState): void {
  ongoing.set(req, state, res)
  next()
}
