// The token store fails: down, slow, refusing writes. No token call is made that the store cannot
// record, a rotated refresh token is never lost to a failed write, and nothing leaks.
import { MemoryTokenStore, type TokenStore } from '@ongoing/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorText, expectNoLeak, type Scenario, startScenario } from './harness.js'

/** Wraps a store so a test can make it fail in chosen ways. */
function faultyStore(inner: MemoryTokenStore) {
  const faults = { readFails: false, readHangs: false, writeFails: false, writeLoses: false }
  const store: TokenStore = {
    get: async (key) => {
      if (faults.readHangs) return new Promise(() => {})
      if (faults.readFails) throw new Error('ECONNREFUSED 127.0.0.1:6379')
      return inner.get(key)
    },
    set: async (key, value, options) => {
      if (faults.writeFails) throw new Error("READONLY You can't write against a read only replica.")
      if (faults.writeLoses) return undefined
      return inner.set(key, value, options)
    },
    delete: (key, version) => inner.delete(key, version),
    acquireLock: (key, ttl) => inner.acquireLock(key, ttl),
    subscribe: (listener) => inner.subscribe(listener),
    claimOnce: (id, ttl) => inner.claimOnce(id, ttl),
  }
  return { store, faults }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('adversarial: store faults (real server, strict rotation)', () => {
  let s: Scenario
  let faults: ReturnType<typeof faultyStore>['faults']

  beforeAll(async () => {
    const inner = new MemoryTokenStore()
    const faulty = faultyStore(inner)
    faults = faulty.faults
    s = await startScenario(
      { store: faulty.store, refreshSkewSeconds: 0, storeTimeoutMs: 300 },
      { accessTokenTTLSeconds: 1 },
    )
  })
  afterAll(async () => s?.close())

  it('a store that is down: ERR_STORE, no token call', async () => {
    await s.consent('down')
    await sleep(1_100)
    faults.readFails = true
    s.as.resetStats()
    const err = await s.access.getAccessToken('down').catch((e: unknown) => e)
    faults.readFails = false
    expect(err).toMatchObject({ code: 'ERR_STORE' })
    expect(s.as.stats().tokenCalls.total).toBe(0)
    expectNoLeak(s.secrets, errorText(err), ...s.logs)
  })

  it('a store that hangs: ERR_STORE within storeTimeoutMs, no token call', async () => {
    await s.consent('slow')
    await sleep(1_100)
    faults.readHangs = true
    s.as.resetStats()
    const started = Date.now()
    const err = await s.access.getAccessToken('slow').catch((e: unknown) => e)
    faults.readHangs = false
    expect(err).toMatchObject({ code: 'ERR_STORE' })
    expect(Date.now() - started).toBeLessThan(1_000)
    expect(s.as.stats().tokenCalls.total).toBe(0)
  })

  it('a read-only store: the rotated refresh token is kept and saved later, never spent twice, the grant survives', async () => {
    await s.consent('readonly')
    await sleep(1_100)
    faults.writeFails = true
    s.as.resetStats()
    // The server rotates, the write fails: the caller gets ERR_STORE, not an unsaved token.
    await expect(s.access.getAccessToken('readonly')).rejects.toMatchObject({ code: 'ERR_STORE' })
    expect(s.as.stats().tokenCalls.refresh_token).toBe(1)
    // While the store refuses writes, no second refresh spends the old refresh token.
    for (let i = 0; i < 3; i++)
      await expect(s.access.getAccessToken('readonly')).rejects.toMatchObject({ code: 'ERR_STORE' })
    expect(s.as.stats().tokenCalls.refresh_token).toBe(1)
    // The store comes back: the kept grant is saved and used.
    faults.writeFails = false
    const token = await s.access.getAccessToken('readonly')
    expect(token.refreshed).toBe(true)
    // …and its refresh token is the live one: the next refresh works, nothing was revoked.
    const next = await s.access.getAccessToken('readonly', { forceRefresh: true })
    expect(next.refreshed).toBe(true)
    expect(s.as.stats().refreshTokenReuse).toBe(0)
    expect(s.as.stats().grantsRevoked).toBe(0)
  })

  it('a store whose writes silently lose: ERR_STORE, and the rotated token is not spent again', async () => {
    await s.consent('loses')
    await sleep(1_100)
    faults.writeLoses = true
    s.as.resetStats()
    await expect(s.access.getAccessToken('loses')).rejects.toMatchObject({ code: 'ERR_STORE' })
    await expect(s.access.getAccessToken('loses')).rejects.toMatchObject({ code: 'ERR_STORE' })
    expect(s.as.stats().tokenCalls.refresh_token).toBe(1)
    faults.writeLoses = false
    await expect(s.access.getAccessToken('loses')).resolves.toMatchObject({ refreshed: true })
    expect(s.as.stats().grantsRevoked).toBe(0)
  })

  it('no log line or error leaked token material', () => {
    expectNoLeak(s.secrets, ...s.logs)
  })
})
