// Issue 17, item 2: the refresh lock's lease must cover the work done under it. When it lapses
// while its holder's refresh is in flight, a second process takes the lock and spends the same
// refresh token: reuse at a strict server, and the grant is revoked.
import { MemoryTokenStore, type TokenStoreLock } from '@ongoing/core'
import { startTestAuthorizationServer, type TestAuthorizationServer } from '@ongoing/testing'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  accessThrough,
  consentAs,
  deferred,
  Gateway,
  hookedStore,
  introspect,
  processedThenDelay,
  settle,
  sleep,
  testClock,
} from './support.js'

describe('engine: the refresh lock’s lease (real server, strict rotation)', () => {
  let as: TestAuthorizationServer
  const clock = testClock()

  beforeAll(async () => {
    as = await startTestAuthorizationServer({ accessTokenTTLSeconds: 60 })
  })
  afterEach(() => clock.reset())
  afterAll(async () => {
    await as?.close()
  })

  it('regression (issue 17, item 2): a cold process’s discovery and slow store reads under the lock do not let a second process spend the same refresh token', async () => {
    const gateway = new Gateway(as)
    const inner = new MemoryTokenStore()
    const options = { retry: { attempts: 1 }, requestTimeoutMs: 1_500, storeTimeoutMs: 3_000 }
    // B: warm (discovered at consent), a store that answers at once.
    const b = accessThrough(gateway, { ...options, store: hookedStore(inner) })
    await consentAs(b, 'lease-cold')
    // A: cold (no discovery yet); its store reads are slow while it holds the lock (under storeTimeoutMs).
    let aHoldsLock = false
    const aLocked = deferred()
    const a = accessThrough(gateway, {
      ...options,
      store: hookedStore(inner, {
        get: async (_key, read) => {
          if (aHoldsLock) await sleep(1_800)
          return read()
        },
        acquireLock: async (_key, ttlMs, acquire) => {
          const lock = await acquire(ttlMs)
          if (lock !== undefined) {
            aHoldsLock = true
            aLocked.resolve()
          }
          return lock
        },
      }),
    })
    clock.advance(61_000)
    as.resetStats()
    // Discovery answers slowly (under requestTimeoutMs); the server processes A's refresh at once
    // and its answer comes back 1.1 s later (under requestTimeoutMs too).
    gateway.discoveryFault = async ({ forward }) => {
      await sleep(1_100)
      return forward()
    }
    gateway.tokenFaults = [processedThenDelay(1_100)]

    const fromA = settle(a.getAccessToken('lease-cold'))
    await aLocked.promise
    const fromB = settle(b.getAccessToken('lease-cold'))
    const [ra, rb] = await Promise.all([fromA, fromB])

    expect(as.stats()).toMatchObject({
      tokenCalls: { refresh_token: 1 },
      refreshTokenReuse: 0,
      grantsRevoked: 0,
    })
    expect('error' in ra ? ra.error : undefined).toBeUndefined()
    expect('error' in rb ? rb.error : undefined).toBeUndefined()
    const value = 'value' in ra ? ra.value.value : ''
    expect('value' in ra && ra.value.refreshed).toBe(true)
    expect('value' in rb && rb.value.value === value, 'both instances serve the new token').toBe(true)
    expect(await introspect(as, value)).toBe(true)
  }, 15_000)

  it('regression (issue 17, item 2): a store granting half the lease asked for: the holder extends it (lock.extend) and a slow token call keeps the second process out', async () => {
    const gateway = new Gateway(as)
    const inner = new MemoryTokenStore()
    // Locks last half of what was asked; `extend` gets half of what it is asked as well.
    const halfLeases = hookedStore(inner, {
      acquireLock: async (_key, ttlMs, acquire) => {
        const lock = await acquire(Math.floor(ttlMs / 2))
        if (lock === undefined) return undefined
        const extend = (ms: number) => (lock as TokenStoreLock).extend!(Math.floor(ms / 2))
        return { key: lock.key, token: lock.token, release: () => lock.release(), extend }
      },
    })
    const options = { retry: { attempts: 1 }, requestTimeoutMs: 4_000, store: halfLeases }
    const a = accessThrough(gateway, options)
    const b = accessThrough(gateway, options)
    await consentAs(a, 'lease-half')
    await b.metadata()
    clock.advance(61_000)
    as.resetStats()
    // The server processes A's refresh at once; the answer takes 3.5 s (under requestTimeoutMs),
    // longer than half the lease the engine asks for today (requestTimeoutMs + 2 s).
    const forwarded = deferred()
    gateway.tokenFaults = [processedThenDelay(3_500, forwarded.resolve)]

    const fromA = settle(a.getAccessToken('lease-half'))
    await forwarded.promise
    const fromB = settle(b.getAccessToken('lease-half'))
    const [ra, rb] = await Promise.all([fromA, fromB])

    expect(as.stats()).toMatchObject({
      tokenCalls: { refresh_token: 1 },
      refreshTokenReuse: 0,
      grantsRevoked: 0,
    })
    expect('error' in ra ? ra.error : undefined).toBeUndefined()
    expect('error' in rb ? rb.error : undefined).toBeUndefined()
    expect('value' in ra && ra.value.refreshed).toBe(true)
    expect(
      'value' in rb && 'value' in ra && rb.value.value === ra.value.value,
      'both serve the new token',
    ).toBe(true)
  }, 15_000)
})
