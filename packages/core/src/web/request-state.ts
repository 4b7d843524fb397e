import type { AccessToken } from '../access-token.js'

/**
 * What the adapters put on a protected request: Express's `req.ongoing` (`requireAccessToken`;
 * `getOngoing(req)` reads it), Koa's `ctx.state.ongoing` (`getOngoing(ctx)`), NestJS's request
 * for `@AccessToken(field)` (`AccessTokenGuard`).
 *
 * Not from an RFC: the adapters' shape for the token of RFC 6750 §2.1 requests.
 *
 * @example
 * ```ts
 * const { accessToken, expiresAt, userKey }: OngoingRequestState = getOngoing(req) // @ongoing/express
 * await fetch(url, { headers: { authorization: `Bearer ${accessToken}` } })
 * ```
 */
export interface OngoingRequestState {
  /** A fresh access token for `userKey`'s grant. Send it as a bearer token; never log it. */
  accessToken: string
  /** When `accessToken` expires, in ms since epoch. */
  expiresAt: number
  /** Whose grant it is. */
  userKey: string
}

/** The state for `token` of `userKey`'s grant. */
export function requestStateOf(token: AccessToken, userKey: string): OngoingRequestState {
  return { accessToken: token.value, expiresAt: token.expiresAt, userKey }
}
