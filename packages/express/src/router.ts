import type { OngoingAccess } from '@ongoing/core'
import { OngoingRoutes, type WebResponse } from '@ongoing/core/adapter'
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import type { OngoingRouterOptions } from './options.js'
import { checkAccess, checkUserKey, httpErrorOf, send, toWebRequest } from './web.js'

/**
 * The consent routes, for Express 4 and 5: `GET /consent` starts a consent (PKCE S256, `state`,
 * the sealed transaction in an HttpOnly SameSite=Lax cookie) and redirects to the authorization
 * server; `GET /callback` finishes it, stores the grant and redirects (303) to `returnTo`, a
 * same-origin path; `POST /refresh` forces a refresh and answers `{ expiresAt, refreshed }`, never
 * a token, and only to same-origin requests; `POST /disconnect` revokes the user's grant
 * (`access.revoke`), clears the user-key cookie and answers `{ disconnected, revokedAtServer }`
 * (a browser's form post is redirected, 303, to `?returnTo` or `defaultReturnTo`), also only to
 * same-origin requests.
 *
 * Mount it at the parent path of `redirectUri`: the callback route is the last segment of
 * `redirectUri`'s path (`http://localhost:3000/auth/callback` → `app.use('/auth', …)`). A
 * `?returnTo=/path` on the consent route says where the user lands afterwards.
 *
 * Errors go to `next(err)` as the core's `OngoingAccessError`, with `status` and `statusCode` set
 * to the HTTP status (`httpStatusOf`: a missing or tampered transaction is 400, a refused consent
 * 403, a failing authorization server 502, a failing store 503), `expose` below 500, and `headers`.
 *
 * @param access - The app's `OngoingAccess`.
 * @param options - `userKey(req)`, `cookieName`, `consentPath`, `defaultReturnTo`. Give
 *   {@link requireAccessToken} the same.
 * @returns A named middleware (`ongoingRouterMiddleware`) that serves the four routes and passes the rest on.
 * @throws {TypeError} at once, for a bad option.
 * @example
 * ```ts
 * app.use('/auth', ongoingRouter(access)) // redirectUri: http://localhost:3000/auth/callback
 * // <a href="/auth/consent?returnTo=/library">Connect</a>
 * // <form method="post" action="/auth/disconnect"><button>Disconnect</button></form>
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1 (authorization code grant),
 *   https://www.rfc-editor.org/rfc/rfc7636#section-4 (PKCE), https://www.rfc-editor.org/rfc/rfc9700#section-2.1
 */
export function ongoingRouter(access: OngoingAccess, options: OngoingRouterOptions = {}): RequestHandler {
  checkAccess(access)
  const userKeyOf = checkUserKey(options.userKey)
  const routes = new OngoingRoutes(access, options)
  const callbackPath = routes.callbackPath.slice(routes.callbackPath.lastIndexOf('/'))

  const handle =
    (route: (req: Request) => Promise<WebResponse>) => (req: Request, res: Response, next: NextFunction) => {
      route(req).then(
        (response) => send(res, response),
        (err: unknown) => next(httpErrorOf(err)),
      )
    }
  const consent = handle(async (req) => routes.consent(toWebRequest(req), await userKeyOf?.(req)))
  const callback = handle((req) => routes.callback(toWebRequest(req)))
  const refresh = handle(async (req) => routes.refresh(toWebRequest(req), await userKeyOf?.(req)))
  const disconnect = handle(async (req) => routes.disconnect(toWebRequest(req), await userKeyOf?.(req)))

  return function ongoingRouterMiddleware(req: Request, res: Response, next: NextFunction): void {
    // `req.path` is relative to where the app mounted us, in Express 4 and 5 alike.
    const { method, path } = req
    if (method === 'GET' && path === '/consent') consent(req, res, next)
    else if (method === 'GET' && path === callbackPath) callback(req, res, next)
    else if (method === 'POST' && path === '/refresh') refresh(req, res, next)
    else if (method === 'POST' && path === '/disconnect') disconnect(req, res, next)
    else next()
  }
}
