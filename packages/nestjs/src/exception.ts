import { HttpException } from '@nestjs/common'
import type { OngoingAccessError, OngoingAccessErrorCode } from '@ongoing/core'
import { httpHeadersOf, httpStatusOf, type WebResponse } from '@ongoing/core/adapter'

/**
 * How `@ongoing/nestjs` reports an `OngoingAccessError` to Nest's exception handling: an
 * `HttpException` with the HTTP status of `httpStatusOf` (a missing or tampered transaction is
 * 400, consent required 401, a refused consent 403, a failing authorization server 502, a
 * failing store 503), the core error as `cause`, and its `code`. When consent is required under
 * `onRefreshTokenExpired: 'reconsent'`, it carries the answer instead: a 302 to the consent
 * route for a browser navigation, or 401 with `{ error: 'consent_required', reason, consentUrl }`.
 * The guard and the controller also set `headers` on the response before throwing, so Nest's
 * default filter answers with them (`WWW-Authenticate` on every 401, `Location` on a redirect).
 *
 * @example
 * ```ts
 * @Catch(OngoingAccessException)
 * class ConsentFilter implements ExceptionFilter {
 *   catch(exception: OngoingAccessException, host: ArgumentsHost) {
 *     if (exception.code === 'ERR_CONSENT_REQUIRED') … // exception.cause is the ConsentRequiredError
 *   }
 * }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1 (WWW-Authenticate)
 */
export class OngoingAccessException extends HttpException {
  /** The stable code of the core error (`ERR_TRANSACTION`, `ERR_CONSENT_REQUIRED`, …). */
  readonly code: OngoingAccessErrorCode
  /** Headers of the answer. */
  readonly headers: Readonly<Record<string, string>>

  /**
   * @param error - The core error; becomes `cause`.
   * @param answer - The answer `OngoingRoutes` gave for it, if any (consent required).
   */
  constructor(error: OngoingAccessError, answer?: WebResponse) {
    const status = answer?.status ?? httpStatusOf(error)
    const body = answer?.json ?? {
      statusCode: status,
      error: error.code,
      // The core's messages hold no token material; a 5xx keeps its details to the logs.
      message: status < 500 ? error.message : 'The authorization server or the token store failed',
    }
    super(body as Record<string, unknown>, status, { cause: error })
    this.code = error.code
    this.headers = answer?.headers ?? httpHeadersOf(status)
  }
}
