import { OngoingAccessError } from './errors.js'

/** The parameters of an authorization response that matter, each present at most once. */
export interface CallbackParameters {
  state: string | undefined
  code: string | undefined
  iss: string | undefined
  error: string | undefined
  errorDescription: string | undefined
  /** digi.me style: `SUCCESS`, `CANCEL` or `ERROR`. */
  result: string | undefined
}

const SINGLE = ['state', 'code', 'iss', 'error', 'error_description', 'result'] as const
const MAX_PARAMETER_LENGTH = 4096

/**
 * Reads an authorization response from the callback URL's query. A parameter that appears twice,
 * a parameter over 4 KB, or a response carrying tokens (the implicit flow's `access_token`) is refused.
 *
 * @example
 * ```ts
 * const { code, state, iss, error } = parseCallbackParameters(callbackUrl)
 * if (error === 'access_denied') throw new OngoingAccessError('ERR_CONSENT_DENIED', 'The user cancelled')
 * ```
 * @throws {OngoingAccessError} `ERR_AUTHORIZATION`
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2
 */
export function parseCallbackParameters(callbackUrl: URL | string): CallbackParameters {
  let url: URL
  try {
    url = typeof callbackUrl === 'string' ? new URL(callbackUrl) : callbackUrl
  } catch {
    throw new OngoingAccessError('ERR_AUTHORIZATION', 'Callback URL is not a valid URL')
  }
  const params = url.searchParams
  for (const name of SINGLE) {
    const values = params.getAll(name)
    if (values.length > 1)
      throw new OngoingAccessError(
        'ERR_AUTHORIZATION',
        `Authorization response repeats the parameter \`${name}\``,
      )
    if ((values[0]?.length ?? 0) > MAX_PARAMETER_LENGTH) {
      throw new OngoingAccessError(
        'ERR_AUTHORIZATION',
        `Authorization response parameter \`${name}\` is too long`,
      )
    }
  }
  if (params.has('access_token') || params.has('id_token') || params.has('token')) {
    throw new OngoingAccessError(
      'ERR_AUTHORIZATION',
      'Authorization response carries tokens; only the code flow is accepted',
    )
  }
  const get = (name: string) => params.get(name) ?? undefined
  return {
    state: get('state'),
    code: get('code'),
    iss: get('iss'),
    error: get('error'),
    errorDescription: get('error_description'),
    result: get('result')?.toUpperCase(),
  }
}
