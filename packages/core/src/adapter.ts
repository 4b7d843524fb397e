/**
 * `@ongoing/core/adapter`: the parts that framework adapters and wire profiles are built from. An
 * app does not need this entry: it uses `@ongoing/core` and an adapter (`@ongoing/express`,
 * `@ongoing/koa`, `@ongoing/nestjs`). An adapter for another framework converts its request into a
 * {@link WebRequest}, calls {@link OngoingRoutes}, and writes the {@link WebResponse} back; errors
 * go to the framework through {@link toHttpError}. A profile (`@ongoing/digime`) reads callbacks,
 * retry hints and dead-grant errors with the helpers below.
 *
 * Everything here follows the package's version like the main entry does; it changes only with
 * a note in the changelog.
 *
 * @example
 * ```ts
 * import { OngoingAccess } from '@ongoing/core'
 * import { OngoingRoutes, toHttpError, type WebRequest } from '@ongoing/core/adapter'
 *
 * const routes = new OngoingRoutes(access)
 * const request: WebRequest = { method: 'POST', url: '/auth/disconnect', header: (name) => headers[name] }
 * try {
 *   const { status, headers: out, cookies, json } = await routes.disconnect(request, undefined)
 *   // write status, out, cookies (one Set-Cookie each) and json back with the framework
 * } catch (err) {
 *   throw toHttpError(err) // an OngoingAccessError with status, expose and headers set
 * }
 * ```
 * @packageDocumentation
 */
export { type CallbackParameters, parseCallbackParameters } from './callback.js'
export { type DeadGrantPolicy, deadGrantPolicy } from './dead-grant.js'
export { discoverAuthorizationServer } from './discovery.js'
export { calculatePKCECodeChallenge, generateCodeVerifier, generateRandomToken } from './pkce.js'
export { parseRetryAfter } from './retry.js'
export { sanitizeReturnTo } from './return-to.js'
export { Sealer, type SealPurpose } from './sealing.js'
export { readSwapRequestBody, type SwapRequestStream } from './swap/read-swap-body.js'
export { type SwapRequest, type SwapResponse, TokenSwapService } from './swap/token-swap-service.js'
export {
  type CookieAttributes,
  clearCookie,
  cookieHeaderOf,
  type RequestWithHeaders,
  readCookie,
  serializeCookie,
} from './web/cookies.js'
export {
  CONSENT_REQUIRED_CHALLENGE,
  httpHeadersOf,
  httpStatusOf,
  setCookiesOf,
  toHttpError,
} from './web/http-status.js'
export { isPromiseLike } from './web/promise-like.js'
export { RequestProperty } from './web/request-property.js'
export {
  isBrowserNavigation,
  isSameOriginRequest,
  OngoingRoutes,
  type OngoingRoutesOptions,
  type WebRequest,
  type WebResponse,
} from './web/routes.js'
export type { OpenedUserKeyCookie } from './web/user-key-cache.js'
