import { ConsentRequiredError, MemoryTokenStore, OngoingAccess } from '@ongoing/core'
import { startTestAuthorizationServer, type TestAuthorizationServer } from '@ongoing/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { APP_SECRET, accessFor, consentAs, REDIRECT_URI, recordTokenTraffic } from './real-as.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('against a real authorization server (oidc-provider, strict rotation)', () => {
  let as: TestAuthorizationServer

  beforeAll(async () => {
    as = await startTestAuthorizationServer({ accessTokenTTLSeconds: 2, rotateRefreshToken: true })
  })
  afterAll(async () => {
    await as?.close()
  })

  it('consent → exchange → expiry → refresh with rotation; the old refresh token is never sent again', async () => {
    as.resetStats()
    const traffic = recordTokenTraffic(as)
    const access = accessFor(as, { fetch: traffic.fetch })
    const refreshes: boolean[] = []
    access.on('refresh', ({ rotated }) => refreshes.push(rotated))

    const consented = await consentAs(access, 'alice')
    expect(consented).toMatchObject({
      userKey: 'alice',
      returnTo: '/after',
      token: { tokenType: 'Bearer', refreshed: false },
    })
    expect(as.stats().tokenCalls.authorization_code).toBe(1)

    // Fresh: served from the cache, no token call.
    const same = await access.getAccessToken('alice')
    expect(same.value).toBe(consented.token.value)
    expect(as.stats().tokenCalls.refresh_token).toBe(0)

    for (let round = 1; round <= 3; round++) {
      await sleep(2_100)
      const token = await access.getAccessToken('alice')
      expect(token.refreshed).toBe(true)
      expect(token.value).not.toBe(consented.token.value)
      expect(as.stats().tokenCalls.refresh_token).toBe(round)
    }
    // Each refresh sent the newest refresh token: three distinct values, none repeated.
    expect(traffic.refreshTokensSent).toHaveLength(3)
    expect(new Set(traffic.refreshTokensSent).size).toBe(3)
    expect(refreshes).toEqual([true, true, true])
    expect(as.stats().refreshTokenReuse).toBe(0)
    expect(as.stats().grantsRevoked).toBe(0)
  }, 20_000)

  it('500 concurrent calls for one expired user: exactly one refresh, one shared new token', async () => {
    const access = accessFor(as)
    await consentAs(access, 'bob')
    await sleep(2_100)
    as.resetStats()
    const tokens = await Promise.all(Array.from({ length: 500 }, () => access.getAccessToken('bob')))
    expect(as.stats().tokenCalls.refresh_token).toBe(1)
    expect(new Set(tokens.map((t) => t.value)).size).toBe(1)
    expect(as.stats().grantsRevoked).toBe(0)
  }, 20_000)

  it('50 users at once, 10 calls each: exactly 50 refreshes, and no user gets another user’s token', async () => {
    const access = accessFor(as)
    const users = Array.from({ length: 50 }, (_, i) => `user-${i}`)
    const initial = new Map<string, string>()
    for (const user of users) initial.set(user, (await consentAs(access, user)).token.value)
    await sleep(2_100)
    as.resetStats()
    const results = await Promise.all(
      users.flatMap((user) =>
        Array.from({ length: 10 }, async () => ({ user, token: await access.getAccessToken(user) })),
      ),
    )
    expect(as.stats().tokenCalls.refresh_token).toBe(50)
    const byUser = new Map<string, Set<string>>()
    for (const { user, token } of results) {
      if (!byUser.has(user)) byUser.set(user, new Set())
      byUser.get(user)!.add(token.value)
    }
    const all = new Set<string>()
    for (const user of users) {
      expect(byUser.get(user)!.size).toBe(1)
      const value = [...byUser.get(user)!][0]!
      expect(value).not.toBe(initial.get(user))
      all.add(value)
    }
    expect(all.size).toBe(50)
  }, 60_000)

  it('a revoked grant: ConsentRequiredError after one refresh attempt, and no retry loop', async () => {
    const access = accessFor(as)
    const events: string[] = []
    access.on('consentRequired', ({ reason }) => events.push(reason))
    await consentAs(access, 'carol')
    await as.revokeGrantsOf('carol')
    await sleep(2_100)
    as.resetStats()
    const err = await access.getAccessToken('carol').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ConsentRequiredError)
    expect(err).toMatchObject({ code: 'ERR_CONSENT_REQUIRED', reason: 'invalid_grant' })
    for (let i = 0; i < 5; i++)
      await expect(access.getAccessToken('carol')).rejects.toMatchObject({ code: 'ERR_CONSENT_REQUIRED' })
    expect(as.stats().tokenCalls.refresh_token).toBe(1)
    // Every later call says the same, from the dead grant's record (issue 20).
    expect(events).toEqual(Array(6).fill('invalid_grant'))
  }, 20_000)

  it('an expired refresh token: ConsentRequiredError, one call', async () => {
    const shortAS = await startTestAuthorizationServer({
      accessTokenTTLSeconds: 1,
      refreshTokenTTLSeconds: 1,
    })
    try {
      const access = accessFor(shortAS)
      await consentAs(access, 'dave')
      await sleep(1_600)
      await expect(access.getAccessToken('dave')).rejects.toMatchObject({
        code: 'ERR_CONSENT_REQUIRED',
        reason: 'invalid_grant',
      })
      await expect(access.getAccessToken('dave')).rejects.toMatchObject({ reason: 'invalid_grant' })
      expect(shortAS.stats().tokenCalls.refresh_token).toBe(1)
    } finally {
      await shortAS.close()
    }
  }, 20_000)

  it.each(['RS256', 'PS256', 'PS512', 'ES256', 'EdDSA'] as const)(
    'private_key_jwt with %s works end to end',
    async (alg) => {
      const access = new OngoingAccess({
        issuer: as.issuer,
        client: {
          id: as.clients.privateKeyJwt.id,
          privateKey: as.clients.privateKeyJwt.keys[alg] as never,
          alg,
        },
        redirectUri: REDIRECT_URI,
        scope: 'offline_access api:read',
        secret: APP_SECRET,
        refreshSkewSeconds: 0,
      })
      as.resetStats()
      await consentAs(access, `pkjwt-${alg}`)
      const token = await access.getAccessToken(`pkjwt-${alg}`, { forceRefresh: true })
      expect(token.refreshed).toBe(true)
      expect(as.stats().tokenCalls).toMatchObject({ authorization_code: 1, refresh_token: 1 })
    },
  )

  it('client_secret_post and a public client work too', async () => {
    for (const client of [
      { ...as.clients.confidential, authMethod: 'client_secret_post' as const },
      as.clients.public,
    ]) {
      const access = accessFor(as, { client })
      await consentAs(access, `client-${client.id}`)
      expect((await access.getAccessToken(`client-${client.id}`, { forceRefresh: true })).refreshed).toBe(
        true,
      )
    }
  })

  it('revoke: RFC 7009 at the server, forgotten locally, the refresh token dead at the server', async () => {
    const store = new MemoryTokenStore()
    const traffic = recordTokenTraffic(as)
    const access = accessFor(as, { store, fetch: traffic.fetch })
    await consentAs(access, 'erin')
    as.resetStats()
    expect(await access.revoke('erin')).toEqual({ revokedAtServer: true })
    expect(as.stats().revocationCalls).toBe(1)
    expect(store.size).toBe(0)
    await expect(access.getAccessToken('erin')).rejects.toMatchObject({
      code: 'ERR_CONSENT_REQUIRED',
      reason: 'no_grant',
    })
  })

  it('restore imports tokens obtained elsewhere and refreshes them', async () => {
    const traffic = recordTokenTraffic(as)
    const source = accessFor(as, { fetch: traffic.fetch })
    const { token } = await consentAs(source, 'frank')
    const refreshToken = traffic.refreshTokensReceived[0]!
    // Another app instance, with its own store, takes the grant over (a migration).
    const target = accessFor(as, { fetch: traffic.fetch, store: new MemoryTokenStore() })
    await target.restore('frank', { accessToken: token.value, refreshToken, expiresIn: 0 })
    const refreshed = await target.getAccessToken('frank')
    expect(refreshed.refreshed).toBe(true)
    expect(traffic.refreshTokensSent).toEqual([refreshToken])
    await expect(target.restore('frank', { accessToken: '', expiresIn: 1 })).rejects.toThrow(TypeError)
  })

  it('discovers via RFC 8414 and checks the issuer exactly', async () => {
    const access = accessFor(as)
    const metadata = await access.metadata()
    expect(metadata).toMatchObject({
      issuer: as.issuer,
      token: `${as.issuer}/token`,
      issParameterSupported: true,
    })
    const slashed = accessFor(as, { issuer: `${as.issuer}/` })
    await expect(slashed.metadata()).rejects.toMatchObject({ code: 'ERR_ISSUER_MISMATCH' })
  })

  it('the authorization response from the real server carries iss, and a forged one is refused', async () => {
    const access = accessFor(as)
    const started = await access.startConsent({ userKey: 'gina' })
    const { driveConsent } = await import('@ongoing/testing')
    const callbackUrl = await driveConsent(started.url, { redirectUriPrefix: REDIRECT_URI, login: 'gina' })
    expect(callbackUrl.searchParams.get('iss')).toBe(as.issuer)
    callbackUrl.searchParams.set('iss', 'http://127.0.0.1:1')
    as.resetStats()
    await expect(
      access.finishConsent({ callbackUrl, transaction: started.transaction }),
    ).rejects.toMatchObject({ code: 'ERR_ISSUER_MISMATCH' })
    expect(as.stats().tokenCalls.authorization_code).toBe(0)
  })

  it('an OpenID consent: the real ID token verifies against the server’s JWKS', async () => {
    const access = accessFor(as, { scope: 'openid offline_access api:read' })
    const result = await consentAs(access, 'oscar')
    expect(result.token.scope).toContain('openid')
  })

  it('a user who cancels at the consent page gets ERR_CONSENT_DENIED', async () => {
    const access = accessFor(as)
    const started = await access.startConsent({ userKey: 'hank' })
    const { driveConsent } = await import('@ongoing/testing')
    const callbackUrl = await driveConsent(started.url, {
      redirectUriPrefix: REDIRECT_URI,
      login: 'hank',
      approve: false,
    })
    await expect(
      access.finishConsent({ callbackUrl, transaction: started.transaction }),
    ).rejects.toMatchObject({ code: 'ERR_CONSENT_DENIED' })
  })
})
