// Issue 21 (the cross-process storm): the store round trips a refresh waits for. A token this
// process cached that comes due asks for the lock along with its first read, and the callers of a
// refresh are answered while the lock's release is on its way, not after it is answered.
import { MemoryTokenStore, type TokenStore, type TokenStoreLock } from '@ongoing/core'
import { describe, expect, it } from 'vitest'
import {
  accessThrough,
  deferred,
  expectOneCleanRefresh,
  hookedStore,
  settle,
  useStrictServer,
  within,
} from './support.js'

/** What a store was asked, in order; reads and releases can be held at a gate. */
function recordingStore(inner: MemoryTokenStore, { subscribe = true } = {}) {
  const calls: string[] = []
  let heldRead: Promise<void> | undefined
  let heldRelease: Promise<void> | undefined
  const hooked = hookedStore(inner, {
    get: async (_key, read) => {
      calls.push('get')
      const gate = heldRead
      heldRead = undefined
      if (gate !== undefined) await gate
      return read()
    },
    acquireLock: async (_key, ttlMs, acquire) => {
      calls.push('acquireLock')
      const lock = await acquire(ttlMs)
      if (lock === undefined) return undefined
      calls.push('locked')
      const held: TokenStoreLock = {
        ...lock,
        release: async () => {
          calls.push('release')
          const gate = heldRelease
          heldRelease = undefined
          if (gate !== undefined) await gate
          await lock.release()
          calls.push('released')
        },
      }
      return held
    },
  })
  const store: TokenStore = subscribe ? hooked : { ...hooked, subscribe: undefined }
  return {
    store,
    calls,
    /** The next read waits until the returned function is called. */
    holdNextRead() {
      const gate = deferred()
      heldRead = gate.promise
      return gate.resolve
    },
    /** The next release waits until the returned function is called. */
    holdNextRelease() {
      const gate = deferred()
      heldRelease = gate.promise
      return gate.resolve
    },
  }
}

describe('engine: the store round trips before and after a refresh (real server, strict rotation)', () => {
  const server = useStrictServer({ accessTokenTTLSeconds: 60 })

  it('a cached token that came due asks for the lock along with its first read', async () => {
    const inner = new MemoryTokenStore()
    const { gateway } = await server.consented('due-lock', { store: inner })
    const recorded = recordingStore(inner)
    const access = accessThrough(gateway, { store: recorded.store })
    await access.ready() // the server discovered, as before an app listens
    await access.getAccessToken('due-lock') // cached
    server.expire()
    server.as.resetStats()
    recorded.calls.length = 0

    const letRead = recorded.holdNextRead()
    const refreshing = settle(access.getAccessToken('due-lock'))
    await within(refreshing, 50, undefined)
    // The read is still held: the lock was asked for without waiting for it.
    expect([...recorded.calls].sort()).toEqual(['acquireLock', 'get', 'locked'])
    letRead()
    const outcome = await refreshing
    expect('value' in outcome && outcome.value.refreshed).toBe(true)
    // Then read again under the lock, as always, before the token call.
    expect(recorded.calls[3]).toBe('get')
    expectOneCleanRefresh(server.as)
  })

  it('a cold cache reads first and asks for the lock only when the stored token needs a refresh', async () => {
    const inner = new MemoryTokenStore()
    const { gateway } = await server.consented('cold-lock', { store: inner })
    const recorded = recordingStore(inner)
    const access = accessThrough(gateway, { store: recorded.store })
    await access.metadata()
    const fresh = await access.getAccessToken('cold-lock')
    expect(fresh.refreshed).toBe(false)
    expect(recorded.calls).toEqual(['get'])
  })

  it('a due token that another process refreshed: the read answers, no token call, and the lock asked for is given back', async () => {
    const inner = new MemoryTokenStore()
    const { gateway } = await server.consented('due-elsewhere', { store: inner })
    // This instance hears no notifications: its cache does not learn of the other's refresh.
    const recorded = recordingStore(inner, { subscribe: false })
    const deaf = accessThrough(gateway, { store: recorded.store })
    await deaf.ready()
    await deaf.getAccessToken('due-elsewhere')
    server.expire()
    const other = accessThrough(gateway, { store: inner })
    const refreshed = await other.getAccessToken('due-elsewhere')
    expect(refreshed.refreshed).toBe(true)
    server.as.resetStats()
    recorded.calls.length = 0

    const seen = await deaf.getAccessToken('due-elsewhere')
    expect(seen.value).toBe(refreshed.value)
    await within(new Promise(() => {}), 20, undefined)
    expect(recorded.calls.slice(0, 2).sort()).toEqual(['acquireLock', 'get'])
    expect(recorded.calls.slice(2)).toEqual(['locked', 'release', 'released'])
    expect(server.as.stats().tokenCalls.refresh_token ?? 0).toBe(0)
    // Given back: the other instance takes the lock at once for a forced refresh.
    const forced = await within(
      other.getAccessToken('due-elsewhere', { forceRefresh: true }),
      2_000,
      'waited',
    )
    expect(forced).toMatchObject({ refreshed: true })
    expectOneCleanRefresh(server.as)
  })

  it('the callers of a refresh are answered while the release is on its way; this process’s next lock waits for it', async () => {
    const inner = new MemoryTokenStore()
    const { gateway } = await server.consented('release-later', { store: inner })
    const recorded = recordingStore(inner)
    const access = accessThrough(gateway, { store: recorded.store })
    await access.ready()
    await access.getAccessToken('release-later')
    server.expire()
    server.as.resetStats()
    recorded.calls.length = 0

    const letRelease = recorded.holdNextRelease()
    const first = await within(access.getAccessToken('release-later'), 2_000, 'waited for the release')
    expect(first).toMatchObject({ refreshed: true })
    expect(recorded.calls.at(-1)).toBe('release')

    // A forced refresh now asks for the lock only once our release has landed: never refused by
    // our own lock (which would leave it polling).
    const forced = settle(access.getAccessToken('release-later', { forceRefresh: true }))
    await within(forced, 50, undefined)
    const acquiresBefore = recorded.calls.filter((c) => c === 'acquireLock').length
    expect(acquiresBefore).toBe(1)
    letRelease()
    const outcome = await forced
    expect('value' in outcome && outcome.value.refreshed).toBe(true)
    const order = recorded.calls.join(' ')
    expect(order).toMatch(/release get released acquireLock locked/)
    expect(recorded.calls.filter((c) => c === 'acquireLock').length).toBe(2)
    expect(server.as.stats()).toMatchObject({
      tokenCalls: { refresh_token: 2 },
      refreshTokenReuse: 0,
      grantsRevoked: 0,
    })
  })

  it('revoke right after a refresh waits for that refresh’s release and revokes under the lock', async () => {
    const inner = new MemoryTokenStore()
    const { gateway } = await server.consented('revoke-after', { store: inner })
    const recorded = recordingStore(inner)
    const access = accessThrough(gateway, { store: recorded.store })
    await access.getAccessToken('revoke-after')
    server.expire()
    recorded.calls.length = 0

    const letRelease = recorded.holdNextRelease()
    await access.getAccessToken('revoke-after')
    const revoking = settle(access.revoke('revoke-after'))
    await within(revoking, 50, undefined)
    expect(recorded.calls.filter((c) => c === 'acquireLock').length).toBe(1)
    letRelease()
    const outcome = await revoking
    expect(outcome).toEqual({ value: { revokedAtServer: true } })
    expect(recorded.calls.join(' ')).toMatch(/release released acquireLock locked get release released$/)
    expect(await access.inspect('revoke-after')).toBeUndefined()
  })
})
