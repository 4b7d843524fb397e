import type { OngoingAccess, TokenSwapOptions } from '@ongoing/core'
import { readSwapRequestBody, type SwapResponse, TokenSwapService } from '@ongoing/core/adapter'
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { checkAccess } from './web.js'

/**
 * Options of {@link tokenSwapRouter}: those of the core's `TokenSwapService`.
 *
 * - `redirectUris`: the redirect URIs the mobile app may send in `redirect_uri`. Default:
 *   `[access.redirectUri]`.
 * - `maxHandleAgeSeconds`: refuse refresh handles older than this. Default: no limit.
 * - `maxBodyBytes`: largest request body read. Default: 8 KB.
 * - `rateLimit`: `(clientAddress) => boolean` per call, or `false`. Default: 30 calls a minute
 *   per address (an IPv6 address counts with its /64), in memory, at most 100,000 addresses a
 *   minute (`createMemoryRateLimiter`). The address is `req.ip`, so set Express's `trust proxy` behind a
 *   proxy.
 */
export type TokenSwapRouterOptions = TokenSwapOptions

/**
 * The token swap service for native apps, the protocol of the Spotify iOS SDK's `tokenSwapURL`
 * and `tokenRefreshURL`: `POST /swap` exchanges an authorization code (with `code_verifier` and
 * `redirect_uri` when the app used PKCE) for `{ access_token, token_type, expires_in,
 * refresh_token, scope }`, and `POST /refresh` takes `refresh_token` and answers `{ access_token,
 * token_type, expires_in, scope }`, plus a new `refresh_token` when the server rotated it. Both
 * paths are relative to where the app mounts the middleware; both take
 * `application/x-www-form-urlencoded` and answer JSON with `Cache-Control: no-store`.
 *
 * The app never sees the client secret (the calls use `access`'s client authentication) nor the
 * real refresh token: its `refresh_token` is a handle sealed with keys derived from `access`'s
 * `secret` (AES-256-GCM, bound to the issuer and the client id), which only this service opens. Errors are
 * RFC 6749 §5.2 JSON; bad input (no `code`, a wrong content type, a tampered, foreign, retired
 * or too old handle, a body over `maxBodyBytes`) gets `400` without a call to the server.
 *
 * The middleware reads the body itself, at most `maxBodyBytes + 1` bytes, so mount it before
 * any body parser. Mounted after `express.urlencoded()`, it uses the parsed body, and a body
 * over that parser's own limit (100 KB by default) gets the parser's error instead.
 *
 * @param access - The app's `OngoingAccess`: its issuer, client and `secret`.
 * @param options - `redirectUris`, `maxHandleAgeSeconds`, `maxBodyBytes`, `rateLimit`.
 * @returns A named middleware (`tokenSwapRouterMiddleware`) that serves the two routes and passes the rest on.
 * @throws {TypeError} at once, for a bad option.
 * @example
 * ```ts
 * const access = new OngoingAccess({ issuer, client: { id, secret }, redirectUri, scope, secret: process.env.ONGOING_SECRET })
 * app.use('/token', tokenSwapRouter(access, { redirectUris: ['com.example.app:/callback'] }))
 * // POST /token/swap     code=…&code_verifier=…&redirect_uri=…
 * // POST /token/refresh  refresh_token=<handle>
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5 (token responses and errors),
 *   https://www.rfc-editor.org/rfc/rfc8252 (OAuth 2.0 for native apps)
 */
export function tokenSwapRouter(access: OngoingAccess, options: TokenSwapRouterOptions = {}): RequestHandler {
  checkAccess(access)
  const service = new TokenSwapService(access, options)

  const handle =
    (operation: 'swap' | 'refresh') =>
    (req: Request, res: Response, next: NextFunction): void => {
      readSwapRequestBody(req, service.maxBodyBytes, req.body)
        .then((body) =>
          service[operation]({
            contentType: req.headers['content-type'],
            body,
            clientAddress: req.ip ?? req.socket.remoteAddress ?? '',
          }),
        )
        .then(
          (response) => send(res, response),
          (err: unknown) => next(err),
        )
    }
  const swap = handle('swap')
  const refresh = handle('refresh')

  return function tokenSwapRouterMiddleware(req: Request, res: Response, next: NextFunction): void {
    // `req.path` is relative to where the app mounted us, in Express 4 and 5 alike.
    const { method, path } = req
    if (method === 'POST' && path === '/swap') swap(req, res, next)
    else if (method === 'POST' && path === '/refresh') refresh(req, res, next)
    else next()
  }
}

function send(res: Response, response: SwapResponse): void {
  res.status(response.status)
  for (const [name, value] of Object.entries(response.headers)) res.setHeader(name, value)
  // Not res.json: that adds an ETag, a digest of the tokens, to an answer never to be cached.
  res.setHeader('content-type', 'application/json; charset=utf-8')
  res.end(JSON.stringify(response.json))
}
