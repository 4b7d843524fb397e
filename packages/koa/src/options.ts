import type { OngoingRequestState, OngoingRoutesOptions } from '@ongoing/core'
import type { Context } from 'koa'

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
    /** The caller's fresh access token. Set by `requireAccessToken` of `@ongoing/koa`, only there. */
    ongoing: OngoingRequestState
  }
}

/** What the adapter puts on a protected request (shared with the other adapters). */
export type { OngoingRequestState }
