// Issue 17, items 3 and 4: a refresh the server rotated but the store did not take.
// Item 3: the holder released the lock at once, so another process spent the old refresh token.
// Item 4: the grant kept in memory was later saved on a matching version alone, over a new consent.
import { MemoryTokenStore } from '@ongoing/core'
import { describe, expect, it } from 'vitest'
import {
  accessThrough,
  consentAs,
  deferred,
  expectOneCleanRefresh,
  Gateway,
  hookedStore,
  introspect,
  settle,
  sleep,
  useStrictServer,
  within,
} from './support.js'

/** A store shared by every instance whose writes fail while `failing` is set. */
function storeWithFailingWrites() {
  const state = { failing: false, failed: deferred() }
  const store = hookedStore(new MemoryTokenStore(), {
    set: async (_key, _value, _options, write) => {
      if (state.failing) {
        state.failed.resolve()
        throw new Error('READONLY You can’t write against a read only replica.')
      }
      return write()
    },
  })
  return { store, state }
}

describe('engine: a rotated grant the store did not take (real server, strict rotation)', () => {
  const server = useStrictServer({ accessTokenTTLSeconds: 60 })

  it('regression (issue 17, item 3): while the write of a rotated grant fails, no other process spends the old refresh token; once the store recovers both have the new grant', async () => {
    const gateway = new Gateway(server.as)
    const { store, state } = storeWithFailingWrites()
    const a = accessThrough(gateway, { store })
    const b = accessThrough(gateway, { store })
    await consentAs(a, 'write-fails')
    await b.metadata()
    server.expire()
    server.as.resetStats()

    state.failing = true
    const fromA = settle(a.getAccessToken('write-fails'))
    await state.failed.promise // the server rotated; A's write failed
    const fromB = settle(b.getAccessToken('write-fails'))
    // B must not present the spent refresh token meanwhile (whatever A's caller was told).
    await within(fromB, 1_000, undefined)
    expectOneCleanRefresh(server.as)

    state.failing = false
    await Promise.all([fromA, fromB])
    const tokenA = await a.getAccessToken('write-fails')
    const tokenB = await b.getAccessToken('write-fails')
    expect(tokenB.value === tokenA.value, 'both instances serve the same grant').toBe(true)
    expect(await introspect(server.as, tokenA.value)).toBe(true)
    expectOneCleanRefresh(server.as)
  })

  /**
   * Leaves `userKey` with a grant refreshed at the server whose write failed (kept in `access`'s
   * memory by the current engine), then lets the store take writes again.
   */
  async function leaveUnsavedGrant(userKey: string) {
    const { store, state } = storeWithFailingWrites()
    const { gateway, access } = await server.consented(userKey, { store })
    state.failing = true
    const refreshing = settle(access.getAccessToken(userKey, { forceRefresh: true }))
    await state.failed.promise
    await sleep(100)
    state.failing = false
    await refreshing
    const leftover = gateway.tokenAnswers.at(-1)?.access_token as string
    return { gateway, access, leftover }
  }

  it('regression (issue 17, item 4): after revoke and a new consent, a leftover unsaved grant is not saved over the new grant', async () => {
    const { gateway, access, leftover } = await leaveUnsavedGrant('leftover-consent')
    await access.revoke('leftover-consent')
    const { token: consented } = await consentAs(access, 'leftover-consent')
    const newRefreshToken = gateway.traffic.refreshTokensReceived.at(-1)
    server.as.resetStats()

    const token = await access.getAccessToken('leftover-consent', { forceRefresh: true })

    expect(token.value === leftover, 'served the leftover grant’s access token').toBe(false)
    expect(token.value === consented.value, 'served the consent’s own token, not a refreshed one').toBe(false)
    expect(
      gateway.traffic.refreshTokensSent.at(-1) === newRefreshToken,
      'presented the new consent’s refresh token',
    ).toBe(true)
    expect(await introspect(server.as, token.value)).toBe(true)
    // The new consent's grant lives on: another refresh works.
    await expect(access.getAccessToken('leftover-consent', { forceRefresh: true })).resolves.toMatchObject({
      refreshed: true,
    })
    expect(server.as.stats()).toMatchObject({ refreshTokenReuse: 0, grantsRevoked: 0 })
  })

  it('regression (issue 17, item 4): after revoke and restore, a leftover unsaved grant is not saved over the restored grant', async () => {
    const { gateway, access, leftover } = await leaveUnsavedGrant('leftover-restore')
    await access.revoke('leftover-restore')
    // Tokens of another consent, obtained elsewhere (another app instance with its own store).
    const source = accessThrough(gateway, { store: new MemoryTokenStore() })
    const { token: imported } = await consentAs(source, 'leftover-restore')
    const importedRefreshToken = gateway.traffic.refreshTokensReceived.at(-1)!
    await access.restore('leftover-restore', {
      accessToken: imported.value,
      refreshToken: importedRefreshToken,
      expiresIn: 60,
    })
    server.as.resetStats()

    const token = await access.getAccessToken('leftover-restore', { forceRefresh: true })

    expect(token.value === leftover, 'served the leftover grant’s access token').toBe(false)
    expect(
      gateway.traffic.refreshTokensSent.at(-1) === importedRefreshToken,
      'presented the restored refresh token',
    ).toBe(true)
    expect(await introspect(server.as, token.value)).toBe(true)
    expectOneCleanRefresh(server.as)
  })
})
