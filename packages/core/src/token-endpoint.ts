import type { ClientAuthenticator } from './client-auth.js'
import { OngoingAccessError } from './errors.js'
import { type ASRequestLimits, type ASResponse, parseJSONObject, requestAS } from './http.js'
import { parseRetryAfter } from './retry.js'

/** A successful token response, validated (RFC 6749 §5.1). */
export interface TokenEndpointResponse {
  accessToken: string
  /** Normalized to `Bearer` (the only type we send). */
  tokenType: string
  /** Seconds, when the server said. */
  expiresIn: number | undefined
  refreshToken: string | undefined
  /** Seconds the refresh token lives, when the server said (a common extension). */
  refreshExpiresIn: number | undefined
  scope: string | undefined
  /** The OpenID Connect ID token, when the server sent one (verified by the caller). */
  idToken: string | undefined
}

/** Where and how to call the token endpoint. */
export interface TokenEndpointClient {
  fetch: typeof fetch
  tokenEndpoint: string
  auth: ClientAuthenticator
  limits: ASRequestLimits
}

/**
 * Exchanges an authorization code and its PKCE verifier for tokens. Never retried: a code is single use.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.3
 * @see https://www.rfc-editor.org/rfc/rfc7636#section-4.5
 */
export function authorizationCodeGrant(
  client: TokenEndpointClient,
  code: string,
  codeVerifier: string | undefined,
  redirectUri: string,
): Promise<TokenEndpointResponse> {
  const body = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri })
  if (codeVerifier !== undefined) body.set('code_verifier', codeVerifier)
  return tokenRequest(client, body)
}

/**
 * Uses a refresh token for a new access token (and, under rotation, a new refresh token).
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 */
export function refreshTokenGrant(
  client: TokenEndpointClient,
  refreshToken: string,
  scope?: string,
): Promise<TokenEndpointResponse> {
  const body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken })
  if (scope !== undefined) body.set('scope', scope)
  return tokenRequest(client, body)
}

async function tokenRequest(
  client: TokenEndpointClient,
  body: URLSearchParams,
): Promise<TokenEndpointResponse> {
  const headers = new Headers({
    accept: 'application/json',
    'content-type': 'application/x-www-form-urlencoded;charset=UTF-8',
  })
  await client.auth.apply(headers, body)
  const response = await requestAS(
    client.fetch,
    client.tokenEndpoint,
    { method: 'POST', headers, body },
    client.limits,
    'token endpoint',
  )
  try {
    return processTokenResponse(response)
  } catch (err) {
    throw withInvalidClientHint(err, client.auth)
  }
}

/** An `invalid_client` error, with the client's hint (if any) added to its message. */
export function withInvalidClientHint(err: unknown, auth: ClientAuthenticator): unknown {
  if (
    !(err instanceof OngoingAccessError) ||
    err.oauthError !== 'invalid_client' ||
    auth.invalidClientHint === undefined
  )
    return err
  err.message = `${err.message}. ${auth.invalidClientHint}`
  return err
}

/**
 * Validates a token endpoint answer. Errors never quote the body (it may hold tokens).
 *
 * @throws {OngoingAccessError} `ERR_TOKEN_ENDPOINT` for an RFC 6749 §5.2 error (or any non-200
 *   status); `ERR_INVALID_RESPONSE` for anything malformed.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1
 */
export function processTokenResponse(response: ASResponse): TokenEndpointResponse {
  const json = parseJSONObject(response.body)
  if (response.status !== 200) throw endpointError(response, json)
  if (json === undefined) {
    throw invalid('the body is not a JSON object')
  }
  if (json.error !== undefined) throw endpointError(response, json)
  const { access_token, token_type, expires_in, refresh_token, refresh_expires_in, scope, id_token } = json
  if (typeof access_token !== 'string' || access_token.length === 0)
    throw invalid('`access_token` is missing or not a string')
  if (typeof token_type !== 'string' || token_type.length === 0)
    throw invalid('`token_type` is missing or not a string')
  if (token_type.toLowerCase() !== 'bearer')
    throw invalid(`\`token_type\` ${JSON.stringify(token_type.slice(0, 20))} is not supported (only Bearer)`)
  if (refresh_token !== undefined && (typeof refresh_token !== 'string' || refresh_token.length === 0)) {
    throw invalid('`refresh_token` is not a non-empty string')
  }
  if (scope !== undefined && typeof scope !== 'string') throw invalid('`scope` is not a string')
  if (id_token !== undefined && typeof id_token !== 'string') throw invalid('`id_token` is not a string')
  return {
    accessToken: access_token,
    tokenType: 'Bearer',
    expiresIn: seconds(expires_in, 'expires_in'),
    refreshToken: refresh_token,
    refreshExpiresIn: seconds(refresh_expires_in, 'refresh_expires_in'),
    scope,
    idToken: id_token,
  }
}

function seconds(value: unknown, name: string): number | undefined {
  if (value === undefined || value === null) return undefined
  // Some servers send a numeric string; accept it, but nothing else.
  const n = typeof value === 'string' && /^\d{1,10}$/.test(value) ? Number(value) : value
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0)
    throw invalid(`\`${name}\` is not a non-negative number`)
  return n
}

function invalid(problem: string): OngoingAccessError {
  // The server processed the request (a refresh token it rotated is spent), but the answer is unusable.
  return new OngoingAccessError('ERR_INVALID_RESPONSE', `Token endpoint answered 200 but ${problem}`, {
    status: 200,
    outcomeUnknown: true,
  })
}

/**
 * An RFC 6749 §5.2 error answer (or any error status) of an endpoint the client authenticates at, as
 * `ERR_TOKEN_ENDPOINT`: `status`, `oauthError`, `oauthErrorDescription`, `retryAfterMs`. The message
 * names the `endpoint` and the error, never anything else of the body.
 */
export function endpointError(
  response: ASResponse,
  json: Record<string, unknown> | undefined,
  endpoint = 'Token endpoint',
): OngoingAccessError {
  const oauthError = typeof json?.error === 'string' ? json.error.slice(0, 100) : undefined
  const description =
    typeof json?.error_description === 'string' ? json.error_description.slice(0, 500) : undefined
  const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'))
  const error =
    oauthError === undefined ? `status ${response.status}` : `${oauthError} (status ${response.status})`
  return new OngoingAccessError('ERR_TOKEN_ENDPOINT', `${endpoint} answered with an error: ${error}`, {
    status: response.status,
    outcomeUnknown: outcomeUnknownOf(response.status, retryAfterMs),
    ...(oauthError === undefined ? {} : { oauthError }),
    ...(description === undefined ? {} : { oauthErrorDescription: description }),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  })
}

/**
 * Whether an error status leaves open that the server processed the request: a 5xx may come from a
 * gateway after the server did its work. Only 429, and 503 with `Retry-After`, say it was not done.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-15.6.4 (503 and Retry-After)
 */
function outcomeUnknownOf(status: number, retryAfterMs: number | undefined): boolean {
  if (status < 500) return false
  return !(status === 503 && retryAfterMs !== undefined)
}

/**
 * Revokes a token (RFC 7009). Returns whether the server confirmed (200).
 *
 * @see https://www.rfc-editor.org/rfc/rfc7009#section-2.1
 */
export async function revokeToken(
  client: Omit<TokenEndpointClient, 'tokenEndpoint'>,
  revocationEndpoint: string,
  token: string,
  tokenTypeHint: 'refresh_token' | 'access_token',
): Promise<boolean> {
  const body = new URLSearchParams({ token, token_type_hint: tokenTypeHint })
  const headers = new Headers({ 'content-type': 'application/x-www-form-urlencoded;charset=UTF-8' })
  await client.auth.apply(headers, body)
  const response = await requestAS(
    client.fetch,
    revocationEndpoint,
    { method: 'POST', headers, body },
    client.limits,
    'revocation endpoint',
  )
  return response.status === 200
}
