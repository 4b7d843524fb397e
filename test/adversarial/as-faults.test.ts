// The authorization server fails transiently at refresh: 5xx, 429 with Retry-After, connection
// resets, timeouts. Refreshes retry with backoff, then reach the real server once; the grant
// survives, nothing is revoked, nothing leaks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorText, expectNoLeak, type Scenario, startScenario } from './harness.js'

type Fault = () => Response | Promise<Response>
const reset: Fault = () => {
  throw new TypeError('fetch failed', {
    cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
  })
}
const hang: Fault = () => new Promise<Response>(() => {})

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
    ['a 500', [() => Response.json({ error: 'server_error' }, { status: 500 })]],
    ['a 503 then a reset', [() => new Response('busy', { status: 503 }), reset]],
    ['a timeout', [hang]],
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
  ])('%s: retried, then one real refresh; the grant survives', async (name, list) => {
    await expired(`fault-${name.replace(/\W+/g, '-')}`)
    s.tokenFaults = [...list]
    const token = await s.access.getAccessToken(`fault-${name.replace(/\W+/g, '-')}`)
    expect(token.refreshed).toBe(true)
    expect(s.tokenAttempts).toBe(list.length + 1)
    expect(s.as.stats().tokenCalls.refresh_token).toBe(1)
    expect(s.as.stats().grantsRevoked).toBe(0)
  })

  it('faults on every attempt: ERR_TOKEN_ENDPOINT after 3 attempts, no real call, the grant kept for later', async () => {
    await expired('always-down')
    s.tokenFaults = [reset, reset, reset]
    const before = await s.store.snapshot()
    const err = await s.access.getAccessToken('always-down').catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'ERR_TOKEN_ENDPOINT' })
    expect(s.tokenAttempts).toBe(3)
    expect(s.as.stats().tokenCalls.total).toBe(0)
    expect(await s.store.snapshot()).toEqual(before)
    expectNoLeak(s.secrets, errorText(err), ...s.logs)
    await expect(s.access.getAccessToken('always-down')).resolves.toMatchObject({ refreshed: true })
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
