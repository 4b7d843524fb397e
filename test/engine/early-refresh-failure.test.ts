// Issue 17, item 8: an early refresh (inside refreshSkewSeconds, the access token still valid)
// that fails transiently was fatal: getAccessToken threw instead of serving the valid token, and
// every caller, in this process and in others waiting on the lock, started its own retry cycle.
import { MemoryTokenStore } from '@ongoing/core'
import { describe, expect, it } from 'vitest'
import {
  accessThrough,
  bothAsk,
  deferred,
  expectNoError,
  expectOneCleanRefresh,
  hookedStore,
  refreshErrors,
  settle,
  unprocessedStatus,
  useStrictServer,
  within,
} from './support.js'

describe('engine: an early refresh that fails (real server behind a failing gateway)', () => {
  const server = useStrictServer({ accessTokenTTLSeconds: 120 })

  const options = { refreshSkewSeconds: 60, retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 } }

  it('regression (issue 17, item 8): a 503 (no Retry-After) on an early refresh serves the still-valid token, emits refreshError with nextAttemptAt, and waits for it', async () => {
    const { gateway, access, token: consented } = await server.consented('early-503', options)
    const events = refreshErrors(access)
    server.clock.advance(75_000) // 45 s of validity left, refreshSkewSeconds 60
    server.as.resetStats()
    gateway.tokenFault = unprocessedStatus(503)

    const first = await settle(access.getAccessToken('early-503'))

    expectNoError(first)
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
    server.clock.advance(46_000)
    await expect(access.getAccessToken('early-503')).resolves.toMatchObject({ refreshed: true })
    expectOneCleanRefresh(server.as)
  })

  it('regression (issue 17, item 8): a second instance waiting on the lock adopts the holder’s failed early refresh instead of calling again', async () => {
    const inner = new MemoryTokenStore()
    const {
      gateway,
      access: a,
      token: consented,
    } = await server.consented('early-waiter', { ...options, store: inner })
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
    server.clock.advance(75_000)
    server.as.resetStats()
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

    const [ra, rb] = await bothAsk(a, b, 'early-waiter', aCalls.promise)

    expect(gateway.attempts.refresh_token, 'token calls made by both instances').toBe(1)
    for (const outcome of [ra, rb]) {
      expectNoError(outcome)
      expect('value' in outcome && outcome.value.value === consented.value, 'served the valid token').toBe(
        true,
      )
    }
  })
})
