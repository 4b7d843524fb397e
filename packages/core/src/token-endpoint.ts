import type { ClientAuthenticator } from './client-auth.js'
import { createDPoPProof, type DPoPKeyMaterial, type DPoPServerState } from './dpop.js'
import { OngoingAccessError } from './errors.js'
import { type ASRequestLimits, type ASResponse, parseJSONObject, requestAS } from './http.js'
import { parseRetryAfter } from './retry.js'

/** A successful token response, validated (RFC 6749 §5.1). */
export interface TokenEndpointResponse {
  accessToken: string
  /** Normalized: `Bearer`, or `DPoP` when a proof was sent. */
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
  /** DPoP (RFC 9449), when the client has the `dpop` option. */
  dpop?: TokenEndpointDPoP | undefined
}

/** How a client proves possession at the authorization server's endpoints. */
export interface TokenEndpointDPoP {
  /** The grant's key; `undefined` for a grant made without one (then no proof is sent). */
  key: DPoPKeyMaterial | undefined
  /** The servers' nonces and the clock offset, shared by every call of one client. */
  state: DPoPServerState
}

/**
 * Exchanges an authorization code and its PKCE verifier for tokens. Never retried: a code is single
 * use (a DPoP nonce challenge excepted: the server refused the proof before it looked at the code).
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
  const key = client.dpop?.key
  let response = await sendTokenRequest(client, body)
  if (key !== undefined && client.dpop !== undefined) {
    const { state } = client.dpop
    state.noteDate(response.headers)
    const nonce = state.noteNonce(client.tokenEndpoint, response.headers)
    // RFC 9449 §8: `use_dpop_nonce` means the server refused the proof before looking at the grant:
    // the code or refresh token was not used, so sending it once more (with the nonce) does not
    // break "never present a refresh token twice". Once only: a second challenge is an error.
    if (response.status === 400 && nonce !== undefined && oauthErrorOf(response) === 'use_dpop_nonce') {
      response = await sendTokenRequest(client, body)
      state.noteDate(response.headers)
      state.noteNonce(client.tokenEndpoint, response.headers)
    }
  }
  try {
    return processTokenResponse(response, { dpop: key !== undefined })
  } catch (err) {
    throw withInvalidClientHint(err, client.auth)
  }
}

/** One token request: a fresh client authentication and, with DPoP, a fresh proof. */
async function sendTokenRequest(client: TokenEndpointClient, form: URLSearchParams): Promise<ASResponse> {
  const body = new URLSearchParams(form)
  const headers = new Headers({
    accept: 'application/json',
    'content-type': 'application/x-www-form-urlencoded;charset=UTF-8',
  })
  await client.auth.apply(headers, body)
  await addDPoPProof(headers, client.dpop, client.tokenEndpoint)
  return requestAS(
    client.fetch,
    client.tokenEndpoint,
    { method: 'POST', headers, body },
    client.limits,
    'token endpoint',
  )
}

async function addDPoPProof(
  headers: Headers,
  dpop: TokenEndpointDPoP | undefined,
  endpoint: string,
): Promise<void> {
  if (dpop?.key === undefined) return
  headers.set(
    'dpop',
    await createDPoPProof(dpop.key, {
      htm: 'POST',
      url: endpoint,
      nonce: dpop.state.nonceFor(endpoint),
      clockOffsetSeconds: dpop.state.clockOffsetSeconds,
    }),
  )
}

function oauthErrorOf(response: ASResponse): string | undefined {
  const error = parseJSONObject(response.body)?.error
  return typeof error === 'string' ? error : undefined
}

const DPOP_ERRORS = new Set(['invalid_dpop_proof', 'use_dpop_nonce'])

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
 * @param sent - `dpop`: whether the request carried a DPoP proof (then the token must be a DPoP one).
 * @throws {OngoingAccessError} `ERR_TOKEN_ENDPOINT` for an RFC 6749 §5.2 error (or any non-200
 *   status); `ERR_INVALID_RESPONSE` for anything malformed; `ERR_CONFIGURATION` when the server
 *   and the `dpop` option disagree (RFC 9449 §5).
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5
 */
export function processTokenResponse(
  response: ASResponse,
  sent: { dpop: boolean } = { dpop: false },
): TokenEndpointResponse {
  const json = parseJSONObject(response.body)
  if (response.status !== 200) {
    const error = endpointError(response, json)
    if (!sent.dpop && error.oauthError !== undefined && DPOP_ERRORS.has(error.oauthError))
      throw new OngoingAccessError(
        'ERR_CONFIGURATION',
        `Token endpoint answered ${error.oauthError}: the server requires DPoP-bound tokens (RFC 9449); set the \`dpop\` option`,
        { status: response.status, oauthError: error.oauthError },
      )
    throw error
  }
  if (json === undefined) {
    throw invalid('the body is not a JSON object')
  }
  if (json.error !== undefined) throw endpointError(response, json)
  const { access_token, token_type, expires_in, refresh_token, refresh_expires_in, scope, id_token } = json
  // The refresh token's lifetime has no standard field: Keycloak sends refresh_expires_in, GitHub
  // (expiring user tokens) refresh_token_expires_in.
  const [refreshLifetime, refreshLifetimeName] =
    refresh_expires_in !== undefined
      ? [refresh_expires_in, 'refresh_expires_in']
      : [json.refresh_token_expires_in, 'refresh_token_expires_in']
  if (typeof access_token !== 'string' || access_token.length === 0)
    throw invalid('`access_token` is missing or not a string')
  if (typeof token_type !== 'string' || token_type.length === 0)
    throw invalid('`token_type` is missing or not a string')
  const type = token_type.toLowerCase()
  if (type === 'dpop' && !sent.dpop) throw dpopMismatch('a DPoP-bound token, which needs the `dpop` option')
  if (type === 'bearer' && sent.dpop)
    throw dpopMismatch(
      'a Bearer token to a request with a DPoP proof: the server does not bind tokens to keys (RFC 9449); turn the `dpop` option off',
    )
  if (type !== 'bearer' && type !== 'dpop')
    throw invalid(
      `\`token_type\` ${JSON.stringify(token_type.slice(0, 20))} is not supported (only Bearer and DPoP)`,
    )
  if (refresh_token !== undefined && (typeof refresh_token !== 'string' || refresh_token.length === 0)) {
    throw invalid('`refresh_token` is not a non-empty string')
  }
  if (scope !== undefined && typeof scope !== 'string') throw invalid('`scope` is not a string')
  if (id_token !== undefined && typeof id_token !== 'string') throw invalid('`id_token` is not a string')
  return {
    accessToken: access_token,
    tokenType: sent.dpop ? 'DPoP' : 'Bearer',
    expiresIn: seconds(expires_in, 'expires_in'),
    refreshToken: refresh_token,
    refreshExpiresIn: seconds(refreshLifetime, refreshLifetimeName),
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

function dpopMismatch(what: string): OngoingAccessError {
  // As for a malformed answer: the server processed the request, a rotated refresh token is spent.
  return new OngoingAccessError('ERR_CONFIGURATION', `Token endpoint answered 200 with ${what}`, {
    status: 200,
    outcomeUnknown: true,
  })
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
  // RFC 9449 does not define proofs at the revocation endpoint; servers that check them take one.
  await addDPoPProof(headers, client.dpop, revocationEndpoint)
  const response = await requestAS(
    client.fetch,
    revocationEndpoint,
    { method: 'POST', headers, body },
    client.limits,
    'revocation endpoint',
  )
  return response.status === 200
}
