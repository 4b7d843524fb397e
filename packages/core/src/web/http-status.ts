import type { OngoingAccessErrorCode } from '../errors.js'
import { isOngoingAccessError } from '../errors.js'

const STATUS: Record<OngoingAccessErrorCode, number> = {
  ERR_TRANSACTION: 400,
  ERR_CONSENT_DENIED: 403,
  ERR_AUTHORIZATION: 400,
  ERR_ISSUER_MISMATCH: 400,
  ERR_TOKEN_ENDPOINT: 502,
  ERR_INVALID_RESPONSE: 502,
  ERR_CONSENT_REQUIRED: 401,
  ERR_STORE: 503,
}

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
