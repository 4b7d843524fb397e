import { isOngoingAccessError, OngoingAccessError, type ProfileResponse } from '@ongoing/core'
import { type DeadGrantPolicy, parseRetryAfter } from '@ongoing/core/adapter'

/** digi.me's error codes are words (`InvalidToken`, `InvalidJWT`); anything else is not taken. */
const ERROR_CODE = /^[A-Za-z0-9_.-]{1,100}$/
/** An `X-Error-Reference` / `error.reference`: an id to quote to digi.me's support. */
const REFERENCE = /^[A-Za-z0-9_.:-]{1,100}$/

/** The errors that say the client itself is refused: every call fails the same way until it is fixed. */
const CLIENT_REFUSED = new Set(['InvalidClient', 'InvalidJWT'])

/**
 * An error answer of digi.me as an `OngoingAccessError` (`ERR_TOKEN_ENDPOINT`): `status`, the
 * digi.me code as `oauthError` (`InvalidToken`, …), its message as `oauthErrorDescription`. Read
 * from the body `{"error":{"code","message","reference"}}`, or from the `X-Error-Code`,
 * `X-Error-Message` and `X-Error-Reference` headers. The message names the code and the reference,
 * never anything else of the body.
 */
export function digiMeError(response: ProfileResponse, what: string): OngoingAccessError {
  const { code, message, reference } = errorOf(response)
  const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'))
  const described = code === undefined ? 'no error code' : code
  const ref = reference === undefined ? '' : `, reference ${reference}`
  const hint =
    code !== undefined && CLIENT_REFUSED.has(code)
      ? ". digi.me refuses the client: check `applicationId` and `contractId`, and that `privateKey` is the contract's current key"
      : ''
  return new OngoingAccessError(
    'ERR_TOKEN_ENDPOINT',
    `digi.me ${what} answered with an error: ${described} (status ${response.status}${ref})${hint}`,
    {
      status: response.status,
      outcomeUnknown: outcomeUnknownOf(response.status, retryAfterMs),
      ...(code === undefined ? {} : { oauthError: code }),
      ...(message === undefined ? {} : { oauthErrorDescription: message }),
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    },
  )
}

/** The digi.me error of an answer: the body's, else the headers'. */
function errorOf(response: ProfileResponse): {
  code: string | undefined
  message: string | undefined
  reference: string | undefined
} {
  let error: unknown
  try {
    error = (JSON.parse(response.body) as { error?: unknown } | null)?.error
  } catch {}
  const fromBody = typeof error === 'object' && error !== null ? (error as Record<string, unknown>) : {}
  const pick = (value: unknown, header: string): string | undefined => {
    const text = typeof value === 'string' ? value : (response.headers.get(header) ?? undefined)
    return text === undefined || text === '' ? undefined : text
  }
  const code = pick(typeof error === 'string' ? error : fromBody.code, 'x-error-code')
  const message = pick(fromBody.message, 'x-error-message')
  const reference = pick(fromBody.reference, 'x-error-reference')
  return {
    code: code !== undefined && ERROR_CODE.test(code) ? code : undefined,
    message: message?.slice(0, 500),
    reference: reference !== undefined && REFERENCE.test(reference) ? reference : undefined,
  }
}

/**
 * Whether an error status leaves open that the server processed the request: a 5xx may come from a
 * gateway after the server did its work. Only 429, and 503 with `Retry-After`, say it was not done.
 */
function outcomeUnknownOf(status: number, retryAfterMs: number | undefined): boolean {
  if (status < 500) return false
  return !(status === 503 && retryAfterMs !== undefined)
}

/**
 * digi.me's dead grant: the token endpoint answers a refresh with `401` and `InvalidToken` ("The
 * token (refresh_token) is expired|invalid"). Nothing else is (a `400 InvalidRequest`, an
 * `InvalidJWT` for a wrong key, a 5xx leave the grant as it is).
 */
export const DIGIME_DEAD_GRANT: DeadGrantPolicy = {
  isDead: (err): err is OngoingAccessError =>
    isOngoingAccessError(err) &&
    err.code === 'ERR_TOKEN_ENDPOINT' &&
    err.status === 401 &&
    err.oauthError === 'InvalidToken',
  // The client-refused errors carry their hint in the message already; the others have none to give.
  hintFor: () => undefined,
}
