import { describe, expect, it, vi } from 'vitest'
import { MemoryTokenStore, type TokenStore } from '../src/index.js'
import { consent, createAccess, createFakeAS, json, tokens } from './fake-as.js'

describe('refresh races', () => {
  it('regression: an invalid_grant never deletes a new grant created meanwhile at the same store version', async () => {
    const fake = createFakeAS()
    const store = new MemoryTokenStore()
    const access = createAccess(fake, { store })
    // Another instance of the app (its own process memory, the same store).
    const other = createAccess(fake, { store })
    fake.answer(() => json(tokens({ access_token: 'at-old', refresh_token: 'rt-old', expires_in: 0 })))
    await consent(access)
    fake.answer(async () => {
      // While the dead grant's refresh is in flight: the user is disconnected and consents again.
      await other.revoke('alice')
      await other.restore('alice', { accessToken: 'at-new', refreshToken: 'rt-new', expiresIn: 3600 })
      return json({ error: 'invalid_grant' }, 400)
    })
    const token = await access.getAccessToken('alice')
    expect(token.value).toBe('at-new')
    expect(store.size).toBe(1)
    expect((await access.getAccessToken('alice')).value).toBe('at-new')
  })

  it('a rotation race lost to another writer: the winner’s token is used, not consent', async () => {
    const fake = createFakeAS()
    const store = new MemoryTokenStore()
    const access = createAccess(fake, { store })
    const other = createAccess(fake, { store })
    fake.answer(() => json(tokens({ access_token: 'at-0', refresh_token: 'rt-0', expires_in: 0 })))
    await consent(access)
    fake.answer(async () => {
      // Another instance (its own process memory, same store) refreshed first and saved.
      await other.restore('alice', { accessToken: 'at-winner', refreshToken: 'rt-winner', expiresIn: 3600 })
      return json({ error: 'invalid_grant' }, 400)
    })
    expect((await access.getAccessToken('alice')).value).toBe('at-winner')
  })

  it('regression: a change landing between a refused lock and the wait wakes the waiter at once', async () => {
    const fake = createFakeAS()
    const inner = new MemoryTokenStore()
    const other = createAccess(fake, { store: inner })
    let refusals = 0
    const store: TokenStore = {
      get: (key) => inner.get(key),
      set: (key, value, options) => inner.set(key, value, options),
      delete: (key, version) => inner.delete(key, version),
      subscribe: (listener) => inner.subscribe(listener),
      // Another process holds the lock, and its write lands before our refusal is even seen.
      acquireLock: async () => {
        refusals++
        await other.restore('alice', {
          accessToken: 'at-from-the-holder',
          refreshToken: 'rt-2',
          expiresIn: 3600,
        })
        return undefined
      },
    }
    const access = createAccess(fake, { store })
    fake.answer(() => json(tokens({ access_token: 'at-old', refresh_token: 'rt-old', expires_in: 0 })))
    await consent(access)
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      // Timers never fire now: only a wake-up by the change notification can settle the call.
      const settled = await Promise.race([
        access.getAccessToken('alice'),
        new Promise((resolve) => setImmediate(() => resolve('still waiting for a poll interval'))),
      ])
      expect(settled).toMatchObject({ value: 'at-from-the-holder', refreshed: true })
    } finally {
      vi.useRealTimers()
    }
    expect(refusals).toBe(1)
    expect(fake.calls.refresh_token).toBe(0)
  })
})

describe('failures the store could not record', () => {
  it('regression: an unknown outcome the store could not record still keeps this process from presenting the refresh token again at once', async () => {
    const fake = createFakeAS()
    const inner = new MemoryTokenStore()
    let writesFail = false
    const store: TokenStore = {
      get: (key) => inner.get(key),
      delete: (key, version) => inner.delete(key, version),
      acquireLock: (key, ttl) => inner.acquireLock(key, ttl),
      async set(key, value, options) {
        if (writesFail) throw new Error('store refuses writes')
        return inner.set(key, value, options)
      },
    }
    const access = createAccess(fake, { store })
    fake.answer(() => json(tokens({ access_token: 'at-0', refresh_token: 'rt-0', expires_in: 0 })))
    await consent(access)
    writesFail = true
    fake.answer(() => new Response('gateway timeout', { status: 504 }))
    await expect(access.getAccessToken('alice')).rejects.toMatchObject({ status: 504, outcomeUnknown: true })
    await expect(access.getAccessToken('alice')).rejects.toMatchObject({ status: 504, outcomeUnknown: true })
    await expect(access.getAccessToken('alice', { forceRefresh: true })).rejects.toMatchObject({
      status: 504,
    })
    expect(fake.calls.refresh_token).toBe(1)
  })
})
