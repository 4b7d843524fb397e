import {
  httpStatusOf,
  isOngoingAccessError,
  type OngoingAccess,
  type WebRequest,
  type WebResponse,
} from '@ongoing/core'
import type { Context } from 'koa'
import type { OngoingKoaOptions } from './options.js'

export type UserKeyOf = NonNullable<OngoingKoaOptions['userKey']>

export function checkAccess(access: OngoingAccess): void {
  if (typeof access?.startConsent !== 'function' || typeof access.getAccessToken !== 'function')
    throw new TypeError('ongoing: the first argument must be an OngoingAccess')
}

export function checkUserKey(userKey: unknown): UserKeyOf | undefined {
  if (userKey !== undefined && typeof userKey !== 'function')
    throw new TypeError('ongoing: `userKey` must be a function (ctx) => string | undefined')
  return userKey as UserKeyOf | undefined
}

export function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as PromiseLike<T> | undefined)?.then === 'function'
}

export function toWebRequest(ctx: Context): WebRequest {
  return { method: ctx.method, url: ctx.originalUrl, header: (name) => ctx.get(name) || undefined }
}

export function send(ctx: Context, response: WebResponse): void {
  ctx.status = response.status
  ctx.set(response.headers)
  if (response.cookies.length > 0) ctx.append('Set-Cookie', response.cookies)
  // Setting a null body would turn a redirect into 204.
  if (response.json !== undefined) ctx.body = response.json
}

/**
 * The error to throw to Koa. An `OngoingAccessError` keeps its class, `code` and message (it is
 * the prototype of what we throw), with the HTTP answer laid over it the way Koa's `ctx.onerror`
 * reads it: `status`/`statusCode` from `httpStatusOf` (the original `status` is the
 * authorization server's), `expose` below 500, and `headers` with `WWW-Authenticate` on 401.
 * Other errors pass unchanged.
 */
export function httpErrorOf(err: unknown): unknown {
  if (!isOngoingAccessError(err)) return err
  const status = httpStatusOf(err)
  const headers: Record<string, string> = { 'cache-control': 'no-store' }
  // The challenge OngoingRoutes.consentRequired answers with (401 is only ever consent required).
  if (status === 401)
    headers['www-authenticate'] = 'Bearer error="invalid_token", error_description="consent required"'
  const own = (value: unknown) => ({ value, enumerable: true, writable: true, configurable: true })
  return Object.create(err, {
    status: own(status),
    statusCode: own(status),
    expose: own(status < 500),
    headers: own(headers),
  })
}
