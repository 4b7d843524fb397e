import {
  type AuthorizationRequest,
  type AuthorizationResponse,
  ConsentRequiredError,
  isOngoingAccessError,
  MemoryTokenStore,
  OngoingAccess,
  OngoingAccessError,
  type Profile,
  type ProfileClient,
  type TokenSet,
} from '@ongoing/core'
import { describe, expect, it } from 'vitest'
import { APP_SECRET, REDIRECT_URI } from './real-as.js'

/**
 * A toy server and its profile, in memory: pushed consent (the URL carries only a request id), a
 * callback in the `outcome=` form, absolute expiries, refresh tokens that rotate, a dead grant said
 * with 401 and a `gone` code, and resource calls that carry the token in an `x-toy-token` header.
 */
function toyProfile() {
  const server = {
    pushed: new Map<string, AuthorizationRequest>(),
    codes: new Map<string, string>(), // code -> challenge
    refreshTokens: new Set<string>(),
    calls: { push: 0, exchange: 0, refresh: 0, revoke: 0 },
    seq: 0,
  }
  const issue = (): TokenSet => {
    const n = ++server.seq
    server.refreshTokens.add(`rt-${n}`)
    return {
      accessToken: `at-${n}`,
      tokenType: 'Bearer',
      expiresAt: Date.now() + 60_000,
      refreshToken: `rt-${n}`,
      refreshExpiresAt: Date.now() + 3_600_000,
      claims: { iss: 'toy', sub: 'toy-user', aud: 'toy-client', exp: 0, iat: 0 },
    }
  }
  const gone = () =>
    new OngoingAccessError('ERR_TOKEN_ENDPOINT', 'Toy server: gone', { status: 401, oauthError: 'gone' })
  const profile: Profile = {
    name: 'toy',
    create: (): ProfileClient => ({
      issuer: 'toy://server',
      clientId: 'toy-client',
      deadGrant: {
        isDead: (err): err is OngoingAccessError => isOngoingAccessError(err) && err.oauthError === 'gone',
        hintFor: () => undefined,
      },
      ready: async () => ({
        issuer: 'toy://server',
        authorization: 'https://toy.example/consent',
        token: 'https://toy.example/token',
        issParameterSupported: false,
      }),
      startAuthorization: async (request) => {
        server.calls.push++
        const id = `req-${server.pushed.size + 1}`
        server.pushed.set(id, request)
        return { url: new URL(`https://toy.example/consent?request=${id}`) }
      },
      readCallback: (url): AuthorizationResponse => {
        const state = url.searchParams.get('state') ?? undefined
        const outcome = url.searchParams.get('outcome')
        if (outcome === 'cancel') return { state, outcome: 'denied' }
        if (outcome === 'fail') return { state, outcome: 'error', error: 'TOY_FAILURE' }
        return { state, outcome: 'code', code: url.searchParams.get('code') ?? undefined }
      },
      checkIssuer: async () => {},
      exchangeCode: async ({ code }) => {
        server.calls.exchange++
        if (!server.codes.delete(code)) throw gone()
        return issue()
      },
      refresh: async (refreshToken) => {
        server.calls.refresh++
        if (!server.refreshTokens.delete(refreshToken)) throw gone()
        const { claims: _, ...tokens } = issue()
        return tokens
      },
      authorize: (request, token) => {
        const headers = new Headers(request.headers)
        headers.set('x-toy-token', token.value)
        return new Request(request, { headers })
      },
      rejectsToken: (response) =>
        response.status === 401 && response.headers.get('x-toy-error') === 'expired',
      revoke: async (token) => {
        server.calls.revoke++
        return server.refreshTokens.delete(token)
      },
    }),
  }
  /** The user consents at the toy server: the callback URL for the pushed request in `url`. */
  const consent = (url: URL, outcome: 'ok' | 'cancel' | 'fail' = 'ok') => {
    const request = server.pushed.get(url.searchParams.get('request') ?? '') as AuthorizationRequest
    const callback = new URL(request.redirectUri)
    callback.searchParams.set('state', request.state)
    if (outcome !== 'ok') callback.searchParams.set('outcome', outcome)
    else {
      const code = `code-${server.codes.size + 1}`
      server.codes.set(code, request.codeChallenge)
      callback.searchParams.set('code', code)
    }
    return callback
  }
  return { profile, server, consent }
}

describe('a profile owns the wire; everything else is the same (issue 19)', () => {
  function setUp(options: Partial<ConstructorParameters<typeof OngoingAccess>[0]> = {}) {
    const toy = toyProfile()
    const store = new MemoryTokenStore()
    const written: string[] = []
    const set = store.set.bind(store)
    store.set = (key, value, options) => {
      written.push(value)
      return set(key, value, options)
    }
    const apiCalls: string[] = []
    const access = new OngoingAccess({
      profile: toy.profile,
      redirectUri: REDIRECT_URI,
      secret: APP_SECRET,
      store,
      logger: false,
      fetch: async (input) => {
        const request = input as Request
        const token = request.headers.get('x-toy-token') ?? ''
        apiCalls.push(token)
        // The API refuses the first token it sees once, as an expired one.
        return apiCalls.length === 1
          ? new Response(null, { status: 401, headers: { 'x-toy-error': 'expired' } })
          : Response.json({ token })
      },
      ...options,
    })
    return { ...toy, store, access, apiCalls, written }
  }

  it('consent, exchange, cached token, refresh, fetch and revoke go through the profile', async () => {
    const { access, server, consent, store, apiCalls, written } = setUp()
    const started = await access.startConsent({ userKey: 'u1', returnTo: '/back' })
    expect(started.url.href).toBe('https://toy.example/consent?request=req-1')
    const pushed = server.pushed.get('req-1')
    expect(pushed).toMatchObject({
      state: started.state,
      codeChallengeMethod: 'S256',
      redirectUri: REDIRECT_URI,
    })
    const finished = await access.finishConsent({
      callbackUrl: consent(started.url),
      transaction: started.transaction,
    })
    expect(finished).toMatchObject({ userKey: 'u1', returnTo: '/back', token: { value: 'at-1' } })
    expect(finished.claims?.sub).toBe('toy-user')
    // The grant is sealed in the store like any other, under the profile's issuer and client.
    expect(store.size).toBe(1)
    expect(written.length).toBeGreaterThan(0)
    for (const value of written) expect(value).not.toMatch(/at-1|rt-1/)
    expect((await access.getAccessToken('u1')).value).toBe('at-1')
    expect(server.calls).toMatchObject({ exchange: 1, refresh: 0 })
    // Absolute expiries kept as the server gave them; a forced refresh rotates.
    const refreshed = await access.getAccessToken('u1', { forceRefresh: true })
    expect(refreshed).toMatchObject({ value: 'at-2', refreshed: true })
    expect(server.calls.refresh).toBe(1)
    // fetch: the profile's header; its "token refused" answer refreshes once and retries once.
    const response = await access.fetch('u1', 'https://toy.example/api')
    expect(await response.json()).toEqual({ token: 'at-3' })
    expect(apiCalls).toEqual(['at-2', 'at-3'])
    expect(server.calls.refresh).toBe(2)
    expect(await access.revoke('u1')).toEqual({ revokedAtServer: true })
    expect(store.size).toBe(0)
  })

  it("a dead grant in the profile's terms is ERR_CONSENT_REQUIRED after one call, and its record says so", async () => {
    const { access, server, consent, store } = setUp()
    const started = await access.startConsent({ userKey: 'u2' })
    await access.finishConsent({ callbackUrl: consent(started.url), transaction: started.transaction })
    server.refreshTokens.clear() // revoked at the server
    const error = await access.getAccessToken('u2', { forceRefresh: true }).catch((err: unknown) => err)
    expect(error).toBeInstanceOf(ConsentRequiredError)
    expect(error).toMatchObject({ reason: 'invalid_grant', oauthError: 'gone' })
    expect(server.calls.refresh).toBe(1)
    expect(store.size).toBe(1)
    expect(await access.inspect('u2')).toMatchObject({
      status: 'consent_required',
      consentRequired: { reason: 'invalid_grant', oauthError: 'gone' },
    })
    await expect(access.getAccessToken('u2')).rejects.toMatchObject({
      reason: 'invalid_grant',
      oauthError: 'gone',
    })
    expect(server.calls.refresh).toBe(1)
  })

  it('a cancel and a failure map to ERR_CONSENT_DENIED and ERR_AUTHORIZATION, with no token call; a state mismatch makes none either', async () => {
    const { access, server, consent } = setUp()
    for (const [outcome, code] of [
      ['cancel', 'ERR_CONSENT_DENIED'],
      ['fail', 'ERR_AUTHORIZATION'],
    ] as const) {
      const started = await access.startConsent({ userKey: 'u3' })
      await expect(
        access.finishConsent({
          callbackUrl: consent(started.url, outcome),
          transaction: started.transaction,
        }),
      ).rejects.toMatchObject({ code })
    }
    const started = await access.startConsent({ userKey: 'u3' })
    const callback = consent(started.url)
    callback.searchParams.set('state', 'another')
    await expect(
      access.finishConsent({ callbackUrl: callback, transaction: started.transaction }),
    ).rejects.toMatchObject({
      code: 'ERR_TRANSACTION',
    })
    expect(server.calls.exchange).toBe(0)
  })

  it("restore takes the refresh token's own expiry: past it the grant is gone, with no token call", async () => {
    const { access, server } = setUp()
    const now = Date.now()
    await access.restore('u5', {
      accessToken: 'at-imported',
      refreshToken: 'rt-imported',
      expiresAt: now + 500,
      refreshExpiresAt: now + 1_000,
    })
    expect((await access.getAccessToken('u5')).value).toBe('at-imported')
    await new Promise((resolve) => setTimeout(resolve, 1_200))
    await expect(access.getAccessToken('u5')).rejects.toMatchObject({
      code: 'ERR_CONSENT_REQUIRED',
      reason: 'no_grant',
    })
    expect(server.calls.refresh).toBe(0)
    await expect(
      access.restore('u5', { accessToken: 'a', expiresIn: 60, refreshExpiresAt: -1 }),
    ).rejects.toThrow(new TypeError('ongoing: `refreshExpiresAt` must be a positive number'))
  })

  it('regression (issue 19): a refresh token past its own expiry is not presented: consent required, no token call, the record says so', async () => {
    const { access, server, store } = setUp()
    const now = Date.now()
    // The store keeps the record a second at least; the refresh token's expiry passes before that.
    await access.restore('u6', {
      accessToken: 'at-old',
      refreshToken: 'rt-old',
      expiresAt: now,
      refreshExpiresAt: now + 20,
    })
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(store.size).toBe(1)
    const error = await access.getAccessToken('u6').catch((err: unknown) => err)
    expect(error).toBeInstanceOf(ConsentRequiredError)
    expect(error).toMatchObject({
      reason: 'invalid_grant',
      message: 'Consent required: the refresh token expired or was revoked',
    })
    expect(server.calls.refresh).toBe(0)
    expect(store.size).toBe(1)
    expect(await access.inspect('u6')).toMatchObject({
      status: 'consent_required',
      consentRequired: { reason: 'invalid_grant' },
    })
  })

  it('userKeyFromClaims takes the claims the profile verified', async () => {
    const { access, consent } = setUp({ userKeyFromClaims: (claims) => `toy:${claims.sub}` })
    const started = await access.startConsent({})
    const finished = await access.finishConsent({
      callbackUrl: consent(started.url),
      transaction: started.transaction,
    })
    expect(finished.userKey).toBe('toy:toy-user')
  })

  it("refuses the standard profile's options beside a profile, and a profile that is not one", () => {
    const { profile } = toyProfile()
    const base = { redirectUri: REDIRECT_URI, secret: APP_SECRET }
    expect(() => new OngoingAccess({ ...base, profile, issuer: 'https://as.example' })).toThrow(
      new TypeError(
        'ongoing: `issuer` does not go with `profile`: the profile describes the server and the client',
      ),
    )
    expect(() => new OngoingAccess({ ...base, profile, deadGrantErrors: ['invalid_request'] })).toThrow(
      /`deadGrantErrors` does not go with `profile`/,
    )
    expect(() => new OngoingAccess({ ...base, profile: {} as Profile })).toThrow(
      new TypeError('ongoing: `profile` must be a profile (an object with `name` and `create`)'),
    )
    // Without a profile, issuer and client are required as before.
    expect(() => new OngoingAccess({ ...base, scope: '' })).toThrow(
      new TypeError('ongoing: `issuer` must be an absolute http(s) URL'),
    )
  })
})
