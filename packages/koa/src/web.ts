import type { OngoingAccess } from '@ongoing/core'
import type { WebRequest, WebResponse } from '@ongoing/core/adapter'
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

/** The error to hand to the framework's error handling: see `toHttpError` in `@ongoing/core/adapter`. */
export { toHttpError as httpErrorOf } from '@ongoing/core/adapter'
