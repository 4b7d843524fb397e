import { createPublicKey, type KeyObject, randomBytes, randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  type DigiMeFileListEntry,
  type DigiMeListeningHistoryFile,
  type DigiMePlay,
  fileUpdatedDate,
  generateListeningHistory,
  toListeningHistoryFiles,
} from './digime-data.js'
import { DigiMeRefusalError, refuse } from './digime-errors.js'
import { DigiMeGrants, type DigiMeTokenPayload, type PreAuthorization } from './digime-grants.js'
import {
  DIGIME_ALGORITHM,
  type DigiMeKeyInput,
  type DigiMeKeySetEntry,
  generateDigiMeContractKey,
  generateServerSigningKey,
  loadJose,
  type ServerSigningKey,
  signResponse,
  toKeySetEntry,
  toRSAPrivateKey,
  toRSAPublicKey,
} from './digime-jwt.js'
import { type DigiMeRefusal, type DigiMeServerStats, DigiMeStats } from './digime-stats.js'
import { readRequestBody } from './request-body.js'

export type {
  DigiMeFileListEntry,
  DigiMeListeningHistoryFile,
  DigiMePlay,
} from './digime-data.js'
export type { DigiMeTokenPayload } from './digime-grants.js'
export type { DigiMeContractKey, DigiMeKeyInput, DigiMeKeySetEntry } from './digime-jwt.js'
export type {
  DigiMeReceivedRequest,
  DigiMeRefusal,
  DigiMeRefusalReason,
  DigiMeServerStats,
} from './digime-stats.js'

/**
 * How the consent web client answers, in the form the callback reads:
 *
 * - `'success'`: `success=true&state=…&code=…`
 * - `'cancel'`: `success=false&errorCode=USER_CANCEL&state=…`
 * - `'error'`: `success=false&errorCode=<consentErrorCode>&state=…`
 * - `'legacy-success'`: `result=SUCCESS&code=…&state=…`
 * - `'legacy-cancel'`: `result=CANCEL&state=…`
 * - `'legacy-error'`: `result=ERROR&state=…`
 */
export type DigiMeConsentOutcome =
  | 'success'
  | 'cancel'
  | 'error'
  | 'legacy-success'
  | 'legacy-cancel'
  | 'legacy-error'

/** The `errorCode` of a failed consent (other than the user's `USER_CANCEL`). */
export type DigiMeConsentErrorCode =
  | 'SERVER_ERROR'
  | 'ONBOARD_ERROR'
  | 'INITIALIZE_CHECK_FAIL'
  | 'INVALID_CODE'

/** Options of {@link startDigiMeServer}. */
export interface DigiMeServerOptions {
  /** The app's application id. Default: 32 random hex digits. */
  applicationId?: string
  /** The contract id. Default: 32 random hex digits. */
  contractId?: string
  /**
   * The contract's RSA public key (2048 bits or more), which request JWTs must verify with: a
   * `KeyObject`, a PEM (SPKI, PKCS#1, or a private key whose public half is taken) or a JWK.
   * Default: a key pair generated at start, whose private half is in
   * {@link DigiMeServer.contract}.
   */
  contractPublicKey?: DigiMeKeyInput
  /**
   * Redirect URIs the contract may use, in addition to the defaults (`http://127.0.0.1/callback`,
   * `http://localhost/callback`, `http://127.0.0.1/auth/callback`,
   * `http://localhost/auth/callback`). Compared exactly, except that loopback `http` URIs match
   * on any port (RFC 8252 section 7.3).
   */
  redirectUris?: string[]
  /** Port to listen on, on 127.0.0.1. Default `0` (a free port). */
  port?: number
  /** Lifetime of access tokens (`access_token.expires_on` − now). Default `60`. */
  accessTokenTTLSeconds?: number
  /**
   * Lifetime of the grant's first refresh token. Every rotated refresh token keeps that first
   * expiry, so the user must consent again once it passes. Default `3600`.
   */
  refreshTokenTTLSeconds?: number
  /**
   * Replace the refresh token on every refresh, strictly: presenting an already rotated refresh
   * token gets 401 `InvalidToken` and revokes the whole grant. `false` keeps one refresh token
   * for the grant's life. Default `true`.
   */
  rotateRefreshToken?: boolean
  /**
   * How far (either way) a request JWT's `timestamp` may be from the server's clock, in ms.
   * Default `60000`.
   */
  timestampToleranceMs?: number
  /** How the consent web client answers; see {@link DigiMeServer.setConsentOutcome}. Default `'success'`. */
  consentOutcome?: DigiMeConsentOutcome
  /** The `errorCode` of the `'error'` outcome. Default `'SERVER_ERROR'`. */
  consentErrorCode?: DigiMeConsentErrorCode
  /** The user who consents when the consent URL names none (`userId` query parameter). Default `'alice'`. */
  defaultUserId?: string
  /**
   * A user's listening history, served through `permission-access/query`, one file per month.
   * Default: a generated history, the same for the same user on every run.
   */
  listeningHistory?: (userId: string) => DigiMePlay[]
}

/** The contract registered at a {@link DigiMeServer}. */
export interface DigiMeContract {
  applicationId: string
  contractId: string
  /** `${applicationId}_${contractId}`, the `client_id` claim of every request JWT. */
  clientId: string
  /** The public key request JWTs must verify with. */
  publicKey: KeyObject
  /** The private key, when the server generated the contract key (no `contractPublicKey` given). */
  privateKey: KeyObject | undefined
  /** The same private key as a PKCS#8 PEM, when the server generated it. */
  privateKeyPem: string | undefined
}

/** Options of {@link DigiMeServer.forgeNextTokenResponse}. */
export interface ForgeNextTokenResponseOptions {
  /** The RSA private key to sign with (`KeyObject`, PEM or JWK). Default: a fresh key. */
  key?: DigiMeKeyInput
  /** The `jku` header to name. Default: `https://attacker.invalid/v1.7/jwks/oauth`. */
  jku?: string
  /** The `kid` header. Default: a fresh random id (one the real key set does not have). */
  kid?: string
}

/** What {@link DigiMeServer.forgeNextTokenResponse} will sign with, to serve at `jku` if wanted. */
export interface ForgeNextTokenResponseResult {
  kid: string
  jku: string
  /** A key set holding the forging key's public half, in the form digi.me serves. */
  keySet: { keys: DigiMeKeySetEntry[] }
}

/** A running digi.me-compatible test server; see {@link startDigiMeServer}. */
export interface DigiMeServer {
  /** The origin, e.g. `http://127.0.0.1:54321` (no trailing slash). */
  url: string
  /** The API base URL, `{url}/v1.7/`: every call's path is relative to it. */
  baseUrl: string
  /** The consent web client, `{url}/apps/saas/`. */
  consentUrl: string
  /** The key set the server's signed responses verify with, `{baseUrl}jwks/oauth`. */
  keySetUrl: string
  /** The registered contract. */
  contract: DigiMeContract
  /** Every registered redirect URI, defaults included. */
  redirectUris: string[]
  /** Counters since start or the last {@link DigiMeServer.resetStats}. */
  stats(): DigiMeServerStats
  /** Sets every counter back to zero (the server still remembers every nonce it has seen). */
  resetStats(): void
  /**
   * Sets how the consent web client answers from now on.
   *
   * @param outcome - The outcome and the callback form.
   * @param options - `errorCode` for `'error'` (default: the server's `consentErrorCode`).
   * @throws TypeError for an unknown outcome or error code.
   */
  setConsentOutcome(outcome: DigiMeConsentOutcome, options?: { errorCode?: DigiMeConsentErrorCode }): void
  /**
   * Makes the next `count` data calls (trigger and query) answer 401 `InvalidToken` ("The token
   * (access_token) is invalid") whatever their access token, as when it expired early. Replaces
   * any count still pending; `0` cancels.
   *
   * @throws TypeError when `count` is not a non-negative integer.
   */
  failNextDataCalls(count: number): void
  /** Expires now every access token issued (to `userId`'s grants only, when given). */
  expireAccessTokens(userId?: string): void
  /** Expires now the refresh tokens of every grant (of `userId` only, when given). */
  expireRefreshTokens(userId?: string): void
  /**
   * Revokes every grant of a user and every token issued under them, as when the user withdraws
   * consent. Later refreshes and data calls get 401 `InvalidToken`.
   */
  revokeGrantsOf(userId: string): Promise<void>
  /**
   * Signs from now on with a fresh key under a new `kid`. The key set then lists the new key only,
   * or the new key first and the previous ones after it with `keepPrevious: true`.
   *
   * @returns The new `kid`.
   */
  rotateSigningKey(options?: { keepPrevious?: boolean }): Promise<{ kid: string }>
  /**
   * Signs the next successful token response (code exchange or refresh) with another key, and
   * names another `jku` and `kid` in its header. Its payload is genuine (the tokens in it work),
   * so only the signature and header tell it apart: a client that verifies against a pinned key
   * set refuses it, one that follows `jku` would accept it if `jku` served `keySet`.
   *
   * @throws TypeError when `key` is not an RSA private key or `jku` not an absolute URL.
   */
  forgeNextTokenResponse(options?: ForgeNextTokenResponseOptions): Promise<ForgeNextTokenResponseResult>
  /** The listening history the server serves for a user. */
  listeningHistoryOf(userId: string): DigiMePlay[]
  /** Stops the server and drops every open connection. */
  close(): Promise<void>
}

const API_PATH = '/v1.7/'
const CONSENT_PATH = '/apps/saas/'
const DEFAULT_REDIRECT_URIS = [
  'http://127.0.0.1/callback',
  'http://localhost/callback',
  'http://127.0.0.1/auth/callback',
  'http://localhost/auth/callback',
]
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]'])
const CONSENT_OUTCOMES: readonly DigiMeConsentOutcome[] = [
  'success',
  'cancel',
  'error',
  'legacy-success',
  'legacy-cancel',
  'legacy-error',
]
const CONSENT_ERROR_CODES: readonly DigiMeConsentErrorCode[] = [
  'SERVER_ERROR',
  'ONBOARD_ERROR',
  'INITIALIZE_CHECK_FAIL',
  'INVALID_CODE',
]
const DEFAULT_FORGED_JKU = 'https://attacker.invalid/v1.7/jwks/oauth'
const CODE_CHALLENGE = /^[A-Za-z0-9_-]{43}$/
const CODE_VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/
const MAX_NONCE_LENGTH = 256

interface Settings {
  applicationId: string
  contractId: string
  contractPublicKey: DigiMeKeyInput | undefined
  redirectUris: string[]
  port: number
  accessTokenTTLSeconds: number
  refreshTokenTTLSeconds: number
  rotateRefreshToken: boolean
  timestampToleranceMs: number
  consentOutcome: DigiMeConsentOutcome
  consentErrorCode: DigiMeConsentErrorCode
  defaultUserId: string
  listeningHistory: (userId: string) => DigiMePlay[]
}

type Claims = Record<string, unknown>

/**
 * Starts a digi.me-compatible server (API v1.7) on 127.0.0.1 for tests, built from the protocol
 * description: every call is authorized by a PS512 JWT the client signs with its contract key,
 * the token endpoint answers with a JWS signed by the server's own key (published at
 * `{baseUrl}jwks/oauth`), and data is read through `permission-access/trigger` and `query`.
 *
 * Paths, relative to {@link DigiMeServer.baseUrl} (`http://127.0.0.1:PORT/v1.7/`):
 * `POST oauth/authorize` (pre-authorization), `POST oauth/token` (code exchange and refresh),
 * `POST oauth/token/reference` (re-authorization), `GET jwks/oauth`,
 * `POST permission-access/trigger`, `GET permission-access/query/{sessionKey}[/{file}]`. The
 * consent web client ({@link DigiMeServer.consentUrl}) has `authorize` and `user-reauth`, and
 * redirects straight back with the configured outcome; {@link driveDigiMeConsent} follows it.
 *
 * It refuses a request JWT that is not PS512 or does not verify with the contract's key, an
 * unknown `client_id`, a reused `nonce` and a `timestamp` outside `timestampToleranceMs`; it
 * rotates refresh tokens strictly (reuse revokes the grant) while keeping the first refresh
 * token's expiry; it answers dead tokens with 401 `InvalidToken`. Errors have digi.me's form:
 * `{"error":{"code","message","reference"}}` and the `X-Error-Code`, `X-Error-Message` and
 * `X-Error-Reference` headers.
 *
 * @param options - Contract, redirect URIs, lifetimes, rotation, clock tolerance, consent outcome,
 *   users' data and port.
 * @returns The running server, its contract, its counters and its test controls.
 * @throws TypeError when an option is invalid.
 * @example
 * ```ts
 * const contractKey = await generateDigiMeContractKey()
 * const digiMe = await startDigiMeServer({ contractPublicKey: contractKey.publicKey })
 * try {
 *   // point the client under test at digiMe.baseUrl, digiMe.consentUrl and digiMe.keySetUrl,
 *   // with digiMe.contract.applicationId, digiMe.contract.contractId and contractKey.privateKeyPem
 *   expect(digiMe.stats().tokenCalls.refresh_token).toBe(1)
 *   expect(digiMe.stats().duplicateNonces).toBe(0)
 * } finally {
 *   await digiMe.close()
 * }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7636 PKCE
 * @see https://www.rfc-editor.org/rfc/rfc7523 JWT bearer client authentication
 */
export async function startDigiMeServer(options: DigiMeServerOptions = {}): Promise<DigiMeServer> {
  const settings = resolveSettings(options)
  const generatedContractKey =
    settings.contractPublicKey === undefined ? await generateDigiMeContractKey() : undefined
  const contract: DigiMeContract = {
    applicationId: settings.applicationId,
    contractId: settings.contractId,
    clientId: `${settings.applicationId}_${settings.contractId}`,
    publicKey:
      generatedContractKey?.publicKey ?? toRSAPublicKey(settings.contractPublicKey, 'contractPublicKey'),
    privateKey: generatedContractKey?.privateKey,
    privateKeyPem: generatedContractKey?.privateKeyPem,
  }
  const [jose, firstSigningKey] = await Promise.all([loadJose(), generateServerSigningKey()])

  const server = createServer({ keepAliveTimeout: 1_000 })
  await listen(server, settings.port)
  const { port } = server.address() as AddressInfo
  const origin = `http://127.0.0.1:${port}`
  const baseUrl = `${origin}${API_PATH}`
  const consentUrl = `${origin}${CONSENT_PATH}`
  const keySetUrl = `${baseUrl}jwks/oauth`

  const stats = new DigiMeStats()
  const counters = () => stats.counters
  const grants = new DigiMeGrants(settings, {
    grantRevoked: () => counters().grantsRevoked++,
    refreshTokenReused: () => counters().refreshTokenReuse++,
  })
  const usedNonces = new Set<string>()
  let signingKeys: ServerSigningKey[] = [firstSigningKey]
  let consentOutcome = settings.consentOutcome
  let consentErrorCode = settings.consentErrorCode
  let failingDataCalls = 0
  let forgery: { privateKey: KeyObject; kid: string; jku: string } | undefined

  /** Verifies the request JWT and its nonce and timestamp; returns its claims. */
  async function authenticate(req: IncomingMessage): Promise<Claims> {
    const jwt = bearerJWT(req)
    if (jwt === undefined) refuse('missing_jwt', 'The request has no JWT (Authorization: Bearer)')
    let claims: Claims
    let alg: unknown
    try {
      alg = jose.decodeProtectedHeader(jwt).alg
      claims = jose.decodeJwt(jwt)
    } catch {
      counters().unverifiedJwts++
      refuse('malformed_jwt', 'The JWT is malformed')
    }
    stats.countNonce(claims.nonce)
    if (alg !== DIGIME_ALGORITHM) {
      counters().unverifiedJwts++
      refuse('unsupported_alg', 'The JWT algorithm must be PS512')
    }
    if (claims.client_id !== contract.clientId) {
      counters().unverifiedJwts++
      refuse('unknown_client', 'The client (client_id) is unknown')
    }
    try {
      // The signature only: the claims are checked below, the digi.me way (no exp or iat).
      await jose.compactVerify(jwt, contract.publicKey, { algorithms: [DIGIME_ALGORITHM] })
    } catch {
      counters().unverifiedJwts++
      refuse('bad_signature', 'The JWT signature is invalid')
    }
    counters().verifiedJwts++
    const { nonce, timestamp } = claims
    if (typeof nonce !== 'string' || nonce === '' || nonce.length > MAX_NONCE_LENGTH) {
      refuse('invalid_claims', 'The nonce is missing or invalid')
    }
    if (typeof timestamp !== 'number' || !Number.isFinite(timestamp)) {
      refuse('invalid_claims', 'The timestamp is missing or invalid')
    }
    if (Math.abs(Date.now() - timestamp) > settings.timestampToleranceMs) {
      refuse('stale_timestamp', 'The timestamp is outside the accepted window')
    }
    if (usedNonces.has(nonce)) refuse('reused_nonce', 'The nonce has already been used')
    usedNonces.add(nonce)
    return claims
  }

  async function signWithServerKey(payload: Record<string, unknown>): Promise<string> {
    const key = signingKeys[0]!
    return signResponse(payload, key.privateKey, { jku: keySetUrl, kid: key.kid })
  }

  async function pushAuthorization(
    kind: PreAuthorization['kind'],
    claims: Claims,
    body: unknown,
  ): Promise<{ token: string; session: { key: string; expiry: number } }> {
    requireAgent(body)
    if (kind === 'authorize') {
      if (claims.response_type !== 'code') refuse('invalid_claims', 'The response_type must be code')
      if (claims.response_mode !== 'query') refuse('invalid_claims', 'The response_mode must be query')
    }
    if (claims.code_challenge_method === undefined) {
      refuse('invalid_claims', 'The code_challenge_method is missing')
    }
    if (claims.code_challenge_method !== 'S256') {
      refuse('unsupported_challenge_method', 'The code_challenge_method must be S256')
    }
    const codeChallenge = claims.code_challenge
    if (typeof codeChallenge !== 'string' || !CODE_CHALLENGE.test(codeChallenge)) {
      refuse('invalid_claims', 'The code_challenge is missing or invalid')
    }
    const redirectUri = claims.redirect_uri
    if (typeof redirectUri !== 'string' || !isRegisteredRedirectUri(redirectUri, settings.redirectUris)) {
      refuse('invalid_redirect_uri', 'The redirect_uri is not registered for this contract')
    }
    const state = claims.state
    if (typeof state !== 'string' || state === '') refuse('invalid_claims', 'The state is missing')
    let userId: string | undefined
    if (kind === 'reauthorize') {
      if (typeof claims.access_token !== 'string') refuse('invalid_claims', 'The access_token is missing')
      userId = grants.userOfAnyAccessToken(contract.clientId, claims.access_token)
    }
    const preAuthorization = grants.createPreAuthorization({
      kind,
      clientId: contract.clientId,
      codeChallenge,
      redirectUri,
      state,
      ...(userId === undefined ? {} : { userId }),
    })
    const codeClaim = kind === 'authorize' ? 'preauthorization_code' : 'reference_code'
    return {
      token: await signWithServerKey({ [codeClaim]: preAuthorization.code }),
      session: preAuthorization.session,
    }
  }

  async function issueTokens(claims: Claims): Promise<{ token: string }> {
    let payload: DigiMeTokenPayload
    if (claims.grant_type === 'authorization_code') {
      const { code, code_verifier: codeVerifier, redirect_uri: redirectUri } = claims
      if (typeof code !== 'string' || code === '') refuse('invalid_claims', 'The code is missing')
      if (typeof codeVerifier !== 'string' || !CODE_VERIFIER.test(codeVerifier)) {
        refuse('invalid_claims', 'The code_verifier is missing or invalid')
      }
      if (redirectUri !== undefined && typeof redirectUri !== 'string') {
        refuse('invalid_claims', 'The redirect_uri is invalid')
      }
      payload = grants.exchangeCode(contract.clientId, code, codeVerifier, redirectUri)
    } else if (claims.grant_type === 'refresh_token') {
      const refreshToken = claims.refresh_token
      if (typeof refreshToken !== 'string' || refreshToken === '') {
        refuse('invalid_claims', 'The refresh_token is missing')
      }
      payload = grants.refresh(contract.clientId, refreshToken)
    } else {
      refuse('unsupported_grant_type', 'The grant_type must be authorization_code or refresh_token')
    }
    const forged = forgery
    forgery = undefined
    if (forged) {
      counters().forgedResponses++
      return { token: await signResponse({ ...payload }, forged.privateKey, forged) }
    }
    return { token: await signWithServerKey({ ...payload }) }
  }

  /** The grant of a data call's access token, after any failure the test asked for. */
  function authorizeDataCall(claims: Claims): ReturnType<DigiMeGrants['grantOfAccessToken']> {
    const accessToken = claims.access_token
    if (typeof accessToken !== 'string' || accessToken === '') {
      refuse('invalid_claims', 'The access_token is missing')
    }
    if (failingDataCalls > 0) {
      failingDataCalls--
      refuse('forced_invalid_token', 'The token (access_token) is invalid')
    }
    return grants.grantOfAccessToken(contract.clientId, accessToken)
  }

  function filesOf(userId: string): Map<string, DigiMeListeningHistoryFile> {
    return toListeningHistoryFiles(settings.listeningHistory(userId))
  }

  async function handleApi(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const query = /^permission-access\/query\/([^/]+)(?:\/([^/]+))?$/.exec(path)
    if (path === 'jwks/oauth') {
      requireMethod(req, 'GET')
      counters().keySetFetches++
      sendJSON(res, 200, { keys: signingKeys.map(toKeySetEntry) })
    } else if (path === 'oauth/authorize' || path === 'oauth/token/reference') {
      requireMethod(req, 'POST')
      const kind = path === 'oauth/authorize' ? 'authorize' : 'reauthorize'
      if (kind === 'authorize') counters().preAuthorizations++
      else counters().reauthorizations++
      const raw = await readRequestBodyWithin(req)
      const claims = await authenticate(req)
      const body = parseJSON(raw)
      if (kind === 'authorize') counters().lastPreAuthorization = { claims, body }
      sendJSON(res, 200, await pushAuthorization(kind, claims, body))
    } else if (path === 'oauth/token') {
      requireMethod(req, 'POST')
      stats.countTokenCall(peekClaims(req)?.grant_type)
      await readRequestBodyWithin(req)
      sendJSON(res, 200, await issueTokens(await authenticate(req)))
    } else if (path === 'permission-access/trigger') {
      requireMethod(req, 'POST')
      stats.countDataCall('trigger')
      const raw = await readRequestBodyWithin(req)
      const claims = await authenticate(req)
      requireAgent(parseJSON(raw))
      const grant = authorizeDataCall(claims)
      sendJSON(res, 202, { session: grants.createSession(grant) })
    } else if (query) {
      requireMethod(req, 'GET')
      const [, sessionKey = '', fileName] = query
      stats.countDataCall(fileName === undefined ? 'fileList' : 'file')
      await readRequestBodyWithin(req)
      const grant = authorizeDataCall(await authenticate(req))
      grants.checkSession(decodeSegment(sessionKey), grant)
      const files = filesOf(grant.userId)
      if (fileName === undefined) {
        sendJSON(res, 200, {
          status: { state: 'completed' },
          fileList: [...files].map(
            ([name, file]): DigiMeFileListEntry => ({ name, updatedDate: fileUpdatedDate(file) }),
          ),
        })
      } else {
        const file = files.get(decodeSegment(fileName))
        if (!file) refuse('not_found', 'The file was not found')
        sendJSON(res, 200, file)
      }
    } else {
      refuse('not_found', 'The resource was not found')
    }
  }

  async function handleConsent(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const page = url.pathname.slice(CONSENT_PATH.length)
    if (page !== 'authorize' && page !== 'user-reauth') refuse('not_found', 'The page was not found')
    requireMethod(req, 'GET')
    const kind = page === 'authorize' ? 'authorize' : 'reauthorize'
    const code = url.searchParams.get('code')
    const preAuthorization = code ? grants.findPreAuthorization(code) : undefined
    const invalid = (message: string): void => {
      counters().consents.invalid++
      sendError(res, { status: 400, code: 'InvalidRequest', message })
    }
    if (!preAuthorization || preAuthorization.kind !== kind) {
      invalid('The code is unknown')
      return
    }
    if (kind === 'authorize' && url.searchParams.get('sourceType') !== 'pull') {
      invalid('The sourceType must be pull')
      return
    }
    const legacy = consentOutcome.startsWith('legacy-')
    const callback = new URL(preAuthorization.redirectUri)
    const set = (params: Record<string, string>): void => {
      for (const [name, value] of Object.entries(params)) callback.searchParams.set(name, value)
    }
    const { state } = preAuthorization
    if (preAuthorization.used || Date.now() >= preAuthorization.expiresAt) {
      counters().consents.invalid++
      if (legacy) set({ result: 'ERROR', state })
      else set({ success: 'false', errorCode: 'INVALID_CODE', state })
    } else {
      preAuthorization.used = true
      const userId = preAuthorization.userId ?? (url.searchParams.get('userId') || settings.defaultUserId)
      switch (consentOutcome) {
        case 'success':
          set({ success: 'true', state, code: grants.issueAuthorizationCode(preAuthorization, userId) })
          break
        case 'legacy-success':
          set({ result: 'SUCCESS', code: grants.issueAuthorizationCode(preAuthorization, userId), state })
          break
        case 'cancel':
          set({ success: 'false', errorCode: 'USER_CANCEL', state })
          break
        case 'legacy-cancel':
          set({ result: 'CANCEL', state })
          break
        case 'error':
          set({ success: 'false', errorCode: consentErrorCode, state })
          break
        case 'legacy-error':
          set({ result: 'ERROR', state })
          break
      }
      counters().consents[consentOutcome.replace('legacy-', '') as 'success' | 'cancel' | 'error']++
    }
    res.writeHead(302, { location: callback.href, 'cache-control': 'no-store' })
    res.end()
  }

  server.on('request', function handleRequest(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', origin)
    const handled = url.pathname.startsWith(API_PATH)
      ? handleApi(req, res, url.pathname.slice(API_PATH.length))
      : url.pathname.startsWith(CONSENT_PATH)
        ? handleConsent(req, res, url)
        : Promise.reject(new DigiMeRefusalError('not_found', 'The resource was not found'))
    handled.catch((error: unknown) => {
      if (error instanceof DigiMeRefusalError) {
        stats.countRefusal(error.refusal)
        sendError(res, error.refusal)
      } else {
        sendError(res, { status: 500, code: 'ServerError', message: 'The server failed' })
      }
    })
  })

  let closing: Promise<void> | undefined
  return {
    url: origin,
    baseUrl,
    consentUrl,
    keySetUrl,
    contract,
    redirectUris: [...settings.redirectUris],
    stats: () => stats.snapshot(),
    resetStats: () => stats.reset(),
    setConsentOutcome(outcome, outcomeOptions = {}) {
      if (!CONSENT_OUTCOMES.includes(outcome)) {
        throw new TypeError(`outcome must be one of ${CONSENT_OUTCOMES.join(', ')}`)
      }
      const errorCode = outcomeOptions.errorCode ?? settings.consentErrorCode
      if (!CONSENT_ERROR_CODES.includes(errorCode)) {
        throw new TypeError(`errorCode must be one of ${CONSENT_ERROR_CODES.join(', ')}`)
      }
      consentOutcome = outcome
      consentErrorCode = errorCode
    },
    failNextDataCalls(count) {
      if (!Number.isInteger(count) || count < 0) throw new TypeError('count must be a non-negative integer')
      failingDataCalls = count
    },
    expireAccessTokens: (userId) => grants.expireAccessTokens(userId),
    expireRefreshTokens: (userId) => grants.expireRefreshTokens(userId),
    revokeGrantsOf: async (userId) => {
      grants.revokeGrantsOf(userId)
    },
    async rotateSigningKey(rotateOptions = {}) {
      const key = await generateServerSigningKey()
      signingKeys = rotateOptions.keepPrevious ? [key, ...signingKeys] : [key]
      return { kid: key.kid }
    },
    async forgeNextTokenResponse(forgeOptions = {}) {
      const { jku = DEFAULT_FORGED_JKU, kid = randomUUID() } = forgeOptions
      if (typeof jku !== 'string' || !URL.canParse(jku)) throw new TypeError('jku must be an absolute URL')
      if (typeof kid !== 'string' || kid === '') throw new TypeError('kid must be a non-empty string')
      const privateKey =
        forgeOptions.key === undefined
          ? (await generateServerSigningKey()).privateKey
          : toRSAPrivateKey(forgeOptions.key, 'key')
      forgery = { privateKey, kid, jku }
      return { kid, jku, keySet: { keys: [toKeySetEntry({ kid, publicKey: createPublicKey(privateKey) })] } }
    },
    listeningHistoryOf: (userId) => settings.listeningHistory(userId),
    close: () => {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()))
        server.closeAllConnections()
      })
      return closing
    },
  }
}

function resolveSettings(options: DigiMeServerOptions): Settings {
  const positiveInteger = (name: string, value: number | undefined, fallback: number): number => {
    if (value === undefined) return fallback
    if (!Number.isInteger(value) || value <= 0) throw new TypeError(`${name} must be a positive integer`)
    return value
  }
  const nonEmptyString = (name: string, value: string | undefined, fallback: () => string): string => {
    if (value === undefined) return fallback()
    if (typeof value !== 'string' || value === '') throw new TypeError(`${name} must be a non-empty string`)
    return value
  }
  const randomId = () => randomBytes(16).toString('hex')
  const port = options.port ?? 0
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new TypeError('port must be an integer from 0 to 65535')
  }
  if (options.rotateRefreshToken !== undefined && typeof options.rotateRefreshToken !== 'boolean') {
    throw new TypeError('rotateRefreshToken must be a boolean')
  }
  const redirectUris = options.redirectUris ?? []
  if (!Array.isArray(redirectUris)) throw new TypeError('redirectUris must be an array of absolute URIs')
  for (const uri of redirectUris) {
    if (typeof uri !== 'string' || !URL.canParse(uri)) {
      throw new TypeError(`redirectUris must contain absolute URIs, got ${JSON.stringify(uri)}`)
    }
  }
  const consentOutcome = options.consentOutcome ?? 'success'
  if (!CONSENT_OUTCOMES.includes(consentOutcome)) {
    throw new TypeError(`consentOutcome must be one of ${CONSENT_OUTCOMES.join(', ')}`)
  }
  const consentErrorCode = options.consentErrorCode ?? 'SERVER_ERROR'
  if (!CONSENT_ERROR_CODES.includes(consentErrorCode)) {
    throw new TypeError(`consentErrorCode must be one of ${CONSENT_ERROR_CODES.join(', ')}`)
  }
  if (options.listeningHistory !== undefined && typeof options.listeningHistory !== 'function') {
    throw new TypeError('listeningHistory must be a function')
  }
  if (options.contractPublicKey !== undefined) {
    toRSAPublicKey(options.contractPublicKey, 'contractPublicKey')
  }
  return {
    applicationId: nonEmptyString('applicationId', options.applicationId, randomId),
    contractId: nonEmptyString('contractId', options.contractId, randomId),
    contractPublicKey: options.contractPublicKey,
    redirectUris: [...new Set([...DEFAULT_REDIRECT_URIS, ...redirectUris])],
    port,
    accessTokenTTLSeconds: positiveInteger('accessTokenTTLSeconds', options.accessTokenTTLSeconds, 60),
    refreshTokenTTLSeconds: positiveInteger('refreshTokenTTLSeconds', options.refreshTokenTTLSeconds, 3600),
    rotateRefreshToken: options.rotateRefreshToken ?? true,
    timestampToleranceMs: positiveInteger('timestampToleranceMs', options.timestampToleranceMs, 60_000),
    consentOutcome,
    consentErrorCode,
    defaultUserId: nonEmptyString('defaultUserId', options.defaultUserId, () => 'alice'),
    listeningHistory: options.listeningHistory ?? generateListeningHistory,
  }
}

/** Exact match, except that a loopback `http` URI matches on any port (RFC 8252 section 7.3). */
function isRegisteredRedirectUri(uri: string, registered: string[]): boolean {
  if (!URL.canParse(uri)) return false
  const candidate = new URL(uri)
  return registered.some((entry) => {
    if (entry === uri) return true
    const known = new URL(entry)
    return (
      known.protocol === 'http:' &&
      candidate.protocol === 'http:' &&
      LOOPBACK_HOSTS.has(known.hostname) &&
      candidate.hostname === known.hostname &&
      candidate.username === '' &&
      candidate.password === '' &&
      candidate.pathname === known.pathname &&
      candidate.search === known.search &&
      candidate.hash === ''
    )
  })
}

function bearerJWT(req: IncomingMessage): string | undefined {
  return /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '')?.[1]
}

/** The request JWT's claims, unverified, for counting a call on arrival. */
function peekClaims(req: IncomingMessage): Claims | undefined {
  const payload = bearerJWT(req)?.split('.')[1]
  if (payload === undefined) return undefined
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
    return typeof claims === 'object' && claims !== null ? (claims as Claims) : undefined
  } catch {
    return undefined
  }
}

function requireAgent(body: unknown): void {
  const sdk = (body as { agent?: { sdk?: { name?: unknown; version?: unknown } } } | undefined)?.agent?.sdk
  if (typeof sdk?.name !== 'string' || typeof sdk.version !== 'string') {
    refuse('invalid_body', 'The body must be JSON with agent.sdk.name and agent.sdk.version')
  }
}

function requireMethod(req: IncomingMessage, method: 'GET' | 'POST'): void {
  if (req.method !== method) refuse('method_not_allowed', `The method must be ${method}`)
}

async function readRequestBodyWithin(req: IncomingMessage): Promise<Buffer> {
  const body = await readRequestBody(req)
  if (!body) refuse('body_too_large', 'The body is too large')
  return body
}

/** The JSON body, or `undefined` when there is none or it is not JSON. */
function parseJSON(body: Buffer): unknown {
  try {
    return body.length === 0 ? undefined : JSON.parse(body.toString('utf8'))
  } catch {
    return undefined
  }
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    refuse('not_found', 'The resource was not found')
  }
}

function sendJSON(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' })
  res.end(JSON.stringify(body))
}

function sendError(res: ServerResponse, error: Omit<DigiMeRefusal, 'reason'>): void {
  if (res.headersSent) {
    res.end()
    return
  }
  const reference = randomUUID()
  res.writeHead(error.status, {
    'content-type': 'application/json',
    'cache-control': 'no-store',
    'x-error-code': error.code,
    'x-error-message': error.message,
    'x-error-reference': reference,
  })
  res.end(JSON.stringify({ error: { code: error.code, message: error.message, reference } }))
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
}
