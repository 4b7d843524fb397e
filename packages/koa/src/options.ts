import type { OngoingRequestState } from '@ongoing/core'
import type { OngoingRoutesOptions } from '@ongoing/core/adapter'
import type { Context, Next, ParameterizedContext } from 'koa'

/**
 * Options of {@link requireAccessToken} (and, with `prefix`, of {@link ongoingRouter}). Give both
 * the same: they must agree on the cookie name and the consent path.
 */
export interface OngoingKoaOptions extends OngoingRoutesOptions {
  /**
   * Whose grant a request uses: your user id, from your session or `ctx.state.user`; sync or
   * async. Default: none, and a random user key kept in a sealed HttpOnly cookie (also when this
   * returns `undefined`). The key is stored with the grant, so keep it stable for a user.
   */
  userKey?: (ctx: Context) => string | undefined | PromiseLike<string | undefined>
}

/** Options of {@link ongoingRouter}. */
export interface OngoingRouterOptions extends OngoingKoaOptions {
  /**
   * Path prefix of the routes: `${prefix}/consent`, `${prefix}/callback` (the last segment of
   * `redirectUri`'s path) and `${prefix}/refresh`. Default: `/auth`.
   */
  prefix?: string
}

/** Options of {@link requireAccessToken}. */
export type RequireAccessTokenOptions = OngoingKoaOptions

declare module 'koa' {
  interface DefaultState {
    /**
     * The caller's fresh access token. Set by `requireAccessToken` of `@ongoing/koa`, only there:
     * `undefined` on a request that did not pass it. Where the middleware's type flows into the
     * handler (`router.get(path, requireAccessToken(access), handler)`), the handler sees it set;
     * elsewhere `getOngoing(ctx)` reads it without a `!` and throws if the middleware is missing.
     */
    ongoing?: OngoingRequestState
  }
}

/**
 * The state {@link requireAccessToken} leaves for the middleware after it: `ctx.state.ongoing` set.
 *
 * @example
 * ```ts
 * // A handler written apart from its route; it trusts the route to have the middleware.
 * const library: Middleware<OngoingState> = async (ctx) => {
 *   ctx.body = await listLibrary(ctx.state.ongoing.accessToken)
 * }
 * router.get('/library', requireAccessToken(access), library)
 * ```
 */
export interface OngoingState {
  /** The caller's fresh access token: `{ accessToken, expiresAt, userKey }`. */
  ongoing: OngoingRequestState
}

/**
 * What {@link requireAccessToken} returns: a Koa middleware, callable with any context, that
 * declares {@link OngoingState} for what runs after it. So where Koa's and `@koa/router`'s types
 * carry a middleware's state on (`router.get(path, requireAccessToken(access), handler)`,
 * `app.use(requireAccessToken(access)).use(handler)`), the handler reads `ctx.state.ongoing`
 * without a `!`, and a route without the middleware does not compile when it does the same.
 *
 * @example
 * ```ts
 * router.get('/library', requireAccessToken(access), async (ctx) => {
 *   ctx.body = await listLibrary(ctx.state.ongoing.accessToken) // typed as set: no `!`
 * })
 * ```
 */
export interface RequireAccessTokenMiddleware {
  (ctx: Context, next: Next): Promise<void>
  // Last, so that type inference (app.use, @koa/router's methods) reads the state from this one.
  (ctx: ParameterizedContext<OngoingState>, next: Next): Promise<void>
}

/** What the adapter puts on a protected request (shared with the other adapters). */
export type { OngoingRequestState }
