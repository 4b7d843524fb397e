// Issue 17, item 1: a refresh whose outcome is unknown (the server may have processed it: a late
// answer, a 502/504 from a gateway) is not presented again at once. Under strict rotation a second
// presentation of the spent refresh token is reuse, and the server revokes the whole grant.
import { ConsentRequiredError, isOngoingAccessError } from '@ongoing/core'
import { TokenSwapService } from '@ongoing/core/adapter'
import { authorizeAsNativeApp } from '@ongoing/testing'
import { describe, expect, it } from 'vitest'
import {
  accessThrough,
  captureLogs,
  errorText,
  expectNoError,
  expectNoLeak,
  expectOneCleanRefresh,
  FORM,
  Gateway,
  introspect,
  processedThenSilence,
  processedThenStatus,
  refreshErrors,
  settle,
  unprocessedStatus,
  useStrictServer,
} from './support.js'

describe('engine: refreshes with an unknown outcome (real server, strict rotation)', () => {
  const server = useStrictServer({ accessTokenTTLSeconds: 120 })

  /** A consented user whose access token has expired, behind a fresh gateway. */
  async function expiredUser(userKey: string, options: Parameters<typeof accessThrough>[1] = {}) {
    const logs = captureLogs()
    const { gateway, access } = await server.consented(userKey, {
      logger: logs.logger,
      retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
      ...options,
    })
    server.expire()
    server.as.resetStats()
    return { gateway, access, logs }
  }

  it('regression (issue 17, item 1): a 504 from a gateway after the server rotated is not retried with the spent refresh token', async () => {
    const { gateway, access, logs } = await expiredUser('unknown-504')
    gateway.tokenFaults = [processedThenStatus(504)]

    const first = await settle(access.getAccessToken('unknown-504'))

    // One presentation; the server saw no reuse and revoked nothing.
    expectOneCleanRefresh(server.as)
    expect(gateway.attempts.refresh_token).toBe(1)
    expect('error' in first && first.error).toMatchObject({
      code: 'ERR_TOKEN_ENDPOINT',
      status: 504,
      outcomeUnknown: true,
    })
    // The grant is alive at the server: the access token of the lost answer is active.
    const lost = gateway.tokenAnswers.at(-1)?.access_token as string
    expect(await introspect(server.as, lost)).toBe(true)
    // Until failedAt + 5 s the same error comes back, without any token call.
    await expect(access.getAccessToken('unknown-504')).rejects.toMatchObject({
      code: 'ERR_TOKEN_ENDPOINT',
      outcomeUnknown: true,
    })
    expect(gateway.attempts.refresh_token).toBe(1)
    expectNoLeak(gateway.secrets, 'error' in first ? errorText(first.error) : '', ...logs.lines)

    // After the wait the same refresh token is presented once more (the spec's rule); its rotation
    // was lost with the answer, so a strict server refuses it: consent is required.
    server.clock.advance(6_000)
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
    expect(server.as.stats().tokenCalls.refresh_token).toBe(0)
    expect('error' in first && first.error).toMatchObject({
      code: 'ERR_TOKEN_ENDPOINT',
      status: 502,
      outcomeUnknown: true,
    })
    server.clock.advance(6_000)
    await expect(access.getAccessToken('unknown-502')).resolves.toMatchObject({ refreshed: true })
    expect(gateway.attempts.refresh_token).toBe(2)
    expectOneCleanRefresh(server.as)
  })

  it('regression (issue 17, item 1): an answer later than requestTimeoutMs is not retried: ERR_NETWORK with outcomeUnknown', async () => {
    const { gateway, access, logs } = await expiredUser('unknown-late', { requestTimeoutMs: 500 })
    gateway.tokenFaults = [processedThenSilence]

    const first = await settle(access.getAccessToken('unknown-late'))

    expectOneCleanRefresh(server.as)
    expect(gateway.attempts.refresh_token).toBe(1)
    expect('error' in first && first.error).toMatchObject({ code: 'ERR_NETWORK', outcomeUnknown: true })
    expect(isOngoingAccessError('error' in first && first.error)).toBe(true)
    expectNoLeak(gateway.secrets, 'error' in first ? errorText(first.error) : '', ...logs.lines)
  })

  it('regression (issue 17, item 1): inside the skew window a lost answer leaves the still-valid token served, with refreshError', async () => {
    const {
      gateway,
      access,
      token: consented,
    } = await server.consented('unknown-early', {
      refreshSkewSeconds: 60,
      retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
    })
    server.clock.advance(75_000) // 45 s of validity left: due for an early refresh
    server.as.resetStats()
    const events = refreshErrors(access)
    gateway.tokenFaults = [processedThenStatus(504)]

    const first = await settle(access.getAccessToken('unknown-early'))

    expectOneCleanRefresh(server.as)
    expectNoError(first)
    expect('value' in first && first.value.value === consented.value, 'served the valid token').toBe(true)
    expect('value' in first && first.value.refreshed).toBe(false)
    expect(events).toHaveLength(1)
    expect(events[0]?.error).toMatchObject({ code: 'ERR_TOKEN_ENDPOINT', status: 504, outcomeUnknown: true })
    // The next presentation waits for the token to expire: meanwhile, the valid token, no call.
    server.clock.advance(10_000)
    expect((await access.getAccessToken('unknown-early')).value === consented.value).toBe(true)
    expect(gateway.attempts.refresh_token).toBe(1)
  })

  it('item 1 (guard): a refused connection (certainly not sent) is still retried at once', async () => {
    const { gateway, access } = await expiredUser('refused-retried')
    gateway.tokenFaults = [() => gateway.refused()]

    await expect(access.getAccessToken('refused-retried')).resolves.toMatchObject({ refreshed: true })
    expect(gateway.attempts.refresh_token).toBe(2)
    expectOneCleanRefresh(server.as)
  })

  it('regression (issue 17, item 1): the token swap service presents a refresh token once when a 504 follows processing', async () => {
    const gateway = new Gateway(server.as)
    const access = accessThrough(gateway, { retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 } })
    const redirectUri = 'http://127.0.0.1:7777/callback'
    const swap = new TokenSwapService(access, { redirectUris: [redirectUri], rateLimit: false })
    const { code, codeVerifier } = await authorizeAsNativeApp(server.as.issuer, {
      clientId: server.as.clients.confidential.id,
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
    server.as.resetStats()
    gateway.tokenFaults = [processedThenStatus(504)]

    const refreshed = await swap.refresh(form({ refresh_token: swapped.json.refresh_token as string }))

    expectOneCleanRefresh(server.as)
    expect(gateway.attempts.refresh_token).toBe(1)
    expect(refreshed.status).toBeGreaterThanOrEqual(500)
  })
})
