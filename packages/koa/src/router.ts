import type { OngoingAccess } from '@ongoing/core'
import { OngoingRoutes, type WebResponse } from '@ongoing/core/adapter'
import type { Context, Middleware, Next } from 'koa'
import type { OngoingRouterOptions } from './options.js'
import { checkAccess, checkUserKey, httpErrorOf, send, toWebRequest } from './web.js'

/**
 * The consent routes, for Koa: `GET ${prefix}/consent` starts a consent (PKCE S256, `state`, the
 * sealed transaction in an HttpOnly SameSite=Lax cookie) and redirects to the authorization
 * server; `GET ${prefix}/callback` finishes it, stores the grant and redirects (303) to
 * `returnTo`, a same-origin path; `POST ${prefix}/refresh` forces a refresh and answers
 * `{ expiresAt, refreshed }`, never a token, and only to same-origin requests; `POST
 * ${prefix}/disconnect` revokes the user's grant (`access.revoke`), clears the user-key cookie and
 * answers `{ disconnected, revokedAtServer }` (a browser's form post is redirected, 303, to
 * `?returnTo` or `defaultReturnTo`), also only to same-origin requests.
 *
 * Koa has no mounting, so the prefix is an option (default `/auth`); the callback route is the
 * last segment of `redirectUri`'s path, so `${prefix}/callback` must be that path. A
 * `?returnTo=/path` on the consent route says where the user lands afterwards.
 *
 * Errors are thrown to Koa's error handling as the core's `OngoingAccessError`, with `status`
 * set to the HTTP status (`httpStatusOf`: a missing or tampered transaction is 400, a refused
 * consent 403, a failing authorization server 502, a failing store 503), `expose` below 500, and
 * `headers`.
 *
 * @param access - The app's `OngoingAccess`.
 * @param options - `prefix`, `userKey(ctx)`, `cookieName`, `consentPath`, `defaultReturnTo`.
 * @returns A named middleware (`ongoingRouterMiddleware`) that serves the four routes and passes the rest on.
 * @throws {TypeError} at once, for a bad option.
 * @example
 * ```ts
 * app.use(ongoingRouter(access)) // redirectUri: http://localhost:3000/auth/callback
 * // <a href="/auth/consent?returnTo=/library">Connect</a>
 * // <form method="post" action="/auth/disconnect"><button>Disconnect</button></form>
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1 (authorization code grant),
 *   https://www.rfc-editor.org/rfc/rfc7636#section-4 (PKCE), https://www.rfc-editor.org/rfc/rfc9700#section-2.1
 */
export function ongoingRouter(access: OngoingAccess, options: OngoingRouterOptions = {}): Middleware {
  checkAccess(access)
  const userKeyOf = checkUserKey(options.userKey)
  const prefix = options.prefix ?? '/auth'
  if (typeof prefix !== 'string' || !(prefix === '' || /^\/.*[^/]$/.test(prefix)))
    throw new TypeError("ongoing: `prefix` must be '' or a path starting, and not ending, with /")
  const routes = new OngoingRoutes(access, options)
  const consentPath = `${prefix}/consent`
  const callbackPath = prefix + routes.callbackPath.slice(routes.callbackPath.lastIndexOf('/'))
  const refreshPath = `${prefix}/refresh`
  const disconnectPath = `${prefix}/disconnect`

  const handle = (route: (ctx: Context) => Promise<WebResponse>) => async (ctx: Context) => {
    let response: WebResponse
    try {
      response = await route(ctx)
    } catch (err) {
      throw httpErrorOf(err)
    }
    send(ctx, response)
  }
  const consent = handle(async (ctx) => routes.consent(toWebRequest(ctx), await userKeyOf?.(ctx)))
  const callback = handle((ctx) => routes.callback(toWebRequest(ctx)))
  const refresh = handle(async (ctx) => routes.refresh(toWebRequest(ctx), await userKeyOf?.(ctx)))
  const disconnect = handle(async (ctx) => routes.disconnect(toWebRequest(ctx), await userKeyOf?.(ctx)))

  return function ongoingRouterMiddleware(ctx: Context, next: Next) {
    const { method, path } = ctx
    if (method === 'GET' && path === consentPath) return consent(ctx)
    if (method === 'GET' && path === callbackPath) return callback(ctx)
    if (method === 'POST' && path === refreshPath) return refresh(ctx)
    if (method === 'POST' && path === disconnectPath) return disconnect(ctx)
    return next()
  }
}
