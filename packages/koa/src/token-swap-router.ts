import type { OngoingAccess, TokenSwapOptions } from '@ongoing/core'
import { readSwapRequestBody, TokenSwapService } from '@ongoing/core/adapter'
import type { Context, Middleware, Next } from 'koa'
import { checkAccess } from './web.js'

/**
 * Options of {@link tokenSwapRouter}: `prefix`, and those of the core's `TokenSwapService`.
 *
 * - `redirectUris`: the redirect URIs the mobile app may send in `redirect_uri`. Default:
 *   `[access.redirectUri]`.
 * - `maxHandleAgeSeconds`: refuse refresh handles older than this. Default: no limit.
 * - `maxBodyBytes`: largest request body read. Default: 8 KB.
 * - `rateLimit`: `(clientAddress) => boolean` per call, or `false`. Default: 30 calls a minute
 *   per address (an IPv6 address counts with its /64), in memory, at most 100,000 addresses a
 *   minute (`createMemoryRateLimiter`). The address is `ctx.ip`, so set `app.proxy` behind a proxy.
 */
export interface TokenSwapRouterOptions extends TokenSwapOptions {
  /**
   * Path prefix of the routes: `POST ${prefix}/swap` and `POST ${prefix}/refresh`. `''` serves
   * `/swap` and `/refresh`. Default: `/token` (not `/auth`, where `ongoingRouter` has its own
   * `POST /auth/refresh`).
   */
  prefix?: string
}

/**
 * The token swap service for native apps, the protocol of the Spotify iOS SDK's `tokenSwapURL`
 * and `tokenRefreshURL`: `POST ${prefix}/swap` exchanges an authorization code (with
 * `code_verifier` and `redirect_uri` when the app used PKCE) for `{ access_token, token_type,
 * expires_in, refresh_token, scope }`, and `POST ${prefix}/refresh` takes `refresh_token` and
 * answers `{ access_token, token_type, expires_in, scope }`, plus a new `refresh_token` when the
 * server rotated it. Both take `application/x-www-form-urlencoded` and answer JSON with
 * `Cache-Control: no-store`.
 *
 * The app never sees the client secret (the calls use `access`'s client authentication) nor the
 * real refresh token: its `refresh_token` is a handle sealed with keys derived from `access`'s
 * `secret` (AES-256-GCM, bound to the issuer and the client id), which only this service opens. Errors are
 * RFC 6749 §5.2 JSON; bad input (no `code`, a wrong content type, a tampered, foreign, retired
 * or too old handle, a body over `maxBodyBytes`) gets `400` without a call to the server.
 *
 * Koa has no mounting, so the prefix is an option (default `/token`). The middleware reads the
 * body itself, at most `maxBodyBytes + 1` bytes, so use it before any body parser; after one
 * (`@koa/bodyparser`), it uses `ctx.request.rawBody` or the parsed `ctx.request.body`.
 *
 * @param access - The app's `OngoingAccess`: its issuer, client and `secret`.
 * @param options - `prefix`, `redirectUris`, `maxHandleAgeSeconds`, `maxBodyBytes`, `rateLimit`.
 * @returns A named middleware (`tokenSwapRouterMiddleware`) that serves the two routes and passes the rest on.
 * @throws {TypeError} at once, for a bad option.
 * @example
 * ```ts
 * const access = new OngoingAccess({ issuer, client: { id, secret }, redirectUri, scope, secret: process.env.ONGOING_SECRET })
 * app.use(tokenSwapRouter(access, { redirectUris: ['com.example.app:/callback'] }))
 * // POST /token/swap     code=…&code_verifier=…&redirect_uri=…
 * // POST /token/refresh  refresh_token=<handle>
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5 (token responses and errors),
 *   https://www.rfc-editor.org/rfc/rfc8252 (OAuth 2.0 for native apps)
 */
export function tokenSwapRouter(access: OngoingAccess, options: TokenSwapRouterOptions = {}): Middleware {
  checkAccess(access)
  const { prefix = '/token', ...swapOptions } = options
  if (typeof prefix !== 'string' || !(prefix === '' || /^\/.*[^/]$/.test(prefix)))
    throw new TypeError("ongoing: `prefix` must be '' or a path starting, and not ending, with /")
  const service = new TokenSwapService(access, swapOptions)
  const swapPath = `${prefix}/swap`
  const refreshPath = `${prefix}/refresh`

  const handle = async (ctx: Context, operation: 'swap' | 'refresh') => {
    const request = ctx.request as { rawBody?: unknown; body?: unknown }
    const body = await readSwapRequestBody(ctx.req, service.maxBodyBytes, request.rawBody ?? request.body)
    const response = await service[operation]({
      contentType: ctx.get('content-type') || undefined,
      body,
      clientAddress: ctx.ip,
    })
    ctx.status = response.status
    ctx.set(response.headers)
    ctx.body = response.json
  }

  return function tokenSwapRouterMiddleware(ctx: Context, next: Next) {
    const { method, path } = ctx
    if (method === 'POST' && path === swapPath) return handle(ctx, 'swap')
    if (method === 'POST' && path === refreshPath) return handle(ctx, 'refresh')
    return next()
  }
}
