// Several app processes, one store (Redis, PostgreSQL), one authorization server with strict refresh-token rotation:
// however many callers in however many processes find a token expired, the grant is refreshed
// once, and every caller gets the one new token.
import type { OngoingAccess } from '@ongoing/core'
import { startTestAuthorizationServer, type TestAuthorizationServer } from '@ongoing/testing'
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import {
  type Backend,
  backends,
  type ClosableStore,
  createAppConfig,
  createLocalAccess,
  digest,
  isActive,
  type StoreServer,
  seedGrant,
  startWorkers,
  totals,
  type Worker,
  type WorkerConfig,
} from './support.js'

const PROCESSES = 4
const CALLS = 250

function refreshCoordination(backend: Backend): void {
  let server: StoreServer
  let as: TestAuthorizationServer
  let config: WorkerConfig | undefined
  let local: { access: OngoingAccess; store: ClosableStore } | undefined
  let workers: Worker[] = []

  beforeAll(async () => {
    server = await backend.start()
    as = await startTestAuthorizationServer({ accessTokenTTLSeconds: 3_600, rotateRefreshToken: true })
  })
  afterEach(async () => {
    await Promise.all(workers.map((worker) => worker.stop()))
    workers = []
    local?.access.close()
    await local?.store.close()
    local = undefined
    if (config !== undefined) await server.clear(config.store)
    config = undefined
  })
  afterAll(async () => {
    await as?.close()
    await server?.close()
  })

  async function setUp(users: string[]): Promise<Map<string, string>> {
    config = createAppConfig(as, server.namespace())
    local = await createLocalAccess(config)
    const { access } = local
    const old = new Map<string, string>()
    await Promise.all(
      users.map(async (user) => old.set(user, await seedGrant(as, access, user, { expired: true }))),
    )
    workers = await startWorkers(PROCESSES, config)
    as.resetStats()
    return old
  }

  it(`${PROCESSES} processes × ${CALLS} concurrent calls, one user, expired token: 1 refresh at the AS, 0 grants revoked, ${PROCESSES * CALLS} calls get the same new token`, async () => {
    const [old] = [...(await setUp(['alice'])).values()]

    const results = await Promise.all(workers.map((worker) => worker.run(['alice'], CALLS)))

    expect(as.stats().tokenCalls.refresh_token).toBe(1)
    expect(as.stats().grantsRevoked).toBe(0)
    expect(as.stats().refreshTokenReuse).toBe(0)
    const alice = totals(results, 'alice')
    expect(alice.errors).toEqual({})
    expect(alice.ok).toBe(PROCESSES * CALLS)
    const digests = Object.keys(alice.digests)
    expect(digests).toHaveLength(1)
    expect(digests[0]).not.toBe(old)
    // Exactly one process refreshed; the others were woken by its write.
    expect(results.map((result) => result.refreshEvents).sort()).toEqual([0, 0, 0, 1])
    // What the store holds is that token, and the server says it is live.
    const stored = await local!.access.getAccessToken('alice')
    expect(digest(stored.value)).toBe(digests[0])
    expect(await isActive(as, stored.value)).toBe(true)
    console.info(
      `[multiprocess] ${backend.label}, 1 user: ${PROCESSES * CALLS} calls in ${PROCESSES} processes, slowest ${Math.round(alice.maxMs)} ms, refresh calls at the AS: 1`,
    )
  }, 60_000)

  it(`${PROCESSES} processes × ${CALLS} concurrent calls for each of 20 users at once: 20 refreshes, 0 revoked, one token per user everywhere`, async () => {
    const users = Array.from({ length: 20 }, (_, i) => `user-${i + 1}`)
    const old = await setUp(users)

    const results = await Promise.all(workers.map((worker) => worker.run(users, CALLS, 60_000)))

    expect(as.stats().tokenCalls.refresh_token).toBe(20)
    expect(as.stats().grantsRevoked).toBe(0)
    expect(as.stats().refreshTokenReuse).toBe(0)
    const seen = new Set<string>()
    let slowest = 0
    for (const user of users) {
      const total = totals(results, user)
      expect(total.errors, user).toEqual({})
      expect(total.ok, user).toBe(PROCESSES * CALLS)
      const digests = Object.keys(total.digests)
      expect(digests, user).toHaveLength(1)
      expect(digests[0]).not.toBe(old.get(user))
      // No user was handed a token another user got.
      expect(seen.has(digests[0]!), user).toBe(false)
      seen.add(digests[0]!)
      const stored = await local!.access.getAccessToken(user)
      expect(digest(stored.value), user).toBe(digests[0])
      slowest = Math.max(slowest, total.maxMs)
    }
    expect(results.reduce((sum, result) => sum + result.refreshEvents, 0)).toBe(20)
    console.info(
      `[multiprocess] ${backend.label}, 20 users: ${20 * PROCESSES * CALLS} calls in ${PROCESSES} processes, slowest ${Math.round(slowest)} ms, refresh calls at the AS: 20`,
    )
  }, 90_000)
}

for (const backend of backends) {
  backend.describe(`refresh coordinated across processes through ${backend.label}`, () =>
    refreshCoordination(backend),
  )
}
