import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto'
import { decodeProtectedHeader } from 'jose'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  type DigiMeConsentOutcome,
  type DigiMeServer,
  type DigiMeServerStats,
  type DigiMeTokenPayload,
  driveDigiMeConsent,
  generateDigiMeContractKey,
  startDigiMeServer,
} from '../src/index.js'
import {
  AGENT,
  authorize,
  call,
  challengeOf,
  consentUrlOf,
  exchangeCode,
  fetchKeySet,
  preAuthorize,
  query,
  REDIRECT_URI,
  refresh,
  signRequest,
  trigger,
  unsecuredJWT,
  verifySigned,
} from './digime-client.js'

const ACCESS_TTL = 30
const REFRESH_TTL = 600

/** Every refusal reason at zero, except those given. */
function refused(counts: Partial<DigiMeServerStats['refused']> = {}): DigiMeServerStats['refused'] {
  const zero = Object.fromEntries(
    Object.keys(emptyRefused).map((reason) => [reason, 0]),
  ) as DigiMeServerStats['refused']
  return { ...zero, ...counts }
}
let emptyRefused: DigiMeServerStats['refused']

function expectError(
  response: { status: number; headers: Headers; body: { error?: Record<string, unknown> } },
  status: number,
  code: string,
  message?: string | RegExp,
): void {
  expect(response.status).toBe(status)
  expect(response.body.error).toEqual({
    code,
    message:
      message === undefined
        ? expect.any(String)
        : message instanceof RegExp
          ? expect.stringMatching(message)
          : message,
    reference: expect.any(String),
  })
  expect(response.headers.get('x-error-code')).toBe(code)
  expect(response.headers.get('x-error-message')).toBe(response.body.error?.message)
  expect(response.headers.get('x-error-reference')).toBe(response.body.error?.reference)
}

describe('startDigiMeServer', () => {
  let digiMe: DigiMeServer

  beforeAll(async () => {
    digiMe = await startDigiMeServer({
      accessTokenTTLSeconds: ACCESS_TTL,
      refreshTokenTTLSeconds: REFRESH_TTL,
      applicationId: 'app-1',
      contractId: 'contract-1',
    })
    emptyRefused = digiMe.stats().refused
  })
  afterAll(() => digiMe.close())
  afterEach(() => {
    vi.useRealTimers()
    digiMe.setConsentOutcome('success')
    digiMe.failNextDataCalls(0)
  })

  it('listens on loopback with the v1.7 base, the consent web client and the key set under it', async () => {
    expect(digiMe.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(digiMe.baseUrl).toBe(`${digiMe.url}/v1.7/`)
    expect(digiMe.consentUrl).toBe(`${digiMe.url}/apps/saas/`)
    expect(digiMe.keySetUrl).toBe(`${digiMe.url}/v1.7/jwks/oauth`)
    expect(digiMe.contract).toMatchObject({
      applicationId: 'app-1',
      contractId: 'contract-1',
      clientId: 'app-1_contract-1',
    })
    expect(digiMe.contract.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/)
    expect(digiMe.redirectUris).toContain('http://127.0.0.1/callback')
  })

  it('publishes its key set without authentication: kid, kty, n, e and a PKCS#1 pem of the same key', async () => {
    digiMe.resetStats()
    const response = await fetch(digiMe.keySetUrl)
    expect(response.status).toBe(200)
    const { keys } = (await response.json()) as { keys: Array<Record<string, string>> }
    expect(keys).toHaveLength(1)
    const [key] = keys
    expect(key).toEqual({
      kid: expect.any(String),
      kty: 'RSA',
      n: expect.any(String),
      e: 'AQAB',
      alg: 'PS512',
      use: 'sig',
      pem: expect.stringMatching(/^-----BEGIN RSA PUBLIC KEY-----\n/),
    })
    const fromPem = createPublicKey(key!.pem!).export({ format: 'jwk' })
    expect(fromPem.n).toBe(key!.n)
    expect(digiMe.stats().keySetFetches).toBe(1)
  })

  it('runs pre-authorization, consent, code exchange, refreshes and data, and counts every call', async () => {
    digiMe.resetStats()
    const keySet = await fetchKeySet(digiMe)
    const preAuthorization = await preAuthorize(digiMe)
    expect(preAuthorization.response.status).toBe(200)
    const { token, session } = preAuthorization.response.body
    expect(session).toEqual({ key: expect.any(String), expiry: expect.any(Number) })
    expect(session.expiry).toBeGreaterThan(Date.now())
    const preAuthorizationJWS = await verifySigned<Record<string, unknown>>(digiMe, token, keySet)
    expect(preAuthorizationJWS.header).toEqual({
      alg: 'PS512',
      typ: 'JWT',
      jku: digiMe.keySetUrl,
      kid: keySet.keys[0]!.kid,
    })
    expect(Object.keys(preAuthorizationJWS.payload)).toEqual(['preauthorization_code'])

    const consentUrl = await consentUrlOf(digiMe, preAuthorization, keySet)
    const callback = await driveDigiMeConsent(consentUrl, { userId: 'bob' })
    expect(callback.origin + callback.pathname).toBe(REDIRECT_URI)
    expect([...callback.searchParams.keys()]).toEqual(['success', 'state', 'code'])
    expect(callback.searchParams.get('success')).toBe('true')
    expect(callback.searchParams.get('state')).toBe(preAuthorization.state)

    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() })
    const exchanged = await exchangeCode(
      digiMe,
      callback.searchParams.get('code')!,
      preAuthorization.codeVerifier,
    )
    expect(exchanged.status).toBe(200)
    expect(Object.keys(exchanged.body)).toEqual(['token'])
    const first = await verifySigned<DigiMeTokenPayload>(digiMe, exchanged.body.token, keySet)
    expect(first.header).toMatchObject({ alg: 'PS512', typ: 'JWT', jku: digiMe.keySetUrl })
    const nowSeconds = Math.floor(Date.now() / 1000)
    expect(first.payload).toEqual({
      access_token: { value: expect.any(String), expires_on: nowSeconds + ACCESS_TTL },
      refresh_token: { value: expect.any(String), expires_on: nowSeconds + REFRESH_TTL },
      token_type: 'Bearer',
      sub: expect.any(String),
      consentid: expect.any(String),
      identifier: { id: 'bob' },
    })

    // Ten seconds later: both tokens rotate, the refresh token keeps the first expiry.
    vi.setSystemTime(Date.now() + 10_000)
    const refreshed = await refresh(digiMe, first.payload.refresh_token.value)
    expect(refreshed.status).toBe(200)
    const second = (await verifySigned<DigiMeTokenPayload>(digiMe, refreshed.body.token, keySet)).payload
    expect(second.access_token.value).not.toBe(first.payload.access_token.value)
    expect(second.refresh_token.value).not.toBe(first.payload.refresh_token.value)
    expect(second.access_token.expires_on).toBe(nowSeconds + 10 + ACCESS_TTL)
    expect(second.refresh_token.expires_on).toBe(first.payload.refresh_token.expires_on)
    expect(second).toMatchObject({
      sub: first.payload.sub,
      consentid: first.payload.consentid,
      identifier: { id: 'bob' },
    })

    vi.setSystemTime(Date.now() + 10_000)
    const third = (
      await verifySigned<DigiMeTokenPayload>(
        digiMe,
        (
          await refresh(digiMe, second.refresh_token.value)
        ).body.token,
        keySet,
      )
    ).payload
    expect(third.refresh_token.expires_on).toBe(first.payload.refresh_token.expires_on)
    vi.useRealTimers()

    const triggered = await trigger(digiMe, third.access_token.value)
    expect(triggered.status).toBe(202)
    expect(triggered.body).toEqual({ session: { key: expect.any(String), expiry: expect.any(Number) } })
    const sessionKey = triggered.body.session.key as string

    const list = await query(digiMe, third.access_token.value, sessionKey)
    expect(list.status).toBe(200)
    expect(list.body).toEqual({
      status: { state: 'completed' },
      fileList: [
        { name: 'listening-history-2024-01.json', updatedDate: expect.any(Number) },
        { name: 'listening-history-2024-02.json', updatedDate: expect.any(Number) },
        { name: 'listening-history-2024-03.json', updatedDate: expect.any(Number) },
      ],
    })

    const file = await query(digiMe, third.access_token.value, sessionKey, 'listening-history-2024-02.json')
    expect(file.status).toBe(200)
    const history = digiMe.listeningHistoryOf('bob')
    expect(file.body).toEqual({
      fileMetadata: {
        objectType: 'playhistory',
        serviceGroup: 'entertainment',
        serviceName: 'music',
        period: '2024-02',
        objectCount: 12,
      },
      fileData: history.filter((play) => play.playedAt.startsWith('2024-02')),
    })
    expect(file.body.fileData[0]).toEqual({
      id: expect.any(String),
      playedAt: expect.stringMatching(/^2024-02-\d\dT\d\d:\d\d:00\.000Z$/),
      title: expect.any(String),
      artist: expect.any(String),
      genres: expect.arrayContaining([expect.any(String)]),
      durationMs: expect.any(Number),
    })

    expect(digiMe.stats()).toEqual({
      preAuthorizations: 1,
      reauthorizations: 0,
      consents: { success: 1, cancel: 0, error: 0, invalid: 0 },
      tokenCalls: { authorization_code: 1, refresh_token: 2, total: 3 },
      dataCalls: { trigger: 1, fileList: 1, file: 1, total: 3 },
      keySetFetches: 1,
      verifiedJwts: 7,
      unverifiedJwts: 0,
      noncesSeen: 7,
      duplicateNonces: 0,
      refused: refused(),
      lastRefusal: undefined,
      refreshTokenReuse: 0,
      grantsRevoked: 0,
      forgedResponses: 0,
      lastPreAuthorization: {
        claims: {
          ...preAuthorization.claims,
          client_id: digiMe.contract.clientId,
          nonce: expect.any(String),
          timestamp: expect.any(Number),
        },
        body: { agent: AGENT, actions: { pull: { limits: { duration: { sourceFetch: 60 } } } } },
      },
    })
  })

  it('records the last pre-authorization claims for assertions', async () => {
    const { claims } = await preAuthorize(digiMe, { state: 'state-to-check' })
    expect(digiMe.stats().lastPreAuthorization?.claims).toMatchObject({
      code_challenge: claims.code_challenge,
      code_challenge_method: 'S256',
      redirect_uri: REDIRECT_URI,
      response_mode: 'query',
      response_type: 'code',
      state: 'state-to-check',
    })
  })

  describe('request JWTs', () => {
    it('refuses a reused nonce with 400 InvalidRequest, even in an otherwise new JWT, and counts it', async () => {
      digiMe.resetStats()
      const nonce = randomBytes(16).toString('hex')
      const first = await preAuthorize(digiMe, {}, { sign: { nonce } })
      expect(first.response.status).toBe(200)
      const replayed = await preAuthorize(digiMe, {}, { sign: { nonce } })
      expectError(replayed.response, 400, 'InvalidRequest', 'The nonce has already been used')
      const otherCall = await call(digiMe, 'POST', 'oauth/token', {
        claims: { grant_type: 'refresh_token', refresh_token: 'x' },
        sign: { nonce },
      })
      expectError(otherCall, 400, 'InvalidRequest', 'The nonce has already been used')
      const stats = digiMe.stats()
      expect(stats.refused).toEqual(refused({ reused_nonce: 2 }))
      expect(stats.noncesSeen).toBe(3)
      expect(stats.duplicateNonces).toBe(2)
      expect(stats.lastRefusal).toEqual({
        reason: 'reused_nonce',
        status: 400,
        code: 'InvalidRequest',
        message: 'The nonce has already been used',
      })
    })

    it('refuses the very same JWT sent twice', async () => {
      const jwt = await signRequest(digiMe, { grant_type: 'refresh_token', refresh_token: 'x' })
      expectError(await call(digiMe, 'POST', 'oauth/token', { jwt }), 401, 'InvalidToken')
      expectError(await call(digiMe, 'POST', 'oauth/token', { jwt }), 400, 'InvalidRequest', /nonce/)
    })

    it.each([
      ['a minute and a second old', -61_000],
      ['a minute and a second ahead', 61_000],
      ['in seconds instead of milliseconds', -Date.now() + Math.floor(Date.now() / 1000)],
    ])('refuses a timestamp %s with 400 InvalidRequest', async (_name, offset) => {
      digiMe.resetStats()
      const { response } = await preAuthorize(digiMe, {}, { sign: { timestamp: Date.now() + offset } })
      expectError(response, 400, 'InvalidRequest', 'The timestamp is outside the accepted window')
      expect(digiMe.stats().refused).toEqual(refused({ stale_timestamp: 1 }))
    })

    it('accepts a timestamp within the tolerance either way', async () => {
      for (const offset of [-55_000, 55_000]) {
        const { response } = await preAuthorize(digiMe, {}, { sign: { timestamp: Date.now() + offset } })
        expect(response.status).toBe(200)
      }
    })

    it.each([
      ['timestamp', { timestamp: 'now' }],
      ['nonce', { nonce: 42 }],
    ])('refuses a request whose %s claim is not usable with 400 InvalidRequest', async (_claim, claims) => {
      const jwt = await signRequest(digiMe, { grant_type: 'refresh_token', refresh_token: 'x', ...claims })
      expectError(await call(digiMe, 'POST', 'oauth/token', { jwt }), 400, 'InvalidRequest')
    })

    it('refuses an algorithm other than PS512 (RS256, PS256, none) with 401 InvalidJWT, and counts unverified JWTs', async () => {
      digiMe.resetStats()
      for (const alg of ['RS256', 'PS256']) {
        const { response } = await preAuthorize(digiMe, {}, { sign: { alg } })
        expectError(response, 401, 'InvalidJWT', 'The JWT algorithm must be PS512')
      }
      const none = unsecuredJWT({
        client_id: digiMe.contract.clientId,
        nonce: randomBytes(16).toString('hex'),
        timestamp: Date.now(),
        grant_type: 'refresh_token',
        refresh_token: 'x',
      })
      expectError(await call(digiMe, 'POST', 'oauth/token', { jwt: none }), 401, 'InvalidJWT')
      expect(digiMe.stats()).toMatchObject({
        refused: refused({ unsupported_alg: 3 }),
        unverifiedJwts: 3,
        verifiedJwts: 0,
        noncesSeen: 3,
      })
    })

    it('refuses an unknown client_id with 401 InvalidClient', async () => {
      digiMe.resetStats()
      const { response } = await preAuthorize(digiMe, {}, { sign: { clientId: 'app-1_other-contract' } })
      expectError(response, 401, 'InvalidClient', 'The client (client_id) is unknown')
      expect(digiMe.stats()).toMatchObject({ refused: refused({ unknown_client: 1 }), unverifiedJwts: 1 })
    })

    it('refuses a JWT signed with another key with 401 InvalidJWT', async () => {
      digiMe.resetStats()
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
      const { response } = await preAuthorize(digiMe, {}, { sign: { key: privateKey } })
      expectError(response, 401, 'InvalidJWT', 'The JWT signature is invalid')
      expect(digiMe.stats()).toMatchObject({ refused: refused({ bad_signature: 1 }), unverifiedJwts: 1 })
    })

    it('refuses a request without a JWT, or with garbage, with 401 InvalidJWT', async () => {
      digiMe.resetStats()
      expectError(await call(digiMe, 'POST', 'oauth/token', { jwt: null }), 401, 'InvalidJWT')
      expectError(await call(digiMe, 'POST', 'oauth/token', { jwt: 'not.a.jwt' }), 401, 'InvalidJWT')
      expect(digiMe.stats()).toMatchObject({
        refused: refused({ missing_jwt: 1, malformed_jwt: 1 }),
        tokenCalls: { authorization_code: 0, refresh_token: 0, total: 2 },
        unverifiedJwts: 1,
      })
    })
  })

  describe('pre-authorization', () => {
    it('refuses a code_challenge_method other than S256 with 400 InvalidRequest', async () => {
      const { response } = await preAuthorize(digiMe, { code_challenge_method: 'plain' })
      expectError(response, 400, 'InvalidRequest', 'The code_challenge_method must be S256')
    })

    it('refuses an unregistered redirect_uri with 400 InvalidRedirectUri; a loopback one matches on any port', async () => {
      const elsewhere = await preAuthorize(digiMe, { redirect_uri: 'http://127.0.0.1:4567/elsewhere' })
      expectError(elsewhere.response, 400, 'InvalidRedirectUri')
      const otherHost = await preAuthorize(digiMe, { redirect_uri: 'https://evil.example/callback' })
      expectError(otherHost.response, 400, 'InvalidRedirectUri')
      const otherPort = await preAuthorize(digiMe, { redirect_uri: 'http://127.0.0.1:9/auth/callback' })
      expect(otherPort.response.status).toBe(200)
    })

    it.each([
      ['response_type', { response_type: 'token' }],
      ['response_mode', { response_mode: 'fragment' }],
      ['state', { state: undefined }],
      ['code_challenge', { code_challenge: 'short' }],
    ])('refuses a wrong or missing %s with 400 InvalidRequest', async (_name, claims) => {
      const { response } = await preAuthorize(digiMe, claims)
      expectError(response, 400, 'InvalidRequest')
    })

    it('refuses a body without agent.sdk with 400 InvalidRequest', async () => {
      const { response } = await preAuthorize(digiMe, {}, { body: { actions: { pull: {} } } })
      expectError(response, 400, 'InvalidRequest', /agent\.sdk/)
    })
  })

  describe('code exchange', () => {
    async function consentedCode(): Promise<{ code: string; codeVerifier: string }> {
      const preAuthorization = await preAuthorize(digiMe)
      const callback = await driveDigiMeConsent(await consentUrlOf(digiMe, preAuthorization))
      return { code: callback.searchParams.get('code')!, codeVerifier: preAuthorization.codeVerifier }
    }

    it('refuses a code_verifier that does not match with 400 InvalidGrant, and uses the code up', async () => {
      digiMe.resetStats()
      const { code, codeVerifier } = await consentedCode()
      const wrong = await exchangeCode(digiMe, code, randomBytes(32).toString('base64url'))
      expectError(wrong, 400, 'InvalidGrant', 'The code_verifier does not match the code_challenge')
      const right = await exchangeCode(digiMe, code, codeVerifier)
      expectError(right, 400, 'InvalidGrant', 'The authorization code has already been used')
      expect(digiMe.stats().refused).toEqual(refused({ pkce_mismatch: 1, invalid_code: 1 }))
    })

    it('refuses a used code with 400 InvalidGrant and revokes the grant it was exchanged for', async () => {
      digiMe.resetStats()
      const { code, codeVerifier } = await consentedCode()
      const first = await exchangeCode(digiMe, code, codeVerifier)
      expect(first.status).toBe(200)
      const tokens = (await verifySigned<DigiMeTokenPayload>(digiMe, first.body.token)).payload
      expectError(await exchangeCode(digiMe, code, codeVerifier), 400, 'InvalidGrant')
      expectError(
        await refresh(digiMe, tokens.refresh_token.value),
        401,
        'InvalidToken',
        'The token (refresh_token) is invalid',
      )
      expectError(await trigger(digiMe, tokens.access_token.value), 401, 'InvalidToken')
      expect(digiMe.stats()).toMatchObject({
        grantsRevoked: 1,
        tokenCalls: { authorization_code: 2, refresh_token: 1, total: 3 },
      })
    })

    it('refuses an unknown code and a missing code_verifier', async () => {
      expectError(
        await exchangeCode(digiMe, 'nope', randomBytes(32).toString('base64url')),
        400,
        'InvalidGrant',
      )
      const missing = await call(digiMe, 'POST', 'oauth/token', {
        claims: { grant_type: 'authorization_code', code: 'nope' },
      })
      expectError(missing, 400, 'InvalidRequest', 'The code_verifier is missing or invalid')
    })

    it('refuses an unknown grant_type with 400 InvalidRequest', async () => {
      const response = await call(digiMe, 'POST', 'oauth/token', { claims: { grant_type: 'password' } })
      expectError(
        response,
        400,
        'InvalidRequest',
        'The grant_type must be authorization_code or refresh_token',
      )
    })
  })

  describe('refresh', () => {
    it('answers a reused refresh token with 401 InvalidToken and revokes the grant', async () => {
      const tokens = await authorize(digiMe, 'carol')
      digiMe.resetStats()
      const rotated = await refresh(digiMe, tokens.refresh_token.value)
      expect(rotated.status).toBe(200)
      const next = (await verifySigned<DigiMeTokenPayload>(digiMe, rotated.body.token)).payload

      const reuse = await refresh(digiMe, tokens.refresh_token.value)
      expectError(reuse, 401, 'InvalidToken', 'The token (refresh_token) is invalid')
      // The whole grant is dead: the newest refresh token and access token included.
      expectError(
        await refresh(digiMe, next.refresh_token.value),
        401,
        'InvalidToken',
        'The token (refresh_token) is invalid',
      )
      expectError(
        await trigger(digiMe, next.access_token.value),
        401,
        'InvalidToken',
        'The token (access_token) is invalid',
      )
      expect(digiMe.stats()).toMatchObject({
        tokenCalls: { authorization_code: 0, refresh_token: 3, total: 3 },
        refreshTokenReuse: 1,
        grantsRevoked: 1,
        refused: refused({ reused_refresh_token: 1, invalid_refresh_token: 1, invalid_access_token: 1 }),
      })
    })

    it('revokes the grant when the same refresh token is used twice at once', async () => {
      const tokens = await authorize(digiMe, 'carol')
      digiMe.resetStats()
      const answers = await Promise.all([
        refresh(digiMe, tokens.refresh_token.value),
        refresh(digiMe, tokens.refresh_token.value),
      ])
      expect(answers.map((answer) => answer.status).sort()).toEqual([200, 401])
      const winner = answers.find((answer) => answer.status === 200)!
      const next = (await verifySigned<DigiMeTokenPayload>(digiMe, winner.body.token)).payload
      expect((await refresh(digiMe, next.refresh_token.value)).status).toBe(401)
      expect(digiMe.stats()).toMatchObject({ refreshTokenReuse: 1, grantsRevoked: 1 })
    })

    it('answers an expired refresh token with 401 InvalidToken "expired"', async () => {
      const tokens = await authorize(digiMe, 'dave')
      vi.useFakeTimers({ toFake: ['Date'], now: tokens.refresh_token.expires_on * 1000 })
      expectError(
        await refresh(digiMe, tokens.refresh_token.value),
        401,
        'InvalidToken',
        'The token (refresh_token) is expired',
      )
    })

    it('expireRefreshTokens(userId) expires that user’s refresh tokens only', async () => {
      const dave = await authorize(digiMe, 'dave')
      const erin = await authorize(digiMe, 'erin')
      digiMe.expireRefreshTokens('dave')
      expectError(
        await refresh(digiMe, dave.refresh_token.value),
        401,
        'InvalidToken',
        'The token (refresh_token) is expired',
      )
      expect((await refresh(digiMe, erin.refresh_token.value)).status).toBe(200)
    })

    it('answers an unknown refresh token with 401 InvalidToken "invalid"', async () => {
      expectError(
        await refresh(digiMe, 'unknown'),
        401,
        'InvalidToken',
        'The token (refresh_token) is invalid',
      )
    })

    it('revokeGrantsOf(userId) kills refreshes and data calls of that user', async () => {
      const tokens = await authorize(digiMe, 'frank')
      digiMe.resetStats()
      await digiMe.revokeGrantsOf('frank')
      expectError(await refresh(digiMe, tokens.refresh_token.value), 401, 'InvalidToken')
      expectError(await trigger(digiMe, tokens.access_token.value), 401, 'InvalidToken')
      expect(digiMe.stats().grantsRevoked).toBe(1)
    })
  })

  describe('data', () => {
    it('answers an expired access token with 401 InvalidToken; a refreshed one works', async () => {
      const tokens = await authorize(digiMe, 'grace')
      digiMe.expireAccessTokens()
      expectError(
        await trigger(digiMe, tokens.access_token.value),
        401,
        'InvalidToken',
        'The token (access_token) is invalid',
      )
      const refreshed = await refresh(digiMe, tokens.refresh_token.value)
      const next = (await verifySigned<DigiMeTokenPayload>(digiMe, refreshed.body.token)).payload
      expect((await trigger(digiMe, next.access_token.value)).status).toBe(202)
    })

    it('answers an access token past expires_on with 401 InvalidToken', async () => {
      const tokens = await authorize(digiMe, 'grace')
      vi.useFakeTimers({ toFake: ['Date'], now: tokens.access_token.expires_on * 1000 })
      expectError(await trigger(digiMe, tokens.access_token.value), 401, 'InvalidToken')
    })

    it('failNextDataCalls(n) answers the next n data calls with 401 InvalidToken, whatever the token', async () => {
      const tokens = await authorize(digiMe, 'heidi')
      const session = (await trigger(digiMe, tokens.access_token.value)).body.session.key as string
      digiMe.resetStats()
      digiMe.failNextDataCalls(2)
      expectError(
        await trigger(digiMe, tokens.access_token.value),
        401,
        'InvalidToken',
        'The token (access_token) is invalid',
      )
      expectError(await query(digiMe, tokens.access_token.value, session), 401, 'InvalidToken')
      expect((await query(digiMe, tokens.access_token.value, session)).status).toBe(200)
      expect(digiMe.stats()).toMatchObject({
        dataCalls: { trigger: 1, fileList: 2, file: 0, total: 3 },
        refused: refused({ forced_invalid_token: 2 }),
      })
    })

    it('keeps each user’s data to that user: another user’s session is not found', async () => {
      const ivan = await authorize(digiMe, 'ivan')
      const judy = await authorize(digiMe, 'judy')
      const ivanSession = (await trigger(digiMe, ivan.access_token.value)).body.session.key as string
      expectError(await query(digiMe, judy.access_token.value, ivanSession), 404, 'NotFound')
      expect(digiMe.listeningHistoryOf('ivan')).not.toEqual(digiMe.listeningHistoryOf('judy'))
      expect(digiMe.listeningHistoryOf('ivan')).toEqual(digiMe.listeningHistoryOf('ivan'))
      const file = await query(digiMe, ivan.access_token.value, ivanSession, 'listening-history-2024-01.json')
      expect(file.body.fileData).toEqual(
        digiMe.listeningHistoryOf('ivan').filter((play) => play.playedAt.startsWith('2024-01')),
      )
    })

    it('answers an unknown session or file with 404 NotFound, and a missing access_token with 400', async () => {
      const tokens = await authorize(digiMe, 'ivan')
      const session = (await trigger(digiMe, tokens.access_token.value)).body.session.key as string
      expectError(await query(digiMe, tokens.access_token.value, 'no-such-session'), 404, 'NotFound')
      expectError(await query(digiMe, tokens.access_token.value, session, 'nope.json'), 404, 'NotFound')
      const missing = await call(digiMe, 'POST', 'permission-access/trigger', { body: { agent: AGENT } })
      expectError(missing, 400, 'InvalidRequest', 'The access_token is missing')
    })
  })

  describe('consent', () => {
    const cases: Array<[DigiMeConsentOutcome, (state: string) => Record<string, string>]> = [
      ['cancel', (state) => ({ success: 'false', errorCode: 'USER_CANCEL', state })],
      ['error', (state) => ({ success: 'false', errorCode: 'SERVER_ERROR', state })],
      ['legacy-success', (state) => ({ result: 'SUCCESS', code: expect.any(String), state })],
      ['legacy-cancel', (state) => ({ result: 'CANCEL', state })],
      ['legacy-error', (state) => ({ result: 'ERROR', state })],
      ['success', (state) => ({ success: 'true', state, code: expect.any(String) })],
    ]

    it.each(cases)(
      'answers the %s outcome in its callback form, and counts it',
      async (outcome, expected) => {
        digiMe.resetStats()
        digiMe.setConsentOutcome(outcome)
        const preAuthorization = await preAuthorize(digiMe)
        const callback = await driveDigiMeConsent(await consentUrlOf(digiMe, preAuthorization))
        expect(callback.origin + callback.pathname).toBe(REDIRECT_URI)
        expect(Object.fromEntries(callback.searchParams)).toEqual(expected(preAuthorization.state))
        const kind = outcome.replace('legacy-', '') as 'success' | 'cancel' | 'error'
        expect(digiMe.stats().consents).toEqual({ success: 0, cancel: 0, error: 0, invalid: 0, [kind]: 1 })
        const code = callback.searchParams.get('code')
        if (code !== null) {
          expect((await exchangeCode(digiMe, code, preAuthorization.codeVerifier)).status).toBe(200)
        }
      },
    )

    it('answers the error outcome with another errorCode when asked', async () => {
      digiMe.setConsentOutcome('error', { errorCode: 'ONBOARD_ERROR' })
      const preAuthorization = await preAuthorize(digiMe)
      const callback = await driveDigiMeConsent(await consentUrlOf(digiMe, preAuthorization))
      expect(callback.searchParams.get('errorCode')).toBe('ONBOARD_ERROR')
    })

    it('answers a used pre-authorization code with INVALID_CODE, and an unknown one with an error page', async () => {
      const preAuthorization = await preAuthorize(digiMe)
      const consentUrl = await consentUrlOf(digiMe, preAuthorization)
      await driveDigiMeConsent(consentUrl)
      digiMe.resetStats()
      const again = await driveDigiMeConsent(consentUrl)
      expect(Object.fromEntries(again.searchParams)).toEqual({
        success: 'false',
        errorCode: 'INVALID_CODE',
        state: preAuthorization.state,
      })
      const unknown = new URL(consentUrl)
      unknown.searchParams.set('code', 'nope')
      await expect(driveDigiMeConsent(unknown)).rejects.toThrow(/400 .*InvalidRequest: The code is unknown/)
      const noSourceType = new URL(consentUrl)
      noSourceType.searchParams.delete('sourceType')
      await expect(driveDigiMeConsent(noSourceType)).rejects.toThrow(/sourceType must be pull/)
      expect(digiMe.stats().consents).toEqual({ success: 0, cancel: 0, error: 0, invalid: 3 })
    })

    it('consents as the default user when the URL names none', async () => {
      const tokens = await authorize(digiMe)
      expect(tokens.identifier).toEqual({ id: 'alice' })
    })

    it('re-authorizes through oauth/token/reference with an old access token, for that token’s user', async () => {
      const old = await authorize(digiMe, 'kim')
      digiMe.expireAccessTokens('kim')
      digiMe.expireRefreshTokens('kim')
      digiMe.resetStats()
      const codeVerifier = randomBytes(32).toString('base64url')
      const reference = await call(digiMe, 'POST', 'oauth/token/reference', {
        claims: {
          access_token: old.access_token.value,
          code_challenge: challengeOf(codeVerifier),
          code_challenge_method: 'S256',
          redirect_uri: REDIRECT_URI,
          state: 'reauth-state',
        },
        body: { agent: AGENT, actions: { pull: {} } },
      })
      expect(reference.status).toBe(200)
      expect(reference.body.session).toEqual({ key: expect.any(String), expiry: expect.any(Number) })
      const { payload } = await verifySigned<{ reference_code: string }>(digiMe, reference.body.token)
      const consentUrl = new URL('user-reauth', digiMe.consentUrl)
      consentUrl.searchParams.set('code', payload.reference_code)
      const callback = await driveDigiMeConsent(consentUrl, { userId: 'someone-else' })
      expect(callback.searchParams.get('state')).toBe('reauth-state')
      const exchanged = await exchangeCode(digiMe, callback.searchParams.get('code')!, codeVerifier)
      const tokens = (await verifySigned<DigiMeTokenPayload>(digiMe, exchanged.body.token)).payload
      expect(tokens.identifier).toEqual({ id: 'kim' })
      expect(tokens.sub).toBe(old.sub)
      expect(tokens.consentid).not.toBe(old.consentid)
      expect(digiMe.stats()).toMatchObject({ reauthorizations: 1, consents: { success: 1 } })

      const unknown = await call(digiMe, 'POST', 'oauth/token/reference', {
        claims: {
          access_token: 'never-issued',
          code_challenge: 'x'.repeat(43),
          code_challenge_method: 'S256',
          redirect_uri: REDIRECT_URI,
          state: 's',
        },
        body: { agent: AGENT },
      })
      expectError(unknown, 401, 'InvalidToken', 'The token (access_token) is invalid')
    })
  })

  describe('signing keys', () => {
    it('rotateSigningKey() signs with a new kid and publishes only it; a cached key set no longer verifies', async () => {
      const before = await fetchKeySet(digiMe)
      const { kid } = await digiMe.rotateSigningKey()
      expect(kid).not.toBe(before.keys[0]!.kid)
      const after = await fetchKeySet(digiMe)
      expect(after.keys.map((key) => key.kid)).toEqual([kid])
      const tokens = await authorize(digiMe, 'leo')
      const response = await refresh(digiMe, tokens.refresh_token.value)
      expect(decodeProtectedHeader(response.body.token).kid).toBe(kid)
      await expect(verifySigned(digiMe, response.body.token, before)).rejects.toThrow()
      await expect(verifySigned(digiMe, response.body.token, after)).resolves.toBeTruthy()
    })

    it('rotateSigningKey({ keepPrevious: true }) publishes the new key first and the previous after it', async () => {
      const before = await fetchKeySet(digiMe)
      const { kid } = await digiMe.rotateSigningKey({ keepPrevious: true })
      const after = await fetchKeySet(digiMe)
      expect(after.keys.map((key) => key.kid)).toEqual([kid, before.keys[0]!.kid])
    })

    it('forgeNextTokenResponse() signs the next token response with another key and jku, once', async () => {
      const tokens = await authorize(digiMe, 'mallory')
      digiMe.resetStats()
      const forged = await digiMe.forgeNextTokenResponse({ jku: 'http://127.0.0.1:1/v1.7/jwks/oauth' })
      expect(forged).toEqual({
        kid: expect.any(String),
        jku: 'http://127.0.0.1:1/v1.7/jwks/oauth',
        keySet: { keys: [expect.objectContaining({ kid: forged.kid, kty: 'RSA', alg: 'PS512' })] },
      })
      const response = await refresh(digiMe, tokens.refresh_token.value)
      expect(response.status).toBe(200)
      expect(decodeProtectedHeader(response.body.token)).toEqual({
        alg: 'PS512',
        typ: 'JWT',
        jku: forged.jku,
        kid: forged.kid,
      })
      await expect(verifySigned(digiMe, response.body.token)).rejects.toThrow()
      // Genuine tokens under a forged signature: only the signature tells it apart.
      const payload = (await verifySigned<DigiMeTokenPayload>(digiMe, response.body.token, forged.keySet))
        .payload
      expect((await trigger(digiMe, payload.access_token.value)).status).toBe(202)
      const next = await refresh(digiMe, payload.refresh_token.value)
      await expect(verifySigned(digiMe, next.body.token)).resolves.toBeTruthy()
      expect(digiMe.stats().forgedResponses).toBe(1)
    })

    it('forgeNextTokenResponse({ key, kid }) signs with the given key under the given kid', async () => {
      const realKid = (await fetchKeySet(digiMe)).keys[0]!.kid!
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
      await digiMe.forgeNextTokenResponse({ key: privateKey, kid: realKid })
      const tokens = await authorize(digiMe, 'mallory').catch((error: unknown) => error)
      // The code exchange answer was the forged one: same kid as the real key, wrong signature.
      expect(String(tokens)).toMatch(/signature/)
    })
  })

  it('answers an unknown path with 404 NotFound and a wrong method with 405', async () => {
    expectError(await call(digiMe, 'GET', 'oauth/nothing'), 404, 'NotFound')
    expectError(await call(digiMe, 'GET', 'oauth/token'), 405, 'MethodNotAllowed')
    const outside = await fetch(new URL('/elsewhere', digiMe.url))
    expect(outside.status).toBe(404)
  })
})

describe('startDigiMeServer options', () => {
  it('verifies with a contract public key given as a KeyObject, SPKI PEM, PKCS#1 PEM or JWK', async () => {
    const contractKey = await generateDigiMeContractKey()
    expect(contractKey.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/)
    expect(contractKey.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----/)
    const inputs = [
      contractKey.publicKey,
      contractKey.publicKeyPem,
      contractKey.publicKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
      contractKey.publicKey.export({ format: 'jwk' }),
    ]
    for (const contractPublicKey of inputs) {
      const digiMe = await startDigiMeServer({ contractPublicKey })
      try {
        expect(digiMe.contract.privateKey).toBeUndefined()
        const { response } = await preAuthorize(digiMe, {}, { sign: { key: contractKey.privateKey } })
        expect(response.status).toBe(200)
      } finally {
        await digiMe.close()
      }
    }
  })

  it('starts with the configured consent outcome and keeps one refresh token without rotation', async () => {
    const digiMe = await startDigiMeServer({ consentOutcome: 'legacy-success', rotateRefreshToken: false })
    try {
      const tokens = await authorize(digiMe)
      for (let attempt = 0; attempt < 3; attempt++) {
        const response = await refresh(digiMe, tokens.refresh_token.value)
        expect(response.status).toBe(200)
        const next = (await verifySigned<DigiMeTokenPayload>(digiMe, response.body.token)).payload
        expect(next.refresh_token).toEqual(tokens.refresh_token)
      }
    } finally {
      await digiMe.close()
    }
  })

  it('serves the listening history it is given', async () => {
    const play = {
      id: 'p1',
      playedAt: '2023-12-24T20:00:00.000Z',
      title: 'Song',
      artist: 'Someone',
      genres: ['pop'],
      durationMs: 200_000,
    }
    const digiMe = await startDigiMeServer({
      listeningHistory: (userId) => (userId === 'alice' ? [play] : []),
      timestampToleranceMs: 5_000,
    })
    try {
      const tokens = await authorize(digiMe)
      const session = (await trigger(digiMe, tokens.access_token.value)).body.session.key as string
      const list = await query(digiMe, tokens.access_token.value, session)
      expect(list.body.fileList).toEqual([
        { name: 'listening-history-2023-12.json', updatedDate: Date.parse(play.playedAt) },
      ])
      const file = await query(digiMe, tokens.access_token.value, session, 'listening-history-2023-12.json')
      expect(file.body.fileData).toEqual([play])
      const { response } = await preAuthorize(digiMe, {}, { sign: { timestamp: Date.now() - 6_000 } })
      expect(response.status).toBe(400)
    } finally {
      await digiMe.close()
    }
  })

  it.each([
    [{ port: -1 }, /port/],
    [{ accessTokenTTLSeconds: 0 }, /accessTokenTTLSeconds/],
    [{ refreshTokenTTLSeconds: 1.5 }, /refreshTokenTTLSeconds/],
    [{ timestampToleranceMs: -5 }, /timestampToleranceMs/],
    [{ rotateRefreshToken: 'yes' }, /rotateRefreshToken/],
    [{ redirectUris: ['not a uri'] }, /redirectUris/],
    [{ consentOutcome: 'maybe' }, /consentOutcome/],
    [{ consentErrorCode: 'OOPS' }, /consentErrorCode/],
    [{ applicationId: '' }, /applicationId/],
    [{ contractPublicKey: 'not a key' }, /contractPublicKey/],
    [{ contractPublicKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey }, /RSA/],
    [{ contractPublicKey: generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey }, /2048/],
    [{ listeningHistory: [] }, /listeningHistory/],
  ])('refuses %o with a TypeError', async (options, message) => {
    await expect(startDigiMeServer(options as never)).rejects.toThrow(TypeError)
    await expect(startDigiMeServer(options as never)).rejects.toThrow(message)
  })

  it('validates its runtime controls', async () => {
    const digiMe = await startDigiMeServer()
    try {
      expect(() => digiMe.setConsentOutcome('maybe' as never)).toThrow(TypeError)
      expect(() => digiMe.setConsentOutcome('error', { errorCode: 'OOPS' as never })).toThrow(TypeError)
      expect(() => digiMe.failNextDataCalls(-1)).toThrow(TypeError)
      await expect(digiMe.forgeNextTokenResponse({ jku: 'relative' })).rejects.toThrow(TypeError)
      await expect(digiMe.forgeNextTokenResponse({ key: 'not a key' })).rejects.toThrow(TypeError)
    } finally {
      await digiMe.close()
    }
  })

  it('close() drops open connections and stops listening', async () => {
    const digiMe = await startDigiMeServer()
    const keepAlive = await fetch(digiMe.keySetUrl)
    expect(keepAlive.status).toBe(200)
    await digiMe.close()
    await expect(fetch(digiMe.keySetUrl)).rejects.toThrow()
    await expect(digiMe.close()).resolves.toBeUndefined()
  })
})
