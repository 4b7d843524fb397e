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
  /**
   * A fresh access token for `userKey`'s grant. Send it as a bearer token (a DPoP-bound one, with
   * the `dpop` option, only through `fetch`, which signs the proofs); never log it.
   */
  accessToken: string
  /** When `accessToken` expires, in ms since epoch. */
  expiresAt: number
  /** Whose grant it is. */
  userKey: string
  /**
   * `access.fetch` for this request's user: the token goes on the request the way the server
   * wants it, and a `401` refreshes once and retries once. Route code calls the API the same way
   * whatever the framework. (A getter: it may be destructured; spreading the state drops it.)
   *
   * @example
   * ```ts
   * const history = await (await getOngoing(req).fetch('https://api.example.com/me/history')).json()
   * ```
   */
  readonly fetch: OngoingFetch
}

/** `fetch` for one user's grant: see {@link OngoingRequestState.fetch}. */
export type OngoingFetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>

/** What {@link OngoingRequestState.fetch} calls: `OngoingAccess.fetch`. */
interface UserFetcher {
  fetch(userKey: string, input: string | URL | Request, init?: RequestInit): Promise<Response>
}

/**
 * The adapters' request state: three fields, and `fetch` on the prototype, so the hot path
 * allocates one object and no closure (the closure is made when `fetch` is read).
 */
class RequestState implements OngoingRequestState {
  readonly #access: UserFetcher
  accessToken: string
  expiresAt: number
  userKey: string

  constructor(access: UserFetcher, accessToken: string, expiresAt: number, userKey: string) {
    this.#access = access
    this.accessToken = accessToken
    this.expiresAt = expiresAt
    this.userKey = userKey
  }

  get fetch(): OngoingFetch {
    const access = this.#access
    const { userKey } = this
    return (input, init) => access.fetch(userKey, input, init)
  }
}

/** The state for `token` of `userKey`'s grant; its `fetch` goes through `access`. */
export function requestStateOf(
  access: UserFetcher,
  token: AccessToken,
  userKey: string,
): OngoingRequestState {
  return new RequestState(access, token.value, token.expiresAt, userKey)
}
