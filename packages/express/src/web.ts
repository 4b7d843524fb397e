import type { OngoingAccess } from '@ongoing/core'
import type { WebRequest, WebResponse } from '@ongoing/core/adapter'
import type { Request, Response } from 'express'

/** Whose grant a request uses: a user key, or `undefined` for the router's sealed cookie. */
export type UserKeyOf = (req: Request) => string | undefined | PromiseLike<string | undefined>

export function checkAccess(access: OngoingAccess): void {
  if (typeof access?.startConsent !== 'function' || typeof access.getAccessToken !== 'function')
    throw new TypeError('ongoing: the first argument must be an OngoingAccess')
}

export function checkUserKey(userKey: unknown): UserKeyOf | undefined {
  if (userKey !== undefined && typeof userKey !== 'function')
    throw new TypeError('ongoing: `userKey` must be a function (req) => string | undefined')
  return userKey as UserKeyOf | undefined
}

export function toWebRequest(req: Request): WebRequest {
  return {
    method: req.method,
    url: req.originalUrl,
    header(name) {
      const value = req.headers[name]
      return Array.isArray(value) ? value.join(', ') : value
    },
  }
}

export function writeHeaders(res: Response, response: WebResponse): void {
  for (const [name, value] of Object.entries(response.headers)) res.setHeader(name, value)
  if (response.cookies.length > 0) res.append('Set-Cookie', response.cookies)
}

export function send(res: Response, response: WebResponse): void {
  res.status(response.status)
  writeHeaders(res, response)
  if (response.json === undefined) res.end()
  else res.json(response.json)
}

/** The error to hand to the framework's error handling: see `toHttpError` in `@ongoing/core/adapter`. */
export { toHttpError as httpErrorOf } from '@ongoing/core/adapter'
