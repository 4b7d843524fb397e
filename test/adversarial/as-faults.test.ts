// The authorization server fails transiently at refresh: 5xx, 429 with Retry-After, refused or
// reset connections, timeouts. What certainly did not reach the server is retried with backoff;
// what may have been processed is not presented again at once. The grant survives, nothing is
// revoked, nothing leaks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { advanceClock } from '../core/real-as.js'
import { errorText, expectNoLeak, type Scenario, startScenario } from './harness.js'

type Fault = () => Response | Promise<Response>
const reset: Fault = () => {
  throw new TypeError('fetch failed', {
    cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
  })
}
const hang: Fault = () => new Promise<Response>(() => {})
const refused: Fault = () => {
  throw new TypeError('fetch failed', {
    cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
  })
}

describe('adversarial: authorization server faults at refresh (real server behind the faults)', () => {
  let s: Scenario

  beforeAll(async () => {
    s = await startScenario(
      {
        refreshSkewSeconds: 0,
        requestTimeoutMs: 200,
        retry: { attempts: 3, baseDelayMs: 5, maxDelayMs: 20, maxRetryAfterMs: 1_500 },
      },
      { accessTokenTTLSeconds: 1 },
    )
  })
  afterAll(async () => s?.close())

  async function expired(userKey: string) {
    await s.consent(userKey)
    await new Promise((resolve) => setTimeout(resolve, 1_100))
    s.as.resetStats()
    s.tokenAttempts = 0
  }

  it.each<[string, Fault[]]>([
    ['a refused connection', [refused]],
    [
      'a 503 with Retry-After, then a refused connection',
      [() => new Response('busy', { status: 503, headers: { 'retry-after': '0' } }), refused],
    ],
    [
      '429 with Retry-After in seconds',
      [() => Response.json({ error: 'slow_down' }, { status: 429, headers: { 'retry-after': '1' } })],
    ],
    [
      '429 with Retry-After as an HTTP date',
      [
        () =>
          Response.json(
            { error: 'slow_down' },
            { status: 429, headers: { 'retry-after': new Date(Date.now() + 1_000).toUTCString() } },
          ),
      ],
    ],
  ])(
    '%s (certainly not processed): retried, then one real refresh; the grant survives',
    async (name, list) => {
      await expired(`fault-${name.replace(/\W+/g, '-')}`)
      s.tokenFaults = [...list]
      const token = await s.access.getAccessToken(`fault-${name.replace(/\W+/g, '-')}`)
      expect(token.refreshed).toBe(true)
      expect(s.tokenAttempts).toBe(list.length + 1)
      expect(s.as.stats().tokenCalls.refresh_token).toBe(1)
      expect(s.as.stats().grantsRevoked).toBe(0)
    },
  )

  it.each<[string, Fault, string]>([
    ['a 500', () => Response.json({ error: 'server_error' }, { status: 500 }), 'ERR_TOKEN_ENDPOINT'],
    ['a 503 without Retry-After', () => new Response('busy', { status: 503 }), 'ERR_TOKEN_ENDPOINT'],
    ['a reset', reset, 'ERR_NETWORK'],
    ['a timeout', hang, 'ERR_NETWORK'],
  ])(
    '%s (outcome unknown): one attempt, the grant kept, the refresh token presented again only later',
    async (name, fault, code) => {
      const userKey = `unknown-${name.replace(/\W+/g, '-')}`
      await expired(userKey)
      s.tokenFaults = [fault]
      const before = await s.store.snapshot()
      const err = await s.access.getAccessToken(userKey).catch((e: unknown) => e)
      expect(err).toMatchObject({ code, outcomeUnknown: true })
      expect(s.tokenAttempts).toBe(1)
      // Not again at once, in this process or any other: the failure is kept with the grant.
      await expect(s.access.getAccessToken(userKey)).rejects.toMatchObject({ code, outcomeUnknown: true })
      expect(s.tokenAttempts).toBe(1)
      expect(Object.keys(await s.store.snapshot())).toEqual(Object.keys(before))
      expectNoLeak(s.secrets, errorText(err), ...s.logs)
      // Later (the fault never reached the server), the same refresh token works.
      const restore = advanceClock(5_100)
      try {
        await expect(s.access.getAccessToken(userKey)).resolves.toMatchObject({ refreshed: true })
      } finally {
        restore()
      }
      expect(s.as.stats().tokenCalls.refresh_token).toBe(1)
      expect(s.as.stats().grantsRevoked).toBe(0)
    },
  )

  it('faults on every attempt: ERR_NETWORK after 3 attempts, no real call, the grant kept for later', async () => {
    await expired('always-down')
    s.tokenFaults = [refused, refused, refused]
    const before = await s.store.snapshot()
    const err = await s.access.getAccessToken('always-down').catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'ERR_NETWORK', outcomeUnknown: false })
    expect(s.tokenAttempts).toBe(3)
    expect(s.as.stats().tokenCalls.total).toBe(0)
    expect(Object.keys(await s.store.snapshot())).toEqual(Object.keys(before))
    expectNoLeak(s.secrets, errorText(err), ...s.logs)
    const restore = advanceClock(1_100)
    try {
      await expect(s.access.getAccessToken('always-down')).resolves.toMatchObject({ refreshed: true })
    } finally {
      restore()
    }
  })

  it('a Retry-After beyond the cap is not waited for: one attempt, ERR_TOKEN_ENDPOINT with retryAfterMs', async () => {
    await expired('rate-limited')
    s.tokenFaults = [
      () => Response.json({ error: 'slow_down' }, { status: 429, headers: { 'retry-after': '120' } }),
    ]
    const started = Date.now()
    await expect(s.access.getAccessToken('rate-limited')).rejects.toMatchObject({
      code: 'ERR_TOKEN_ENDPOINT',
      status: 429,
      retryAfterMs: 120_000,
    })
    expect(Date.now() - started).toBeLessThan(500)
    expect(s.tokenAttempts).toBe(1)
  })

  it('no log line holds token material', () => {
    expectNoLeak(s.secrets, ...s.logs)
  })
})
