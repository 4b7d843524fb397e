import type { ServerResponse } from 'node:http'
import type { OngoingAccess, TokenSwapOptions } from '@ongoing/core'
import { TokenSwapService } from '@ongoing/core/adapter'
import type { Request } from 'express'
import { TokenSwapWeb } from './token-swap-web.js'

/**
 * Options of {@link tokenSwapRouter} and of `TokenSwapModule`: those of the core's
 * `TokenSwapService`.
 *
 * - `redirectUris`: the redirect URIs the mobile app may send in `redirect_uri`. Default:
 *   `[access.redirectUri]`.
 * - `maxHandleAgeSeconds`: refuse refresh handles older than this. Default: no limit.
 * - `maxBodyBytes`: largest request body read. Default: 8 KB.
 * - `rateLimit`: `(clientAddress) => boolean` per call, or `false`. Default: 30 calls a minute
 *   per address (an IPv6 address counts with its /64), in memory, at most 100,000 addresses a
 *   minute (`createMemoryRateLimiter`). The address is `req.ip`: set `app.set('trust proxy', …)` behind a
 *   proxy.
 */
export type TokenSwapRouterOptions = TokenSwapOptions

/**
 * The token swap routes as an Express middleware for `app.use` in `main.ts`: `POST /swap` and
 * `POST /refresh` under the path it is mounted at (Nest's global prefix does not apply to
 * `app.use`). Registered before `app.listen()`, it runs before Nest's body parser and reads the
 * body itself, so every oversize body gets the same `400` as in `@ongoing/express`; see
 * `TokenSwapModule` for the same routes as a controller.
 *
 * `POST /swap` exchanges an authorization code (with `code_verifier` and `redirect_uri` when the
 * app used PKCE) for `{ access_token, token_type, expires_in, refresh_token, scope }`;
 * `POST /refresh` takes `refresh_token` and answers `{ access_token, token_type, expires_in,
 * scope }`, plus a new `refresh_token` when the server rotated it. The `refresh_token` the app
 * holds is a handle sealed with keys derived from `access`'s `secret`, never the real refresh
 * token. Errors are RFC 6749 §5.2 JSON; bad input gets `400` without a call to the server.
 *
 * @param access - The app's `OngoingAccess` (`app.get(OngoingAccess)`).
 * @param options - `redirectUris`, `maxHandleAgeSeconds`, `maxBodyBytes`, `rateLimit`.
 * @returns A named Express middleware (`tokenSwapRouterMiddleware`) that serves the two routes and passes the rest on.
 * @throws {TypeError} at once, for a bad option.
 * @example
 * ```ts
 * const app = await NestFactory.create(AppModule) // AppModule imports OngoingAccessModule
 * app.use('/token', tokenSwapRouter(app.get(OngoingAccess), { redirectUris: ['com.example.app:/callback'] }))
 * await app.listen(3000) // POST /token/swap, POST /token/refresh
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5 (token responses and errors),
 *   https://www.rfc-editor.org/rfc/rfc8252 (OAuth 2.0 for native apps)
 */
export function tokenSwapRouter(
  access: OngoingAccess,
  options: TokenSwapRouterOptions = {},
): (req: Request, res: ServerResponse, next: (err?: unknown) => void) => void {
  if (typeof access?.startConsent !== 'function' || typeof access.getAccessToken !== 'function')
    throw new TypeError('ongoing: the first argument must be an OngoingAccess')
  const web = new TokenSwapWeb(new TokenSwapService(access, options))
  return function tokenSwapRouterMiddleware(req, res, next) {
    // `req.path` is relative to where the app mounted us (Express).
    const { method, path } = req
    if (method === 'POST' && path === '/swap') web.answer(req, res, 'swap').catch(next)
    else if (method === 'POST' && path === '/refresh') web.answer(req, res, 'refresh').catch(next)
    else next()
  }
}
