// Issue 17, item 1: a refresh whose outcome is unknown (the server may have processed it: a late
// answer, a 502/504 from a gateway) is not presented again at once. Under strict rotation a second
// presentation of the spent refresh token is reuse, and the server revokes the whole grant.
import { ConsentRequiredError, isOngoingAccessError, TokenSwapService } from '@ongoing/core'
import {
  authorizeAsNativeApp,
  startTestAuthorizationServer,
  type TestAuthorizationServer,
} from '@ongoing/testing'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  accessThrough,
  captureLogs,
  consentAs,
  errorText,
  expectNoLeak,
  FORM,
  Gateway,
  introspect,
  processedThenSilence,
  processedThenStatus,
  settle,
  testClock,
  unprocessedStatus,
} from './support.js'

describe('engine: refreshes with an unknown outcome (real server, strict rotation)', () => {
  let as: TestAuthorizationServer
  const clock = testClock()

  beforeAll(async () => {
    as = await startTestAuthorizationServer({ accessTokenTTLSeconds: 120 })
  })
  afterEach(() => clock.reset())
  afterAll(async () => {
    await as?.close()
  })

  /** A consented user whose access token has expired, behind a fresh gateway. */
  async function expiredUser(userKey: string, options: Parameters<typeof accessThrough>[1] = {}) {
    const gateway = new Gateway(as)
    const logs = captureLogs()
    const access = accessThrough(gateway, {
      logger: logs.logger,
      retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
      ...options,
    })
    const consented = await consentAs(access, userKey)
    clock.advance(121_000)
    as.resetStats()
    return { gateway, access, logs, consented }
  }

  it('regression (issue 17, item 1): a 504 from a gateway after the server rotated is not retried with the spent refresh token', async () => {
    const { gateway, access, logs } = await expiredUser('unknown-504')
    gateway.tokenFaults = [processedThenStatus(504)]

    const first = await settle(access.getAccessToken('unknown-504'))

    // One presentation; the server saw no reuse and revoked nothing.
    expect(as.stats()).toMatchObject({
      tokenCalls: { refresh_token: 1 },
      refreshTokenReuse: 0,
      grantsRevoked: 0,
    })
    expect(gateway.attempts.refresh_token).toBe(1)
    expect('error' in first && first.error).toMatchObject({
      code: 'ERR_TOKEN_ENDPOINT',
      status: 504,
      outcomeUnknown: true,
    })
    // The grant is alive at the server: the access token of the lost answer is active.
    const lost = gateway.tokenAnswers.at(-1)?.access_token as string
    expect(await introspect(as, lost)).toBe(true)
    // Until failedAt + 5 s the same error comes back, without any token call.
    await expect(access.getAccessToken('unknown-504')).rejects.toMatchObject({
      code: 'ERR_TOKEN_ENDPOINT',
      outcomeUnknown: true,
    })
    expect(gateway.attempts.refresh_token).toBe(1)
    expectNoLeak(gateway.secrets, 'error' in first ? errorText(first.error) : '', ...logs.lines)

    // After the wait the same refresh token is presented once more (the spec's rule); its rotation
    // was lost with the answer, so a strict server refuses it: consent is required.
    clock.advance(6_000)
    const later = await settle(access.getAccessToken('unknown-504'))
    expect(gateway.attempts.refresh_token).toBe(2)
    expect('error' in later && later.error).toBeInstanceOf(ConsentRequiredError)
    expect('error' in later && later.error).toMatchObject({ reason: 'invalid_grant' })
  })

  it('regression (issue 17, item 1): a 502 the server never saw is not retried at once either, and works after the wait', async () => {
    const { gateway, access } = await expiredUser('unknown-502')
    gateway.tokenFaults = [unprocessedStatus(502)]

    const first = await settle(access.getAccessToken('unknown-502'))

    expect(gateway.attempts.refresh_token).toBe(1)
    expect(as.stats().tokenCalls.refresh_token).toBe(0)
    expect('error' in first && first.error).toMatchObject({
      code: 'ERR_TOKEN_ENDPOINT',
      status: 502,
      outcomeUnknown: true,
    })
    clock.advance(6_000)
    await expect(access.getAccessToken('unknown-502')).resolves.toMatchObject({ refreshed: true })
    expect(gateway.attempts.refresh_token).toBe(2)
    expect(as.stats()).toMatchObject({
      tokenCalls: { refresh_token: 1 },
      refreshTokenReuse: 0,
      grantsRevoked: 0,
    })
  })

  it('regression (issue 17, item 1): an answer later than requestTimeoutMs is not retried: ERR_NETWORK with outcomeUnknown', async () => {
    const { gateway, access, logs } = await expiredUser('unknown-late', { requestTimeoutMs: 500 })
    gateway.tokenFaults = [processedThenSilence]

    const first = await settle(access.getAccessToken('unknown-late'))

    expect(as.stats()).toMatchObject({
      tokenCalls: { refresh_token: 1 },
      refreshTokenReuse: 0,
      grantsRevoked: 0,
    })
    expect(gateway.attempts.refresh_token).toBe(1)
    expect('error' in first && first.error).toMatchObject({ code: 'ERR_NETWORK', outcomeUnknown: true })
    expect(isOngoingAccessError('error' in first && first.error)).toBe(true)
    expectNoLeak(gateway.secrets, 'error' in first ? errorText(first.error) : '', ...logs.lines)
  })

  it('regression (issue 17, item 1): inside the skew window a lost answer leaves the still-valid token served, with refreshError', async () => {
    const gateway = new Gateway(as)
    const access = accessThrough(gateway, {
      refreshSkewSeconds: 60,
      retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
    })
    const { token: consented } = await consentAs(access, 'unknown-early')
    clock.advance(75_000) // 45 s of validity left: due for an early refresh
    as.resetStats()
    const errors: unknown[] = []
    access.on('refreshError', ({ error }) => errors.push(error))
    gateway.tokenFaults = [processedThenStatus(504)]

    const first = await settle(access.getAccessToken('unknown-early'))

    expect(as.stats()).toMatchObject({
      tokenCalls: { refresh_token: 1 },
      refreshTokenReuse: 0,
      grantsRevoked: 0,
    })
    expect('error' in first ? first.error : undefined).toBeUndefined()
    expect('value' in first && first.value.value === consented.value, 'served the valid token').toBe(true)
    expect('value' in first && first.value.refreshed).toBe(false)
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatchObject({ code: 'ERR_TOKEN_ENDPOINT', status: 504, outcomeUnknown: true })
    // The next presentation waits for the token to expire: meanwhile, the valid token, no call.
    clock.advance(10_000)
    expect((await access.getAccessToken('unknown-early')).value === consented.value).toBe(true)
    expect(gateway.attempts.refresh_token).toBe(1)
  })

  it('item 1 (guard): a refused connection (certainly not sent) is still retried at once', async () => {
    const { gateway, access } = await expiredUser('refused-retried')
    gateway.tokenFaults = [() => gateway.refused()]

    await expect(access.getAccessToken('refused-retried')).resolves.toMatchObject({ refreshed: true })
    expect(gateway.attempts.refresh_token).toBe(2)
    expect(as.stats()).toMatchObject({
      tokenCalls: { refresh_token: 1 },
      refreshTokenReuse: 0,
      grantsRevoked: 0,
    })
  })

  it('regression (issue 17, item 1): the token swap service presents a refresh token once when a 504 follows processing', async () => {
    const gateway = new Gateway(as)
    const access = accessThrough(gateway, { retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 } })
    const redirectUri = 'http://127.0.0.1:7777/callback'
    const swap = new TokenSwapService(access, { redirectUris: [redirectUri], rateLimit: false })
    const { code, codeVerifier } = await authorizeAsNativeApp(as.issuer, {
      clientId: as.clients.confidential.id,
      redirectUri,
      login: 'swap-504',
    })
    const form = (fields: Record<string, string>) => ({
      contentType: FORM,
      body: new URLSearchParams(fields).toString(),
      clientAddress: '127.0.0.1',
    })
    const swapped = await swap.swap(form({ code, code_verifier: codeVerifier, redirect_uri: redirectUri }))
    expect(swapped.status).toBe(200)
    as.resetStats()
    gateway.tokenFaults = [processedThenStatus(504)]

    const refreshed = await swap.refresh(form({ refresh_token: swapped.json.refresh_token as string }))

    expect(as.stats()).toMatchObject({
      tokenCalls: { refresh_token: 1 },
      refreshTokenReuse: 0,
      grantsRevoked: 0,
    })
    expect(gateway.attempts.refresh_token).toBe(1)
    expect(refreshed.status).toBeGreaterThanOrEqual(500)
  })
})
