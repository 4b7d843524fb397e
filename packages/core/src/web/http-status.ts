import type { OngoingAccessErrorCode } from '../errors.js'
import { isOngoingAccessError } from '../errors.js'

const STATUS: Record<OngoingAccessErrorCode, number> = {
  ERR_TRANSACTION: 400,
  ERR_CONSENT_DENIED: 403,
  ERR_AUTHORIZATION: 400,
  ERR_ISSUER_MISMATCH: 400,
  ERR_TOKEN_ENDPOINT: 502,
  ERR_NETWORK: 503,
  ERR_INVALID_RESPONSE: 502,
  ERR_CONSENT_REQUIRED: 401,
  ERR_STORE: 503,
  ERR_CONFIGURATION: 500,
}

/**
 * The `WWW-Authenticate` challenge of every consent-required 401.
 *
 * @example
 * ```ts
 * res.setHeader('www-authenticate', CONSENT_REQUIRED_CHALLENGE)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export const CONSENT_REQUIRED_CHALLENGE = 'Bearer error="invalid_token", error_description="consent required"'

/**
 * The HTTP status an adapter answers for an error: 4xx for what the request or the user did, 502
 * when the authorization server misbehaved, 503 when the store is down, 500 otherwise.
 *
 * @example
 * ```ts
 * res.status(httpStatusOf(err)).json({ error: err.code })
 * ```
 */
export function httpStatusOf(err: unknown): number {
  return isOngoingAccessError(err) ? STATUS[err.code] : 500
}

/**
 * The headers of an adapter's error answer: never cached; a 401 carries the Bearer challenge.
 *
 * @example
 * ```ts
 * const status = httpStatusOf(err)
 * res.writeHead(status, httpHeadersOf(status))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export function httpHeadersOf(status: number): Record<string, string> {
  return status === 401
    ? { 'cache-control': 'no-store', 'www-authenticate': CONSENT_REQUIRED_CHALLENGE }
    : { 'cache-control': 'no-store' }
}

const errorCookies = new WeakMap<object, readonly string[]>()

/** @internal Remembers the `Set-Cookie` values the answer to `err` must carry. */
export function attachSetCookies(err: unknown, cookies: readonly string[]): void {
  if (typeof err === 'object' && err !== null && cookies.length > 0) errorCookies.set(err, cookies)
}

/**
 * The `Set-Cookie` values an error of `OngoingRoutes` wants in its answer: a failed callback still
 * clears its transaction cookies. Empty for any other error. {@link toHttpError} puts them in
 * `headers`; an adapter that answers errors itself writes them.
 *
 * @param err - What a route rejected with.
 * @returns The `Set-Cookie` values, one each.
 * @example
 * ```ts
 * routes.callback(request).catch((err) => {
 *   for (const cookie of setCookiesOf(err)) res.appendHeader('set-cookie', cookie)
 *   throw err
 * })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6265#section-4.1
 */
export function setCookiesOf(err: unknown): readonly string[] {
  return (typeof err === 'object' && err !== null && errorCookies.get(err)) || []
}

/**
 * The error an adapter hands to its framework's error handling (Express `next(err)`, Koa `throw`).
 * An `OngoingAccessError` keeps its class, `code` and message — it is the prototype of what is
 * returned — with the HTTP answer laid over it the way Express's final handler, `http-errors` and
 * Koa read it: `status`/`statusCode` from {@link httpStatusOf} (the error's own `status` is the
 * authorization server's, still on the prototype), `expose` below 500, and `headers` (with
 * `set-cookie` when the error carries cookies: {@link setCookiesOf}). Other errors pass unchanged.
 *
 * @example
 * ```ts
 * routes.callback(request).then(send, (err) => next(toHttpError(err)))
 * ```
 */
export function toHttpError(err: unknown): unknown {
  if (!isOngoingAccessError(err)) return err
  const status = httpStatusOf(err)
  const cookies = setCookiesOf(err)
  const own = (value: unknown) => ({ value, enumerable: true, writable: true, configurable: true })
  return Object.create(err, {
    status: own(status),
    statusCode: own(status),
    expose: own(status < 500),
    headers: own(
      cookies.length === 0 ? httpHeadersOf(status) : { ...httpHeadersOf(status), 'set-cookie': cookies },
    ),
  })
}
