import type { OngoingRoutesOptions } from '@ongoing/core'
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

/** What {@link requireAccessToken} puts on `req.ongoing`. */
export interface OngoingRequestState {
  /** A fresh access token for `userKey`'s grant. Send it as a bearer token; never log it. */
  accessToken: string
  /** When `accessToken` expires, in ms since epoch. */
  expiresAt: number
  /** Whose grant it is. */
  userKey: string
}

declare global {
  namespace Express {
    interface Request {
      /** The caller's fresh access token. Set by `requireAccessToken` of `@ongoing/express`, only there. */
      ongoing: OngoingRequestState
    }
  }
}
