import type { OngoingAccessOptions, OngoingRequestState } from '@ongoing/core'
import type { OngoingRoutesOptions } from '@ongoing/core/adapter'
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

/** What the adapter puts on a protected request (shared with the other adapters). */
export type { OngoingRequestState }
