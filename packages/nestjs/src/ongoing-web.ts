import type { ServerResponse } from 'node:http'
import { isOngoingAccessError, type OngoingAccess } from '@ongoing/core'
import {
  isPromiseLike,
  OngoingRoutes,
  RequestProperty,
  setCookiesOf,
  type WebRequest,
  type WebResponse,
} from '@ongoing/core/adapter'
import type { Request } from 'express'
import { OngoingAccessException } from './exception.js'
import type { OngoingAccessModuleOptions, OngoingRequestState } from './options.js'

/** A request as the guard leaves it. */
export type OngoingRequest = Request & { ongoing?: OngoingRequestState }

type UserKeyOf = NonNullable<OngoingAccessModuleOptions['userKey']>

/** @internal The request conversion shared by the controller and the guard (Express platform). */
export class OngoingWeb {
  readonly routes: OngoingRoutes
  readonly #userKeyOf: UserKeyOf | undefined

  constructor(access: OngoingAccess, options: OngoingAccessModuleOptions) {
    if (options.userKey !== undefined && typeof options.userKey !== 'function')
      throw new TypeError('ongoing: `userKey` must be a function (req) => string | undefined')
    this.#userKeyOf = options.userKey
    this.routes = new OngoingRoutes(access, options)
  }

  consent(req: Request, res: ServerResponse): Promise<void> {
    return this.#answer(res, async () => this.routes.consent(toWebRequest(req), await this.#userKeyOf?.(req)))
  }

  callback(req: Request, res: ServerResponse): Promise<void> {
    return this.#answer(res, () => this.routes.callback(toWebRequest(req)))
  }

  refresh(req: Request, res: ServerResponse): Promise<void> {
    return this.#answer(res, async () => this.routes.refresh(toWebRequest(req), await this.#userKeyOf?.(req)))
  }

  disconnect(req: Request, res: ServerResponse): Promise<void> {
    return this.#answer(res, async () =>
      this.routes.disconnect(toWebRequest(req), await this.#userKeyOf?.(req)),
    )
  }

  /** Sets `req.ongoing`; synchronous when the token is cached. Throws what Nest should answer. */
  authorize(req: OngoingRequest, res: ServerResponse): boolean | Promise<boolean> {
    const given = this.#userKeyOf?.(req)
    if (isPromiseLike(given)) return Promise.resolve(given).then((key) => this.#authorize(req, res, key))
    return this.#authorize(req, res, given)
  }

  #authorize(
    req: OngoingRequest,
    res: ServerResponse,
    given: string | undefined,
  ): boolean | Promise<boolean> {
    let userKey = given
    if (userKey === undefined) {
      const cookie = this.routes.userKeyCookieFromNodeRequest(req)
      // Sealed under an older secret (rotation): the answer seals it again under the current one.
      if (cookie?.renewal !== undefined) res.appendHeader('set-cookie', cookie.renewal)
      userKey = cookie?.userKey
    }
    const state = this.routes.requestState(userKey)
    // The cached path allocates nothing but the state: no closure, no promise, no property added
    // to req (see RequestProperty).
    if (!isPromiseLike(state)) return attach(req, res, state)
    return state.then(
      (fresh) => attach(req, res, fresh),
      (err: unknown) => {
        if (!this.routes.handlesConsentRequired(err)) throw exceptionOf(err, res)
        const answer = this.routes.consentRequired(toWebRequest(req), err)
        setHeaders(res, answer)
        throw new OngoingAccessException(err, answer)
      },
    )
  }

  async #answer(res: ServerResponse, route: () => Promise<WebResponse>): Promise<void> {
    let response: WebResponse
    try {
      response = await route()
    } catch (err) {
      throw exceptionOf(err, res)
    }
    res.statusCode = response.status
    setHeaders(res, response)
    if (response.json === undefined) res.end()
    else {
      res.setHeader('content-type', 'application/json; charset=utf-8')
      res.end(JSON.stringify(response.json))
    }
  }
}

function exceptionOf(err: unknown, res: ServerResponse): unknown {
  if (!isOngoingAccessError(err)) return err
  const exception = new OngoingAccessException(err)
  setHeaders(res, { status: 0, headers: { ...exception.headers }, cookies: [...setCookiesOf(err)] })
  return exception
}

function setHeaders(res: ServerResponse, response: WebResponse): void {
  for (const [name, value] of Object.entries(response.headers)) res.setHeader(name, value)
  for (const cookie of response.cookies) res.appendHeader('set-cookie', cookie)
}

function toWebRequest(req: Request): WebRequest {
  return {
    method: req.method,
    url: req.originalUrl ?? req.url,
    header(name) {
      const value = req.headers[name]
      return Array.isArray(value) ? value.join(', ') : value
    },
  }
}

/** @internal `req.ongoing`: the guard sets it, `@AccessToken()` reads it (`get(req, res)`). */
export const ongoing = new RequestProperty<OngoingRequestState>('ongoing')

function attach(req: OngoingRequest, res: ServerResponse, state: OngoingRequestState): true {
  ongoing.set(req, state, res)
  return true
}
