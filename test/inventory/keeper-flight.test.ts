// Issue 20: a keeper refreshes ahead of need so that no request waits for a token call. A plain
// getAccessToken that met the keeper's refresh of the same grant under way in its process (a cold
// cache: the keeper's process had not read that grant yet, or another process had changed it) used
// to join that refresh, and so waited for the token call although the stored token was fresh.
import { MemoryTokenStore } from '@ongoing/core'
import { describe, expect, it } from 'vitest'
import {
  accessThrough,
  deferred,
  expectOneCleanRefresh,
  Gateway,
  useStrictServer,
  within,
} from '../engine/support.js'

describe('keeper: its refresh ahead of need holds up no request (real server, strict rotation)', () => {
  const server = useStrictServer({ accessTokenTTLSeconds: 60 })

  it('regression: getAccessToken during the keeper’s token call, in its process, cold cache: the stored token at once, not after the call', async () => {
    const store = new MemoryTokenStore()
    const { token: consented } = await server.consented('ahead', { store, refreshSkewSeconds: 5 })
    // Another instance on the same store runs the keeper; it has not read the grant yet. Its token
    // calls wait at a gate until the test opens it.
    const gateway = new Gateway(server.as)
    const gate = deferred()
    const inCall = deferred()
    gateway.tokenFault = async ({ forward }) => {
      inCall.resolve()
      await gate.promise
      return forward()
    }
    const access = accessThrough(gateway, { store, refreshSkewSeconds: 5 })
    await access.metadata()
    server.as.resetStats()
    // 10 s before expiry: due for a keeper 30 s ahead, still fresh for a request (5 s skew).
    server.clock.advance(50_000)
    const keeper = access.keepFresh({ intervalSeconds: 10, aheadSeconds: 30 })
    try {
      const sweep = keeper.sweep()
      await inCall.promise

      const started = performance.now()
      const read = await within(access.getAccessToken('ahead'), 2_000, 'still waiting for the token call')
      const ms = performance.now() - started
      gate.resolve()

      expect(read).toMatchObject({ value: consented.value, refreshed: false })
      expect(ms).toBeLessThan(1_000)
      expect(await sweep).toMatchObject({ due: 1, refreshed: 1 })
      expectOneCleanRefresh(server.as)
      // Once the keeper's refresh is saved, this instance hands out the new token.
      const after = await access.getAccessToken('ahead')
      expect(after.value).not.toBe(consented.value)
      expect(after.refreshed).toBe(false)
    } finally {
      gate.resolve()
      await keeper.stop()
      access.close()
    }
  })

  it('a forced refresh during the keeper’s token call still waits for it, and refreshes no more (one call at the server)', async () => {
    const store = new MemoryTokenStore()
    const { token: consented } = await server.consented('ahead-forced', { store, refreshSkewSeconds: 5 })
    const gateway = new Gateway(server.as)
    const gate = deferred()
    const inCall = deferred()
    gateway.tokenFault = async ({ forward }) => {
      inCall.resolve()
      await gate.promise
      return forward()
    }
    const access = accessThrough(gateway, { store, refreshSkewSeconds: 5 })
    await access.metadata()
    server.as.resetStats()
    server.clock.advance(50_000)
    const keeper = access.keepFresh({ intervalSeconds: 10, aheadSeconds: 30 })
    try {
      const sweep = keeper.sweep()
      await inCall.promise
      const forced = access.getAccessToken('ahead-forced', { forceRefresh: true })
      expect(await within(forced, 300, 'waiting')).toBe('waiting')
      gate.resolve()
      const token = await forced
      expect(token.value).not.toBe(consented.value)
      expect(await sweep).toMatchObject({ refreshed: 1 })
      expectOneCleanRefresh(server.as)
    } finally {
      gate.resolve()
      await keeper.stop()
      access.close()
    }
  })
})
