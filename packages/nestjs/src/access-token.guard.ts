import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common'
import { OngoingWeb } from './ongoing-web.js'

/**
 * A guard that puts a fresh access token on the request (read it with `@AccessToken()`),
 * refreshing it when it is about to expire (once per grant, however many requests wait); a cached
 * token is checked synchronously.
 *
 * When consent is required (no grant, or its refresh token expired or was revoked) and
 * `onRefreshTokenExpired` is `'reconsent'` (the default): a browser navigation is redirected to
 * the consent route with `returnTo` set to where it was; any other request gets `401` with
 * `WWW-Authenticate: Bearer error="invalid_token"` and `{ error: 'consent_required', reason,
 * consentUrl }`. With `'error'`, and for every other error, it throws an
 * {@link OngoingAccessException} (401 for consent required) to Nest's exception handling.
 *
 * @throws {OngoingAccessException} as above.
 * @example
 * ```ts
 * @Get('library')
 * @UseGuards(AccessTokenGuard)
 * library(@AccessToken() accessToken: string) {
 *   return fetch(url, { headers: { authorization: `Bearer ${accessToken}` } }).then((r) => r.json())
 * }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6 (refreshing), https://www.rfc-editor.org/rfc/rfc6750#section-3.1 (invalid_token)
 */
@Injectable()
export class AccessTokenGuard implements CanActivate {
  constructor(@Inject(OngoingWeb) private readonly web: OngoingWeb) {}

  /**
   * @param context - Nest's execution context (HTTP).
   * @returns `true` once the token is on the request.
   */
  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    // HTTP arguments are (req, res, next). switchToHttp() would build three closures per request.
    return this.web.authorize(context.getArgByIndex(0), context.getArgByIndex(1))
  }
}
