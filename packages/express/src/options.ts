import type { OngoingRequestState } from '@ongoing/core'
import type { OngoingRoutesOptions } from '@ongoing/core/adapter'
import type { Request } from 'express'

/**
 * Options of {@link ongoingRouter} and {@link requireAccessToken}. Give both the same options:
 * they must agree on the cookie name and the consent path.
 */
export interface OngoingExpressOptions extends OngoingRoutesOptions {
  /**
   * Whose grant a request uses: your user id, from your session or `req.user`; sync or async.
   * Default: none, and a random user key kept in a sealed HttpOnly cookie (also when this returns
   * `undefined`). The key is stored with the grant, so keep it stable for a user.
   */
  userKey?: (req: Request) => string | undefined | PromiseLike<string | undefined>
}

/** Options of {@link ongoingRouter}. */
export type OngoingRouterOptions = OngoingExpressOptions

/** Options of {@link requireAccessToken}. */
export type RequireAccessTokenOptions = OngoingExpressOptions

declare global {
  namespace Express {
    interface Request {
      /**
       * The caller's fresh access token. Set by `requireAccessToken` of `@ongoing/express`, only
       * there: `undefined` on a request that did not pass it. In a handler behind it,
       * `getOngoing(req)` reads it without a `!` and throws if the middleware is missing.
       */
      ongoing?: OngoingRequestState
    }
  }
}

/** What the adapter puts on a protected request (shared with the other adapters). */
export type { OngoingRequestState }
