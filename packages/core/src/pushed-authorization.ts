import { OngoingAccessError } from './errors.js'
import { type ASResponse, parseJSONObject, requestAS } from './http.js'
import { endpointError, type TokenEndpointClient, withInvalidClientHint } from './token-endpoint.js'

/** A successful pushed authorization response, validated (RFC 9126 §2.2). */
export interface PushedAuthorizationResponse {
  /** The reference to the pushed request, for the authorization request URL. */
  requestUri: string
  /** Seconds the reference lives. */
  expiresIn: number
}

const WHAT = 'Pushed authorization request endpoint'
/** Far above any real `request_uri` (a URN of a few dozen characters); it goes into a URL. */
const MAX_REQUEST_URI_LENGTH = 2048

/**
 * Pushes an authorization request: every parameter in a form POST, authenticated as the client
 * authenticates at the token endpoint (the secret in the `Authorization` header or the body, never
 * in the URL). Never retried: the user is waiting, and starting the consent again pushes afresh.
 *
 * @param parameters - The whole authorization request (`response_type`, `client_id`,
 *   `redirect_uri`, `scope`, `state`, the PKCE challenge…); the client's credentials are added.
 * @throws {OngoingAccessError} `ERR_TOKEN_ENDPOINT` when the server refuses the request,
 *   `ERR_INVALID_RESPONSE` for a malformed answer, `ERR_NETWORK` when it does not answer.
 * @see https://www.rfc-editor.org/rfc/rfc9126#section-2.1
 */
export async function pushAuthorizationRequest(
  client: Omit<TokenEndpointClient, 'tokenEndpoint'>,
  endpoint: string,
  parameters: URLSearchParams,
): Promise<PushedAuthorizationResponse> {
  const body = new URLSearchParams(parameters)
  const headers = new Headers({
    accept: 'application/json',
    'content-type': 'application/x-www-form-urlencoded;charset=UTF-8',
  })
  await client.auth.apply(headers, body)
  const response = await requestAS(
    client.fetch,
    endpoint,
    { method: 'POST', headers, body },
    client.limits,
    'pushed authorization request endpoint',
  )
  try {
    return processPushedAuthorizationResponse(response)
  } catch (err) {
    throw withInvalidClientHint(err, client.auth)
  }
}

/**
 * Validates a pushed authorization response. RFC 9126 §2.2 says `201 Created`; `200` is taken as
 * well, since some servers answer so and the body is the same. Errors never quote the body.
 *
 * @throws {OngoingAccessError} `ERR_TOKEN_ENDPOINT` for an error answer (RFC 9126 §2.3: `status`,
 *   `oauthError`); `ERR_INVALID_RESPONSE` for another 2xx, a body that is not a JSON object, a
 *   missing or empty `request_uri`, or an `expires_in` that is missing or not a positive number.
 * @see https://www.rfc-editor.org/rfc/rfc9126#section-2.2, https://www.rfc-editor.org/rfc/rfc9126#section-2.3
 */
export function processPushedAuthorizationResponse(response: ASResponse): PushedAuthorizationResponse {
  const { status } = response
  const json = parseJSONObject(response.body)
  if (status < 200 || status >= 300) throw endpointError(response, json, WHAT)
  if (status !== 201 && status !== 200)
    throw new OngoingAccessError('ERR_INVALID_RESPONSE', `${WHAT} answered ${status}, not 201 Created`, {
      status,
    })
  if (json === undefined) throw invalid(status, 'the body is not a JSON object')
  if (json.error !== undefined) throw endpointError(response, json, WHAT)
  const { request_uri, expires_in } = json
  if (typeof request_uri !== 'string' || request_uri.length === 0)
    throw invalid(status, '`request_uri` is missing or not a string')
  if (request_uri.length > MAX_REQUEST_URI_LENGTH)
    throw invalid(status, `\`request_uri\` is longer than ${MAX_REQUEST_URI_LENGTH} characters`)
  // Some servers send a numeric string, as at the token endpoint; accept it, but nothing else.
  const expiresIn =
    typeof expires_in === 'string' && /^\d{1,10}$/.test(expires_in) ? Number(expires_in) : expires_in
  if (typeof expiresIn !== 'number' || !Number.isFinite(expiresIn) || expiresIn <= 0)
    throw invalid(status, '`expires_in` is missing or not a positive number')
  return { requestUri: request_uri, expiresIn }
}

function invalid(status: number, problem: string): OngoingAccessError {
  return new OngoingAccessError('ERR_INVALID_RESPONSE', `${WHAT} answered ${status} but ${problem}`, {
    status,
  })
}
