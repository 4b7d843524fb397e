// The digi.me profile against the local digi.me-compatible server, over real loopback HTTP (issue 19).
import { createPublicKey } from 'node:crypto'
import { type AccessToken, ConsentRequiredError, MemoryTokenStore, type OngoingAccess } from '@ongoing/core'
import { calculatePKCECodeChallenge } from '@ongoing/core/adapter'
import {
  type DigiMeListeningHistoryFile,
  type DigiMeServer,
  driveDigiMeConsent,
  generateDigiMeContractKey,
  startDigiMeServer,
} from '@ongoing/testing'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { VERSION } from '../src/version.js'
import {
  consent,
  consentAt,
  createAccess,
  expectNoSecrets,
  REDIRECT_URI,
  Recorder,
  rejection,
  startJSONServer,
  statsDelta,
  triggerInit,
} from './support.js'

describe('digi.me profile against the local digi.me server', () => {
  let server: DigiMeServer
  /** One recorder for the whole suite: every nonce and secret the client sent or received. */
  const recorder = new Recorder()
  /** Request JWTs sent on purpose with a key or client id the server does not know. */
  let deliberatelyUnverified = 0
  const errors: unknown[] = []
  const caught = async (fn: () => Promise<unknown>) => {
    const err = await rejection(fn)
    errors.push(err)
    return err
  }

  beforeAll(async () => {
    server = await startDigiMeServer({ accessTokenTTLSeconds: 600, refreshTokenTTLSeconds: 3600 })
  })
  afterAll(async () => {
    // Every nonce the server saw in the whole suite was new, and every JWT verified but those
    // signed wrongly on purpose.
    const stats = server.stats()
    expect(stats.duplicateNonces).toBe(0)
    expect(stats.noncesSeen).toBe(recorder.nonces.length)
    expect(new Set(recorder.nonces).size).toBe(recorder.nonces.length)
    expect(stats.unverifiedJwts).toBe(deliberatelyUnverified)
    for (const err of errors) expectNoSecrets(err, recorder.secrets)
    await server.close()
  })

  const open = (options: Parameters<typeof createAccess>[1] = {}) =>
    createAccess(server, { recorder, ...options }).access
  const api = (path: string) => new URL(path, server.baseUrl).href

  it('consents (pushed pre-authorization, S256, our redirect URI and state), exchanges, caches the token and reads data through access.fetch', async () => {
    const access = open()
    const before = server.stats()
    const mark = recorder.exchanges.length
    const { started, callback } = await consentAt(access, recorder, 'alice')

    // The consent URL carries only the pre-authorization code.
    expect(started.url.origin + started.url.pathname).toBe(`${server.consentUrl}authorize`)
    expect([...started.url.searchParams.keys()].sort()).toEqual(['code', 'sourceType'])
    expect(started.url.searchParams.get('sourceType')).toBe('pull')
    const pushed = server.stats().lastPreAuthorization!
    expect(pushed.claims).toMatchObject({
      client_id: server.contract.clientId,
      code_challenge: calculatePKCECodeChallenge(started.codeVerifier),
      code_challenge_method: 'S256',
      redirect_uri: REDIRECT_URI,
      response_mode: 'query',
      response_type: 'code',
      state: started.state,
    })
    expect(Object.keys(pushed.claims).sort()).toEqual(
      [
        'client_id',
        'code_challenge',
        'code_challenge_method',
        'nonce',
        'redirect_uri',
        'response_mode',
        'response_type',
        'state',
        'timestamp',
      ].sort(),
    )
    expect(pushed.body).toEqual({
      agent: { sdk: { name: 'ongoing', version: VERSION } },
      actions: { pull: {} },
    })
    expect(callback.searchParams.get('success')).toBe('true')
    expect(callback.searchParams.get('state')).toBe(started.state)

    const finished = await access.finishConsent({ callbackUrl: callback, transaction: started.transaction })
    const tokens = recorder.lastTokens()
    expect(finished.userKey).toBe('alice')
    expect(finished.token).toMatchObject({
      value: tokens.access,
      tokenType: 'Bearer',
      expiresAt: tokens.accessExpiresOn * 1000,
      refreshed: false,
    })
    // Identity claims from the verified payload: digi.me's `sub`, the base URL as issuer.
    expect(finished.claims).toMatchObject({ iss: server.baseUrl, aud: server.contract.clientId })
    expect(finished.claims?.sub).toEqual(expect.any(String))
    // The code exchange: authorization_code, the code and the verifier, as claims; no body.
    const [exchange] = recorder.since(mark, /oauth\/token$/)
    expect(exchange?.claims).toMatchObject({
      grant_type: 'authorization_code',
      code: callback.searchParams.get('code'),
      code_verifier: started.codeVerifier,
    })

    // Cached: no token call.
    const cached = await access.getAccessToken('alice')
    expect(cached).toMatchObject({ value: tokens.access, refreshed: false })

    // A data session, its file list, a file: each call a fresh JWT around the access token.
    const trigger = await access.fetch('alice', api('permission-access/trigger'), triggerInit())
    expect(trigger.status).toBe(202)
    const { session } = (await trigger.json()) as { session: { key: string } }
    const list = await access.fetch('alice', api(`permission-access/query/${session.key}`))
    expect(list.status).toBe(200)
    const { fileList } = (await list.json()) as { fileList: Array<{ name: string }> }
    expect(fileList.map((f) => f.name)).toEqual([
      'listening-history-2024-01.json',
      'listening-history-2024-02.json',
      'listening-history-2024-03.json',
    ])
    const file = await access.fetch(
      'alice',
      api(`permission-access/query/${session.key}/${fileList[0]!.name}`),
    )
    const history = (await file.json()) as DigiMeListeningHistoryFile
    expect(history.fileData).toEqual(server.listeningHistoryOf('alice').slice(0, 12))
    const dataCalls = recorder.since(mark, /permission-access/)
    expect(dataCalls).toHaveLength(3)
    for (const call of dataCalls) {
      expect(Object.keys(call.claims!).sort()).toEqual(['access_token', 'client_id', 'nonce', 'timestamp'])
      expect(call.claims!.access_token).toBe(tokens.access)
    }

    const delta = statsDelta(before, server.stats())
    expect(delta).toMatchObject({
      preAuthorizations: 1,
      tokenCalls: { authorization_code: 1, refresh_token: 0, total: 1 },
      dataCalls: { trigger: 1, fileList: 1, file: 1, total: 3 },
      consents: { success: 1, cancel: 0, error: 0, invalid: 0 },
      // pre-authorization + code exchange + 3 data calls
      verifiedJwts: 5,
      unverifiedJwts: 0,
      duplicateNonces: 0,
    })
    // The key set: fetched once, from the pinned URL, and cached for the exchange.
    expect(delta.keySetFetches).toBe(1)
    // Every request JWT has digi.me's header: PS512, no kid, no jku.
    expect(recorder.since(mark).filter((e) => e.claims !== undefined)).toHaveLength(5)
  })

  it('signs every request afresh: PS512 with the contract key, header {alg, typ} only, a new nonce each time', async () => {
    const first = open()
    await consent(first, recorder, 'header-check')
    const raw: string[] = []
    const access = open({
      access: {
        store: first.store,
        fetch: async (input, init) => {
          const request = new Request(input, init)
          raw.push(request.headers.get('authorization')!.slice('Bearer '.length))
          return recorder.fetch(request)
        },
      },
    })
    await access.fetch('header-check', api('permission-access/trigger'), triggerInit())
    await access.fetch('header-check', api('permission-access/trigger'), triggerInit())
    expect(raw.map((jwt) => decodeProtectedHeader(jwt))).toEqual([
      { alg: 'PS512', typ: 'JWT' },
      { alg: 'PS512', typ: 'JWT' },
    ])
    const [a, b] = raw.map((jwt) => decodeJwt(jwt))
    expect(a!.nonce).not.toBe(b!.nonce)
    expect(a!.nonce).toMatch(/^[0-9a-f]{32}$/)
    expect(Math.abs((a!.timestamp as number) - Date.now())).toBeLessThan(10_000)
  })

  it('100 concurrent getAccessToken at expiry: exactly one refresh, all get its one token', async () => {
    const access = open()
    await consent(access, recorder, 'bob', { userId: 'bob' })
    const old = recorder.lastTokens()
    // The same grant, with its access token expired here.
    await access.restore('bob', {
      accessToken: old.access,
      refreshToken: old.refresh,
      expiresAt: Date.now() - 1_000,
      refreshExpiresAt: old.refreshExpiresOn * 1000,
    })
    const before = server.stats()
    const tokens = await Promise.all(Array.from({ length: 100 }, () => access.getAccessToken('bob')))
    const delta = statsDelta(before, server.stats())
    expect(delta.tokenCalls).toEqual({ authorization_code: 0, refresh_token: 1, total: 1 })
    expect(delta.grantsRevoked).toBe(0)
    const values = new Set(tokens.map((t) => t.value))
    expect(values.size).toBe(1)
    const fresh = recorder.lastTokens()
    expect([...values][0]).toBe(fresh.access)
    expect(fresh.access).not.toBe(old.access)
    // Both tokens replaced; the refresh token keeps the expiry the server sent (the first one's).
    expect(fresh.refresh).not.toBe(old.refresh)
    expect(fresh.refreshExpiresOn).toBe(old.refreshExpiresOn)
    expect(tokens.every((t) => t.refreshed && t.expiresAt === fresh.accessExpiresOn * 1000)).toBe(true)
    // The refresh request: grant_type and the refresh token, as claims.
    const [refresh] = recorder.exchanges.filter((e) => e.claims?.grant_type === 'refresh_token').slice(-1)
    expect(refresh?.claims).toMatchObject({ grant_type: 'refresh_token', refresh_token: old.refresh })
    // And the data calls work with it.
    expect((await access.fetch('bob', api('permission-access/trigger'), triggerInit())).status).toBe(202)
  })

  describe("a forged token answer (another key, an attacker's jku)", () => {
    let attacker: Awaited<ReturnType<typeof startJSONServer>>
    let forgedKey: Awaited<ReturnType<typeof generateDigiMeContractKey>>

    beforeAll(async () => {
      forgedKey = await generateDigiMeContractKey()
      const { n, e } = createPublicKey(forgedKey.privateKey).export({ format: 'jwk' })
      attacker = await startJSONServer({
        keys: [{ kty: 'RSA', kid: 'attacker', alg: 'PS512', use: 'sig', n, e }],
      })
    })
    afterAll(() => attacker.close())

    /** The payload of the last forged answer, from the wire: its tokens must go nowhere. */
    const forgedTokens = (mark: number) => {
      const forged = recorder.since(mark, /oauth\/token$/).at(-1)!.payload!
      return [
        (forged.access_token as { value: string }).value,
        (forged.refresh_token as { value: string }).value,
      ]
    }

    it('on refresh: refused without fetching the jku; nothing of it is stored or returned', async () => {
      const access = open()
      await consent(access, recorder, 'carol', { userId: 'carol' })
      const held = await access.getAccessToken('carol')
      await server.forgeNextTokenResponse({
        key: forgedKey.privateKey,
        jku: `${attacker.url}/jwks`,
        kid: 'attacker',
      })
      const before = server.stats()
      const mark = recorder.exchanges.length
      const err = await caught(() => access.getAccessToken('carol', { forceRefresh: true }))
      expect(err).toMatchObject({ code: 'ERR_INVALID_RESPONSE', outcomeUnknown: true })
      expect(err.message).toMatch(/jku/)
      expect(attacker.requests()).toBe(0)
      const delta = statsDelta(before, server.stats())
      expect(delta.forgedResponses).toBe(1)
      expect(delta.tokenCalls.refresh_token).toBe(1)
      expect(delta.keySetFetches).toBe(0)
      const forged = forgedTokens(mark)
      expectNoSecrets(err, forged)
      // The grant holds what it held: the token from before, never the forged one.
      const after = await access.getAccessToken('carol')
      expect(after.value).toBe(held.value)
      expect(forged).not.toContain(after.value)
    })

    it('on code exchange: refused, the attacker is not asked, no grant is stored', async () => {
      const access = open()
      await server.forgeNextTokenResponse({
        key: forgedKey.privateKey,
        jku: `${attacker.url}/jwks`,
        kid: 'attacker',
      })
      const mark = recorder.exchanges.length
      const err = await caught(() => consent(access, recorder, 'dave', { userId: 'dave' }))
      expect(err).toMatchObject({ code: 'ERR_INVALID_RESPONSE' })
      expect(attacker.requests()).toBe(0)
      expectNoSecrets(err, forgedTokens(mark))
      const missing = await caught(() => access.getAccessToken('dave'))
      expect(missing).toBeInstanceOf(ConsentRequiredError)
      expect(missing).toMatchObject({ reason: 'no_grant' })
    })

    it('naming the pinned key set but an unknown kid: the key set is fetched again once, then refused', async () => {
      const access = open()
      await consent(access, recorder, 'erin', { userId: 'erin' })
      const held = await access.getAccessToken('erin')
      await server.forgeNextTokenResponse({ key: forgedKey.privateKey, jku: server.keySetUrl })
      const before = server.stats()
      const err = await caught(() => access.getAccessToken('erin', { forceRefresh: true }))
      expect(err).toMatchObject({ code: 'ERR_INVALID_RESPONSE' })
      expect(err.message).toMatch(/ERR_JWKS_NO_MATCHING_KEY/)
      expect(statsDelta(before, server.stats()).keySetFetches).toBe(1)
      expect((await access.getAccessToken('erin')).value).toBe(held.value)
    })

    it("under the server's own kid with another key: the signature fails, nothing is fetched", async () => {
      const access = open()
      await consent(access, recorder, 'frank', { userId: 'frank' })
      const keySet = (await (await fetch(server.keySetUrl)).json()) as { keys: Array<{ kid: string }> }
      await server.forgeNextTokenResponse({
        key: forgedKey.privateKey,
        jku: server.keySetUrl,
        kid: keySet.keys[0]!.kid,
      })
      const before = server.stats()
      const err = await caught(() => access.getAccessToken('frank', { forceRefresh: true }))
      expect(err).toMatchObject({ code: 'ERR_INVALID_RESPONSE' })
      expect(err.message).toMatch(/ERR_JWS_SIGNATURE_VERIFICATION_FAILED/)
      expect(statsDelta(before, server.stats()).keySetFetches).toBe(0)
    })
  })

  it('a signing key rotated at digi.me: the unknown kid fetches the key set again once, and verifies', async () => {
    const access = open()
    await consent(access, recorder, 'grace', { userId: 'grace' })
    await server.rotateSigningKey()
    const before = server.stats()
    const token = await access.getAccessToken('grace', { forceRefresh: true })
    expect(token.refreshed).toBe(true)
    const delta = statsDelta(before, server.stats())
    expect(delta.keySetFetches).toBe(1)
    expect(delta.tokenCalls.refresh_token).toBe(1)
  })

  describe('a dead refresh token', () => {
    it("revoked at digi.me: ERR_CONSENT_REQUIRED after exactly one token call, and the grant's record says why", async () => {
      const access = open()
      await consent(access, recorder, 'heidi', { userId: 'heidi' })
      await server.revokeGrantsOf('heidi')
      const consentRequired: string[] = []
      access.on('consentRequired', ({ userKey, reason }) => consentRequired.push(`${userKey}:${reason}`))
      const before = server.stats()
      const err = await caught(() => access.getAccessToken('heidi', { forceRefresh: true }))
      expect(err).toBeInstanceOf(ConsentRequiredError)
      expect(err).toMatchObject({
        code: 'ERR_CONSENT_REQUIRED',
        reason: 'invalid_grant',
        oauthError: 'InvalidToken',
      })
      expect(consentRequired).toEqual(['heidi:invalid_grant'])
      const again = await caught(() => access.getAccessToken('heidi'))
      expect(again).toMatchObject({
        code: 'ERR_CONSENT_REQUIRED',
        reason: 'invalid_grant',
        oauthError: 'InvalidToken',
      })
      expect(await access.inspect('heidi')).toMatchObject({
        status: 'consent_required',
        consentRequired: { reason: 'invalid_grant', oauthError: 'InvalidToken', status: 401 },
      })
      expect(statsDelta(before, server.stats()).tokenCalls).toEqual({
        authorization_code: 0,
        refresh_token: 1,
        total: 1,
      })
    })

    it('expired at digi.me: the same, after one token call', async () => {
      const access = open()
      await consent(access, recorder, 'ivan', { userId: 'ivan' })
      server.expireRefreshTokens('ivan')
      const before = server.stats()
      const err = await caught(() => access.getAccessToken('ivan', { forceRefresh: true }))
      expect(err).toMatchObject({
        code: 'ERR_CONSENT_REQUIRED',
        reason: 'invalid_grant',
        oauthError: 'InvalidToken',
      })
      expect(statsDelta(before, server.stats()).tokenCalls.refresh_token).toBe(1)
    })
  })

  describe('the callback', () => {
    const outcomes = [
      ['cancel', 'ERR_CONSENT_DENIED', 'USER_CANCEL'],
      ['error', 'ERR_AUTHORIZATION', 'ONBOARD_ERROR'],
      ['legacy-cancel', 'ERR_CONSENT_DENIED', undefined],
      ['legacy-error', 'ERR_AUTHORIZATION', 'ERROR'],
    ] as const

    for (const [outcome, code, oauthError] of outcomes) {
      it(`${outcome} → ${code}, with no token call`, async () => {
        const access = open()
        server.setConsentOutcome(outcome, { errorCode: 'ONBOARD_ERROR' })
        try {
          const before = server.stats()
          const err = await caught(() => consent(access, recorder, 'judy'))
          expect(err).toMatchObject({ code, oauthError })
          expect(statsDelta(before, server.stats()).tokenCalls.total).toBe(0)
        } finally {
          server.setConsentOutcome('success')
        }
      })
    }

    it('legacy-success → a token', async () => {
      const access = open()
      server.setConsentOutcome('legacy-success')
      try {
        const { started, callback } = await consentAt(access, recorder, 'ken', { userId: 'ken' })
        expect(callback.searchParams.get('result')).toBe('SUCCESS')
        const finished = await access.finishConsent({
          callbackUrl: callback,
          transaction: started.transaction,
        })
        expect(finished.token.value).toBe(recorder.lastTokens().access)
      } finally {
        server.setConsentOutcome('success')
      }
    })

    it('a state that does not match the transaction: ERR_TRANSACTION, and no token call', async () => {
      const access = open()
      const { started, callback } = await consentAt(access, recorder, 'leo')
      callback.searchParams.set('state', 'another-state')
      const before = server.stats()
      const err = await caught(() =>
        access.finishConsent({ callbackUrl: callback, transaction: started.transaction }),
      )
      expect(err).toMatchObject({ code: 'ERR_TRANSACTION' })
      expect(statsDelta(before, server.stats()).tokenCalls.total).toBe(0)
    })

    it("another consent's transaction: ERR_TRANSACTION, and no token call", async () => {
      const access = open()
      const first = await consentAt(access, recorder, 'leo')
      const second = await access.startConsent({ userKey: 'leo' })
      const before = server.stats()
      const err = await caught(() =>
        access.finishConsent({ callbackUrl: first.callback, transaction: second.transaction }),
      )
      expect(err).toMatchObject({ code: 'ERR_TRANSACTION' })
      expect(statsDelta(before, server.stats()).tokenCalls.total).toBe(0)
    })
  })

  it('a data call answered 401 InvalidToken once is retried after exactly one refresh', async () => {
    const access = open()
    await consent(access, recorder, 'mallory', { userId: 'mallory' })
    const held = await access.getAccessToken('mallory')
    server.failNextDataCalls(1)
    const before = server.stats()
    const mark = recorder.exchanges.length
    const response = await access.fetch('mallory', api('permission-access/trigger'), triggerInit())
    expect(response.status).toBe(202)
    const delta = statsDelta(before, server.stats())
    expect(delta.tokenCalls).toEqual({ authorization_code: 0, refresh_token: 1, total: 1 })
    expect(delta.dataCalls.trigger).toBe(2)
    const [first, second] = recorder.since(mark, /permission-access/)
    expect(first?.claims?.access_token).toBe(held.value)
    expect(second?.claims?.access_token).toBe(recorder.lastTokens().access)
    expect(second?.claims?.nonce).not.toBe(first?.claims?.nonce)
    // A 401 with another code (a refused client JWT) is no reason to refresh.
    const access2 = open({ profile: { applicationId: 'someone-else' } })
    await access2.restore('mallory', { accessToken: held.value, expiresIn: 60 })
    const refused = await access2.fetch('mallory', api('permission-access/trigger'), triggerInit())
    deliberatelyUnverified++
    expect(refused.status).toBe(401)
    expect(refused.headers.get('x-error-code')).toBe('InvalidClient')
    expect(statsDelta(before, server.stats()).tokenCalls.total).toBe(1)
  })

  describe('bad input', () => {
    it('a malformed token answer: ERR_INVALID_RESPONSE quoting nothing of it; the grant keeps its tokens', async () => {
      const access = open()
      await consent(access, recorder, 'nia', { userId: 'nia' })
      const held = await access.getAccessToken('nia')
      recorder.rewriteNext(/oauth\/token$/, () =>
        Response.json({ token: 'not-a-jwt secret-looking-body-text' }, { status: 200 }),
      )
      const err = await caught(() => access.getAccessToken('nia', { forceRefresh: true }))
      expect(err).toMatchObject({ code: 'ERR_INVALID_RESPONSE', status: 200, outcomeUnknown: true })
      expect(err.message).not.toMatch(/secret-looking|not-a-jwt/)
      expect((await access.getAccessToken('nia')).value).toBe(held.value)
    })

    it('a body that is not JSON: ERR_INVALID_RESPONSE', async () => {
      const access = open()
      await consent(access, recorder, 'nia2', { userId: 'nia2' })
      recorder.rewriteNext(/oauth\/token$/, () => new Response('<html>oops</html>', { status: 200 }))
      const err = await caught(() => access.getAccessToken('nia2', { forceRefresh: true }))
      expect(err).toMatchObject({ code: 'ERR_INVALID_RESPONSE' })
      expect(err.message).not.toMatch(/oops/)
    })

    it('an unsigned answer (alg none) carrying the genuine payload: refused, nothing stored', async () => {
      const access = open()
      const { started, callback } = await consentAt(access, recorder, 'olga', { userId: 'olga' })
      recorder.rewriteNext(/oauth\/token$/, (exchange) => {
        const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
        return Response.json({ token: `${encode({ alg: 'none', typ: 'JWT' })}.${encode(exchange.payload)}.` })
      })
      const err = await caught(() =>
        access.finishConsent({ callbackUrl: callback, transaction: started.transaction }),
      )
      expect(err).toMatchObject({ code: 'ERR_INVALID_RESPONSE' })
      expect(err.message).toMatch(/no signed JWT/)
      expect(await caught(() => access.getAccessToken('olga'))).toMatchObject({ reason: 'no_grant' })
    })

    it('an answer signed with PS256 by the right party is still refused: PS512 only', async () => {
      const access = open()
      await consent(access, recorder, 'olga2', { userId: 'olga2' })
      const key = await generateDigiMeContractKey()
      const { SignJWT } = await import('jose')
      const payload = { access_token: { value: 'x', expires_on: 1 } }
      const jws = await new SignJWT(payload)
        .setProtectedHeader({ alg: 'PS256', jku: server.keySetUrl })
        .sign(key.privateKey)
      recorder.rewriteNext(/oauth\/token$/, () => Response.json({ token: jws }))
      const err = await caught(() => access.getAccessToken('olga2', { forceRefresh: true }))
      expect(err).toMatchObject({ code: 'ERR_INVALID_RESPONSE' })
      expect(err.message).toMatch(/PS512/)
    })

    it("a key digi.me does not know (an expired contract key): the server's 401 InvalidJWT is a typed error, and the grant is kept", async () => {
      const store = new MemoryTokenStore()
      const access = open({ access: { store } })
      await consent(access, recorder, 'peggy', { userId: 'peggy' })
      const held = await access.getAccessToken('peggy')
      const otherKey = await generateDigiMeContractKey()
      const wrong = open({ profile: { privateKey: otherKey.privateKey }, access: { store } })
      const before = server.stats()
      const err = await caught(() => wrong.getAccessToken('peggy', { forceRefresh: true }))
      deliberatelyUnverified++
      expect(err).toMatchObject({ code: 'ERR_TOKEN_ENDPOINT', status: 401, oauthError: 'InvalidJWT' })
      expect(err.message).toMatch(/privateKey/)
      expect(statsDelta(before, server.stats()).tokenCalls.total).toBe(1)
      // Not a dead grant: with the right key, the same grant refreshes (once its backoff has passed).
      await new Promise((resolve) => setTimeout(resolve, 1_100))
      const fresh = await access.getAccessToken('peggy', { forceRefresh: true })
      expect(fresh.refreshed).toBe(true)
      expect(fresh.value).not.toBe(held.value)
    })

    it('a wrong applicationId: a typed error naming the client options at the pre-authorization, nothing stored lost', async () => {
      const store = new MemoryTokenStore()
      const access = open({ access: { store } })
      await consent(access, recorder, 'quinn', { userId: 'quinn' })
      const held = await access.getAccessToken('quinn')
      const wrong = open({ profile: { applicationId: 'not-our-app' }, access: { store } })
      const err = await caught(() => wrong.startConsent({ userKey: 'quinn' }))
      deliberatelyUnverified++
      expect(err).toMatchObject({ code: 'ERR_TOKEN_ENDPOINT', status: 401, oauthError: 'InvalidClient' })
      expect(err.message).toMatch(
        /digi\.me pre-authorization answered with an error: InvalidClient \(status 401, reference [0-9a-f-]+\)/,
      )
      expect(err.message).toMatch(/applicationId/)
      expect(err.oauthErrorDescription).toBe('The client (client_id) is unknown')
      // Another client id is another grant: the wrong one sees none, the right one still has its own.
      expect(await caught(() => wrong.getAccessToken('quinn'))).toMatchObject({ reason: 'no_grant' })
      expect((await access.getAccessToken('quinn')).value).toBe(held.value)
    })

    it('a scope that is not the JSON of an object: a TypeError before anything is sent', async () => {
      const access = open()
      const before = server.stats()
      await expect(access.startConsent({ userKey: 'rita', scope: 'read write' })).rejects.toThrow(TypeError)
      expect(statsDelta(before, server.stats()).preAuthorizations).toBe(0)
    })
  })

  it('a digi.me scope object goes in actions.pull.scope', async () => {
    const access = open()
    const scope = { serviceGroups: [{ id: 5 }], timeRanges: [{ last: '6m' }] }
    const { started } = await consentAt(access, recorder, 'sam', {
      userId: 'sam',
      scope: JSON.stringify(scope),
    })
    expect(server.stats().lastPreAuthorization?.body).toMatchObject({ actions: { pull: { scope } } })
    expect(started.state).toBe(server.stats().lastPreAuthorization?.claims.state)
  })

  describe('restore: a token pair a digi.me app already holds', () => {
    it('is used as it is (no token call), refreshed when digi.me refuses it, and its refresh expiry is kept', async () => {
      // A digi.me app's tokens (what DMEOAuthToken / the Node SDK's userAccessToken hold).
      const sdk = open()
      await consent(sdk, recorder, 'trent', { userId: 'trent' })
      const pair = recorder.lastTokens()
      sdk.close()

      const access = open()
      await access.restore('trent', {
        accessToken: pair.access,
        refreshToken: pair.refresh,
        expiresAt: pair.accessExpiresOn * 1000,
        refreshExpiresAt: pair.refreshExpiresOn * 1000,
      })
      const before = server.stats()
      const token: AccessToken = await access.getAccessToken('trent')
      expect(token).toMatchObject({
        value: pair.access,
        expiresAt: pair.accessExpiresOn * 1000,
        refreshed: false,
      })
      expect((await access.fetch('trent', api('permission-access/trigger'), triggerInit())).status).toBe(202)
      expect(statsDelta(before, server.stats()).tokenCalls.total).toBe(0)
      // digi.me expires the access token early: the data call refreshes once and goes through.
      server.expireAccessTokens('trent')
      expect((await access.fetch('trent', api('permission-access/trigger'), triggerInit())).status).toBe(202)
      expect(statsDelta(before, server.stats()).tokenCalls.refresh_token).toBe(1)
    })

    it('past its refresh expiry: consent required, with no token call', async () => {
      const access = open()
      const before = server.stats()
      const now = Date.now()
      await access.restore('uma', {
        accessToken: 'imported-access-token',
        refreshToken: 'imported-refresh-token',
        expiresAt: now + 300,
        refreshExpiresAt: now + 600,
      })
      // The store keeps a grant as long as its refresh token lives (at least 1 s).
      await new Promise((resolve) => setTimeout(resolve, 1_200))
      expect(await caught(() => access.getAccessToken('uma'))).toMatchObject({
        code: 'ERR_CONSENT_REQUIRED',
        reason: 'no_grant',
      })
      expect(statsDelta(before, server.stats()).tokenCalls.total).toBe(0)
    })
  })

  it('userKeyFromClaims: the user key comes from the verified payload (sub), the same on every consent', async () => {
    const access = open({ access: { userKeyFromClaims: (claims) => `digime:${claims.sub}` } })
    const first = await access.startConsent({})
    const one = await access.finishConsent({
      callbackUrl: await driveDigiMeConsent(first.url, { userId: 'wanda' }),
      transaction: first.transaction,
    })
    const second = await access.startConsent({})
    const two = await access.finishConsent({
      callbackUrl: await driveDigiMeConsent(second.url, { userId: 'wanda' }),
      transaction: second.transaction,
    })
    expect(one.userKey).toMatch(/^digime:.+/)
    expect(two.userKey).toBe(one.userKey)
    expect((await access.getAccessToken(one.userKey)).value).toBe(two.token.value)
  })

  it('grants of two digi.me environments never mix: the base URL is the issuer', async () => {
    const store = new MemoryTokenStore()
    const access = open({ access: { store } })
    await consent(access, recorder, 'xena', { userId: 'xena' })
    const sandbox = await startDigiMeServer({
      applicationId: server.contract.applicationId,
      contractId: server.contract.contractId,
      contractPublicKey: server.contract.publicKey,
    })
    try {
      const other = createAccess(sandbox, {
        access: { store },
        profile: { privateKey: server.contract.privateKeyPem! },
      }).access
      expect(other.clientId).toBe(access.clientId)
      expect(other.issuer).not.toBe(access.issuer)
      expect(await caught(() => other.getAccessToken('xena'))).toMatchObject({ reason: 'no_grant' })
      expect(sandbox.stats().tokenCalls.total).toBe(0)
    } finally {
      await sandbox.close()
    }
  })

  it('revoke forgets the grant locally (digi.me has no revocation endpoint), with no call', async () => {
    const access: OngoingAccess = open()
    await consent(access, recorder, 'victor', { userId: 'victor' })
    const mark = recorder.exchanges.length
    expect(await access.revoke('victor')).toEqual({ revokedAtServer: false })
    expect(recorder.since(mark)).toHaveLength(0)
    expect(await caught(() => access.getAccessToken('victor'))).toMatchObject({ reason: 'no_grant' })
  })
})
