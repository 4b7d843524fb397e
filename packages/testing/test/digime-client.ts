// A deliberately plain digi.me client for testing the digi.me test server itself: fetch, jose and
// node:crypto only, independent of @ongoing/core.
import { createHash, type KeyObject, randomBytes } from 'node:crypto'
import { createLocalJWKSet, type JSONWebKeySet, type JWTPayload, jwtVerify, SignJWT } from 'jose'
import type { DigiMeServer, DigiMeTokenPayload } from '../src/index.js'
import { driveDigiMeConsent } from '../src/index.js'

export const REDIRECT_URI = 'http://127.0.0.1:4567/callback'
export const AGENT = { sdk: { name: 'ongoing-test', version: '0.1.0', meta: { node: process.version } } }

export interface SignOptions {
  key?: KeyObject
  alg?: string
  clientId?: string
  nonce?: string
  timestamp?: number
}

/** A request JWT as a digi.me client signs it: PS512, `client_id`, `nonce`, `timestamp` (ms). */
export function signRequest(
  digiMe: DigiMeServer,
  claims: Record<string, unknown>,
  options: SignOptions = {},
): Promise<string> {
  const {
    key = digiMe.contract.privateKey!,
    alg = 'PS512',
    clientId = digiMe.contract.clientId,
    nonce = randomBytes(16).toString('hex'),
    timestamp = Date.now(),
  } = options
  return new SignJWT({ client_id: clientId, nonce, timestamp, ...claims })
    .setProtectedHeader({ alg, typ: 'JWT' })
    .sign(key)
}

export interface DigiMeResponse {
  status: number
  headers: Headers
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers of many shapes, asserted by the tests
  body: any
}

export interface CallOptions {
  claims?: Record<string, unknown>
  body?: unknown
  /** A ready JWT, instead of signing `claims`; `null` sends no Authorization header. */
  jwt?: string | null
  sign?: SignOptions
}

/** Calls `path` (relative to the base URL) with a freshly signed request JWT. */
export async function call(
  digiMe: DigiMeServer,
  method: 'GET' | 'POST',
  path: string,
  options: CallOptions = {},
): Promise<DigiMeResponse> {
  const jwt =
    options.jwt === undefined ? await signRequest(digiMe, options.claims ?? {}, options.sign) : options.jwt
  const headers: Record<string, string> = {}
  if (jwt !== null) headers.authorization = `Bearer ${jwt}`
  if (options.body !== undefined) headers['content-type'] = 'application/json'
  const response = await fetch(new URL(path, digiMe.baseUrl), {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  })
  const text = await response.text()
  return {
    status: response.status,
    headers: response.headers,
    body: text === '' ? undefined : JSON.parse(text),
  }
}

export async function fetchKeySet(digiMe: DigiMeServer): Promise<JSONWebKeySet> {
  return (await (await fetch(digiMe.keySetUrl)).json()) as JSONWebKeySet
}

/** Verifies a signed response against a key set (fetched from the server unless given). */
export async function verifySigned<T = JWTPayload>(
  digiMe: DigiMeServer,
  token: string,
  keySet?: JSONWebKeySet,
): Promise<{ payload: T; header: Record<string, unknown> }> {
  const keys = createLocalJWKSet(keySet ?? (await fetchKeySet(digiMe)))
  const { payload, protectedHeader } = await jwtVerify(token, keys, { algorithms: ['PS512'] })
  return { payload: payload as T, header: protectedHeader as Record<string, unknown> }
}

export function challengeOf(codeVerifier: string): string {
  return createHash('sha256').update(codeVerifier).digest('base64url')
}

export interface PreAuthorizeResult {
  response: DigiMeResponse
  codeVerifier: string
  state: string
  claims: Record<string, unknown>
}

/** `POST oauth/authorize` with a fresh PKCE pair and state; `claims` override the defaults. */
export async function preAuthorize(
  digiMe: DigiMeServer,
  claims: Record<string, unknown> = {},
  options: Omit<CallOptions, 'claims'> = {},
): Promise<PreAuthorizeResult> {
  const codeVerifier = randomBytes(32).toString('base64url')
  const state = randomBytes(12).toString('base64url')
  const allClaims = {
    code_challenge: challengeOf(codeVerifier),
    code_challenge_method: 'S256',
    redirect_uri: REDIRECT_URI,
    response_mode: 'query',
    response_type: 'code',
    state,
    ...claims,
  }
  const response = await call(digiMe, 'POST', 'oauth/authorize', {
    body: { agent: AGENT, actions: { pull: { limits: { duration: { sourceFetch: 60 } } } } },
    ...options,
    claims: allClaims,
  })
  return { response, codeVerifier, state, claims: allClaims }
}

/** The consent URL a client builds from a pre-authorization answer. */
export async function consentUrlOf(
  digiMe: DigiMeServer,
  preAuthorization: PreAuthorizeResult,
  keySet?: JSONWebKeySet,
): Promise<URL> {
  const { payload } = await verifySigned<{ preauthorization_code: string }>(
    digiMe,
    preAuthorization.response.body.token,
    keySet,
  )
  const url = new URL('authorize', digiMe.consentUrl)
  url.searchParams.set('code', payload.preauthorization_code)
  url.searchParams.set('sourceType', 'pull')
  return url
}

export function exchangeCode(
  digiMe: DigiMeServer,
  code: string,
  codeVerifier: string,
): Promise<DigiMeResponse> {
  return call(digiMe, 'POST', 'oauth/token', {
    claims: { grant_type: 'authorization_code', code, code_verifier: codeVerifier },
  })
}

export function refresh(digiMe: DigiMeServer, refreshToken: string): Promise<DigiMeResponse> {
  return call(digiMe, 'POST', 'oauth/token', {
    claims: { grant_type: 'refresh_token', refresh_token: refreshToken },
  })
}

export function trigger(digiMe: DigiMeServer, accessToken: string): Promise<DigiMeResponse> {
  return call(digiMe, 'POST', 'permission-access/trigger', {
    claims: { access_token: accessToken },
    body: { agent: AGENT, limits: { duration: { sourceFetch: 60 } } },
  })
}

export function query(
  digiMe: DigiMeServer,
  accessToken: string,
  sessionKey: string,
  file?: string,
): Promise<DigiMeResponse> {
  const path = `permission-access/query/${encodeURIComponent(sessionKey)}${file === undefined ? '' : `/${encodeURIComponent(file)}`}`
  return call(digiMe, 'GET', path, { claims: { access_token: accessToken } })
}

/** Pre-authorization, consent as `userId` (default: the server's), code exchange: the verified token payload. */
export async function authorize(digiMe: DigiMeServer, userId?: string): Promise<DigiMeTokenPayload> {
  const preAuthorization = await preAuthorize(digiMe)
  const consentUrl = await consentUrlOf(digiMe, preAuthorization)
  const callback = await driveDigiMeConsent(consentUrl, userId === undefined ? {} : { userId })
  const code = callback.searchParams.get('code')
  if (code === null) throw new Error(`consent did not succeed: ${callback.search}`)
  const response = await exchangeCode(digiMe, code, preAuthorization.codeVerifier)
  if (response.status !== 200) throw new Error(`code exchange answered ${response.status}`)
  return (await verifySigned<DigiMeTokenPayload>(digiMe, response.body.token)).payload
}

/** An unsigned (`alg: none`) JWT with the given claims. */
export function unsecuredJWT(claims: Record<string, unknown>): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
  return `${encode({ alg: 'none', typ: 'JWT' })}.${encode(claims)}.`
}
