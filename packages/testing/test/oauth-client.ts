// A deliberately plain OAuth client for testing the test server itself: fetch and node:crypto
// only, independent of @ongoing/core.
import { constants, createHash, createPrivateKey, randomBytes, randomUUID, sign } from 'node:crypto'
import type { PrivateJWK, TestAuthorizationServer } from '../src/index.js'
import { driveConsent } from '../src/index.js'

export const REDIRECT_URI = 'http://127.0.0.1:4567/callback'

export interface TokenResponse {
  status: number
  body: {
    access_token?: string
    refresh_token?: string
    id_token?: string
    expires_in?: number
    scope?: string
    token_type?: string
    error?: string
    error_description?: string
  }
}

export type ClientAuth =
  | { method: 'client_secret_basic'; id: string; secret: string }
  | { method: 'client_secret_post'; id: string; secret: string }
  | { method: 'private_key_jwt'; id: string; key: PrivateJWK }
  | { method: 'none'; id: string }

export interface AuthorizationRequest {
  url: URL
  state: string
  codeVerifier: string
}

export function buildAuthorizationRequest(
  as: TestAuthorizationServer,
  clientId: string,
  params: Record<string, string> = {},
): AuthorizationRequest {
  const codeVerifier = randomBytes(32).toString('base64url')
  const state = randomBytes(16).toString('base64url')
  const url = new URL('/auth', as.issuer)
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT_URI,
    scope: 'openid offline_access api:read',
    state,
    code_challenge: createHash('sha256').update(codeVerifier).digest('base64url'),
    code_challenge_method: 'S256',
    prompt: 'consent',
    ...params,
  }).toString()
  return { url, state, codeVerifier }
}

export async function tokenRequest(
  as: TestAuthorizationServer,
  auth: ClientAuth,
  params: Record<string, string>,
): Promise<TokenResponse> {
  const tokenEndpoint = new URL('/token', as.issuer)
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' }
  const body = new URLSearchParams(params)
  switch (auth.method) {
    case 'client_secret_basic':
      headers.authorization = `Basic ${Buffer.from(
        `${encodeURIComponent(auth.id)}:${encodeURIComponent(auth.secret)}`,
      ).toString('base64')}`
      break
    case 'client_secret_post':
      body.set('client_id', auth.id)
      body.set('client_secret', auth.secret)
      break
    case 'private_key_jwt':
      body.set('client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
      body.set('client_assertion', signClientAssertion(auth.id, tokenEndpoint.href, auth.key))
      break
    case 'none':
      body.set('client_id', auth.id)
      break
  }
  const response = await fetch(tokenEndpoint, { method: 'POST', headers, body })
  return { status: response.status, body: (await response.json()) as TokenResponse['body'] }
}

/** Consents as `login` and exchanges the code: the whole first leg of the flow. */
export async function obtainTokens(
  as: TestAuthorizationServer,
  auth: ClientAuth,
  { login = 'alice', params = {} }: { login?: string; params?: Record<string, string> } = {},
): Promise<TokenResponse> {
  const request = buildAuthorizationRequest(as, auth.id, params)
  const callback = await driveConsent(request.url, { redirectUriPrefix: REDIRECT_URI, login })
  const code = callback.searchParams.get('code')
  if (!code) {
    throw new Error(`no code on the callback: ${callback.searchParams.get('error')}`)
  }
  return tokenRequest(as, auth, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: REDIRECT_URI,
    code_verifier: request.codeVerifier,
  })
}

export function refresh(
  as: TestAuthorizationServer,
  auth: ClientAuth,
  refreshToken: string | undefined,
): Promise<TokenResponse> {
  return tokenRequest(as, auth, { grant_type: 'refresh_token', refresh_token: refreshToken ?? '' })
}

/** An RFC 7523 client assertion, signed with node:crypto (not the library under test's JOSE). */
export function signClientAssertion(clientId: string, audience: string, jwk: PrivateJWK): string {
  const now = Math.floor(Date.now() / 1000)
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const input = `${encode({ alg: jwk.alg, kid: jwk.kid, typ: 'JWT' })}.${encode({
    iss: clientId,
    sub: clientId,
    aud: audience,
    jti: randomUUID(),
    iat: now,
    exp: now + 60,
  })}`
  const key = createPrivateKey({ key: jwk as never, format: 'jwk' })
  const data = Buffer.from(input)
  let signature: Buffer
  switch (jwk.alg) {
    case 'RS256':
      signature = sign('sha256', data, key)
      break
    case 'PS256':
      signature = sign('sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 })
      break
    case 'PS512':
      signature = sign('sha512', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 })
      break
    case 'ES256':
      signature = sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' })
      break
    case 'EdDSA':
      signature = sign(null, data, key)
      break
    default:
      throw new Error(`unsupported alg ${jwk.alg}`)
  }
  return `${input}.${signature.toString('base64url')}`
}
