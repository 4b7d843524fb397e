// Issue 17, item 2: the refresh lock's lease must cover the work done under it. When it lapses
// while its holder's refresh is in flight, a second process takes the lock and spends the same
// refresh token: reuse at a strict server, and the grant is revoked.
import { MemoryTokenStore, type TokenStoreLock } from '@ongoing/core'
import { describe, expect, it } from 'vitest'
import {
  accessThrough,
  bothAsk,
  consentAs,
  deferred,
  expectNoError,
  expectOneCleanRefresh,
  Gateway,
  hookedStore,
  introspect,
  processedThenDelay,
  sleep,
  useStrictServer,
} from './support.js'

describe('engine: the refresh lock’s lease (real server, strict rotation)', () => {
  const server = useStrictServer({ accessTokenTTLSeconds: 60 })

  it('regression (issue 17, item 2): a cold process’s discovery and slow store reads under the lock do not let a second process spend the same refresh token', async () => {
    const inner = new MemoryTokenStore()
    const options = { retry: { attempts: 1 }, requestTimeoutMs: 1_500, storeTimeoutMs: 3_000 }
    // B: warm (discovered at consent), a store that answers at once.
    const { gateway, access: b } = await server.consented('lease-cold', {
      ...options,
      store: hookedStore(inner),
    })
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
    server.expire()
    server.as.resetStats()
    // Discovery answers slowly (under requestTimeoutMs); the server processes A's refresh at once
    // and its answer comes back 1.1 s later (under requestTimeoutMs too).
    gateway.discoveryFault = async ({ forward }) => {
      await sleep(1_100)
      return forward()
    }
    gateway.tokenFaults = [processedThenDelay(1_100)]

    const [ra, rb] = await bothAsk(a, b, 'lease-cold', aLocked.promise)

    expectOneCleanRefresh(server.as)
    expectNoError(ra)
    expectNoError(rb)
    const value = 'value' in ra ? ra.value.value : ''
    expect('value' in ra && ra.value.refreshed).toBe(true)
    expect('value' in rb && rb.value.value === value, 'both instances serve the new token').toBe(true)
    expect(await introspect(server.as, value)).toBe(true)
  }, 15_000)

  it('regression (issue 17, item 2): a store granting half the lease asked for: the holder extends it (lock.extend) and a slow token call keeps the second process out', async () => {
    const gateway = new Gateway(server.as)
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
    server.expire()
    server.as.resetStats()
    // The server processes A's refresh at once; the answer takes 3.5 s (under requestTimeoutMs),
    // longer than half the lease the engine asks for today (requestTimeoutMs + 2 s).
    const forwarded = deferred()
    gateway.tokenFaults = [processedThenDelay(3_500, forwarded.resolve)]

    const [ra, rb] = await bothAsk(a, b, 'lease-half', forwarded.promise)

    expectOneCleanRefresh(server.as)
    expectNoError(ra)
    expectNoError(rb)
    expect('value' in ra && ra.value.refreshed).toBe(true)
    expect(
      'value' in rb && 'value' in ra && rb.value.value === ra.value.value,
      'both serve the new token',
    ).toBe(true)
  }, 15_000)
})
