import type { OngoingAccessOptions, OngoingRoutesOptions } from '@ongoing/core'
import type { Request } from 'express'

/**
 * Options of `OngoingAccessModule.forRoot` (or what `forRootAsync`'s `useFactory` returns): the
 * `OngoingAccess` options, plus where the consent routes live and whose grant a request uses.
 */
export interface OngoingAccessModuleOptions extends OngoingAccessOptions, OngoingRoutesOptions {
  /**
   * Path of the controller serving `GET consent`, `GET callback` (the last segment of
   * `redirectUri`'s path) and `POST refresh`, as Nest sees it (after any global prefix).
   * Default: the parent of `redirectUri`'s path (`/auth/callback` → `/auth`).
   */
  path?: string
  /**
   * Whose grant a request uses: your user id, from your session or `req.user`; sync or async.
   * Default: none, and a random user key kept in a sealed HttpOnly cookie (also when this returns
   * `undefined`). The key is stored with the grant, so keep it stable for a user.
   */
  userKey?: (req: Request) => string | undefined | PromiseLike<string | undefined>
}

/** What `AccessTokenGuard` puts on the request, and `@AccessToken(field)` reads. */
export interface OngoingRequestState {
  /** A fresh access token for `userKey`'s grant. Send it as a bearer token; never log it. */
  accessToken: string
  /** When `accessToken` expires, in ms since epoch. */
  expiresAt: number
  /** Whose grant it is. */
  userKey: string
}
