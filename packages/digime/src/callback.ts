import { type AuthorizationResponse, OngoingAccessError } from '@ongoing/core'
import { parseCallbackParameters } from '@ongoing/core/adapter'

const DIGIME_PARAMETERS = ['success', 'errorCode', 'error_message'] as const
const MAX_PARAMETER_LENGTH = 4096

/**
 * Reads digi.me's callback: v1.7 `success=true&code&state`, or `success=false&errorCode=…`
 * (`USER_CANCEL`: the user declined; any other code: an error, with `error_message` as its
 * description); the legacy `result=SUCCESS|CANCEL|ERROR&code&state`; and, should it come, the
 * standard `error=…`. A repeated or oversized parameter, or a token in the URL, is refused, as
 * `@ongoing/core` refuses it.
 *
 * @throws {OngoingAccessError} `ERR_AUTHORIZATION` for a malformed callback.
 */
export function readDigiMeCallback(callbackUrl: URL): AuthorizationResponse {
  const params = parseCallbackParameters(callbackUrl)
  const query = callbackUrl.searchParams
  for (const name of DIGIME_PARAMETERS) {
    const values = query.getAll(name)
    if (values.length > 1)
      throw new OngoingAccessError(
        'ERR_AUTHORIZATION',
        `Authorization response repeats the parameter \`${name}\``,
      )
    if ((values[0]?.length ?? 0) > MAX_PARAMETER_LENGTH)
      throw new OngoingAccessError(
        'ERR_AUTHORIZATION',
        `Authorization response parameter \`${name}\` is too long`,
      )
  }
  const state = params.state
  const success = query.get('success')
  if (success !== null) {
    if (success === 'true') return { state, outcome: 'code', code: params.code }
    if (success !== 'false') throw malformed('`success` is neither true nor false')
    const errorCode = query.get('errorCode') || undefined
    if (errorCode === 'USER_CANCEL') return { state, outcome: 'denied', error: errorCode }
    return {
      state,
      outcome: 'error',
      error: errorCode ?? 'UNKNOWN_ERROR',
      errorDescription: query.get('error_message') || undefined,
    }
  }
  if (params.result !== undefined) {
    switch (params.result) {
      case 'SUCCESS':
        return { state, outcome: 'code', code: params.code }
      case 'CANCEL':
        return { state, outcome: 'denied' }
      case 'ERROR':
        return { state, outcome: 'error', error: 'ERROR' }
      default:
        throw malformed('`result` is none of SUCCESS, CANCEL, ERROR')
    }
  }
  if (params.error === 'access_denied') return { state, outcome: 'denied', error: params.error }
  if (params.error !== undefined)
    return { state, outcome: 'error', error: params.error, errorDescription: params.errorDescription }
  return { state, outcome: 'code', code: params.code }
}

function malformed(problem: string): OngoingAccessError {
  return new OngoingAccessError('ERR_AUTHORIZATION', `Authorization response is malformed: ${problem}`)
}
