// Issue 17, item 8: an early refresh (inside refreshSkewSeconds, the access token still valid)
// that fails transiently was fatal: getAccessToken threw instead of serving the valid token, and
// every caller, in this process and in others waiting on the lock, started its own retry cycle.
import { MemoryTokenStore } from '@ongoing/core'
import { startTestAuthorizationServer, type TestAuthorizationServer } from '@ongoing/testing'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  accessThrough,
  consentAs,
  deferred,
  Gateway,
  hookedStore,
  settle,
  testClock,
  unprocessedStatus,
  within,
} from './support.js'

describe('engine: an early refresh that fails (real server behind a failing gateway)', () => {
  let as: TestAuthorizationServer
  const clock = testClock()

  beforeAll(async () => {
    as = await startTestAuthorizationServer({ accessTokenTTLSeconds: 120 })
  })
  afterEach(() => clock.reset())
  afterAll(async () => {
    await as?.close()
  })

  const options = { refreshSkewSeconds: 60, retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 } }

  it('regression (issue 17, item 8): a 503 (no Retry-After) on an early refresh serves the still-valid token, emits refreshError with nextAttemptAt, and waits for it', async () => {
    const gateway = new Gateway(as)
    const access = accessThrough(gateway, options)
    const { token: consented } = await consentAs(access, 'early-503')
    const events: Array<{ error: unknown; nextAttemptAt?: number }> = []
    access.on('refreshError', (event) => events.push(event))
    clock.advance(75_000) // 45 s of validity left, refreshSkewSeconds 60
    as.resetStats()
    gateway.tokenFault = unprocessedStatus(503)

    const first = await settle(access.getAccessToken('early-503'))

    expect('error' in first ? first.error : undefined).toBeUndefined()
    expect('value' in first && first.value.value === consented.value, 'served the valid token').toBe(true)
    expect('value' in first && first.value.refreshed).toBe(false)
    expect(events).toHaveLength(1)
    expect(events[0]?.error).toMatchObject({ code: 'ERR_TOKEN_ENDPOINT', status: 503 })
    expect(events[0]?.nextAttemptAt).toBeGreaterThan(Date.now())
    // Before nextAttemptAt: the valid token again, and no token call.
    const attempts = gateway.attempts.refresh_token
    expect((await access.getAccessToken('early-503')).value === consented.value).toBe(true)
    expect(gateway.attempts.refresh_token).toBe(attempts)
    // Once the token has expired (past any backoff), the next call refreshes for real.
    gateway.tokenFault = undefined
    clock.advance(46_000)
    await expect(access.getAccessToken('early-503')).resolves.toMatchObject({ refreshed: true })
    expect(as.stats()).toMatchObject({
      tokenCalls: { refresh_token: 1 },
      refreshTokenReuse: 0,
      grantsRevoked: 0,
    })
  })

  it('regression (issue 17, item 8): a second instance waiting on the lock adopts the holder’s failed early refresh instead of calling again', async () => {
    const gateway = new Gateway(as)
    const inner = new MemoryTokenStore()
    const a = accessThrough(gateway, { ...options, store: inner })
    const { token: consented } = await consentAs(a, 'early-waiter')
    const bWaits = deferred()
    const aCalls = deferred()
    const b = accessThrough(gateway, {
      ...options,
      store: hookedStore(inner, {
        acquireLock: async (_key, ttlMs, acquire) => {
          const lock = await acquire(ttlMs)
          if (lock === undefined) bWaits.resolve()
          return lock
        },
      }),
    })
    await b.metadata()
    clock.advance(75_000)
    as.resetStats()
    // A's call is answered 503 once B waits on the lock (or after 3 s); every later call gets 503 at once.
    let first = true
    gateway.tokenFault = async (call) => {
      if (first) {
        first = false
        aCalls.resolve()
        await within(bWaits.promise, 3_000, undefined)
      }
      return unprocessedStatus(503)(call)
    }

    const fromA = settle(a.getAccessToken('early-waiter'))
    await aCalls.promise
    const fromB = settle(b.getAccessToken('early-waiter'))
    const [ra, rb] = await Promise.all([fromA, fromB])

    expect(gateway.attempts.refresh_token, 'token calls made by both instances').toBe(1)
    for (const outcome of [ra, rb]) {
      expect('error' in outcome ? outcome.error : undefined).toBeUndefined()
      expect('value' in outcome && outcome.value.value === consented.value, 'served the valid token').toBe(
        true,
      )
    }
  })
})
