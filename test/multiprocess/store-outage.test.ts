// The store (Redis, PostgreSQL) goes away under several app processes: killed (connections
// refused) or frozen (SIGSTOP: no answers). Calls that need the store fail with ERR_STORE within
// the store bound (storeTimeoutMs, 1 s by default), no process refreshes on its own, and service
// resumes when the store is back.
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
  type RunResult,
  type StoreServer,
  seedGrant,
  startWorkers,
  totals,
  type Worker,
} from './support.js'

const PROCESSES = 4
const CALLS = 250
/** The bound DESIGN.md promises (the default `storeTimeoutMs`), and what a busy machine may add to it. */
const STORE_BOUND_MS = 1_000
const MARGIN_MS = 250

function storeOutage(backend: Backend): void {
  const { label } = backend
  let server: StoreServer
  let as: TestAuthorizationServer
  let local: { access: OngoingAccess; store: ClosableStore } | undefined
  let workers: Worker[] = []

  beforeAll(async () => {
    // Its own server (this test stops it), whose data survives a crash: Redis with an
    // append-only file, PostgreSQL with its write-ahead log, as production ones would.
    server = await backend.start({ own: true })
    as = await startTestAuthorizationServer({ accessTokenTTLSeconds: 3_600, rotateRefreshToken: true })
  })
  afterEach(async () => {
    if (server.pid === undefined) await server.restart()
    else server.resume()
    await Promise.all(workers.map((worker) => worker.stop()))
    workers = []
    local?.access.close()
    await local?.store.close()
  })
  afterAll(async () => {
    await as?.close()
    await server?.close()
  })

  async function setUp(): Promise<{ steady: string }> {
    const config = createAppConfig(as, server.namespace())
    local = await createLocalAccess(config)
    const steady = await seedGrant(as, local.access, 'steady', { expired: false })
    await seedGrant(as, local.access, 'expired', { expired: true })
    workers = await startWorkers(PROCESSES, config)
    // Every process has used the steady grant once: its token is in their process-local caches.
    await Promise.all(workers.map((worker) => worker.run(['steady'], 1)))
    as.resetStats()
    return { steady }
  }

  /** Runs one call per process until every process gets a token; returns how long that took. */
  async function untilServed(user: string, timeoutMs = 15_000): Promise<number> {
    const started = Date.now()
    for (;;) {
      const results = await Promise.all(workers.map((worker) => worker.run([user], 1)))
      if (totals(results, user).ok === PROCESSES) return Date.now() - started
      if (Date.now() - started > timeoutMs) throw new Error(`${user} was not served again in time`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  function expectAllFailedWithinBound(results: RunResult[], user: string): number {
    const total = totals(results, user)
    expect(total.ok).toBe(0)
    expect(total.errors).toEqual({ ERR_STORE: PROCESSES * CALLS })
    expect(total.maxMs).toBeLessThanOrEqual(STORE_BOUND_MS + MARGIN_MS)
    return total.maxMs
  }

  /** Every process's calls are served with one token, from exactly one refresh; nothing revoked. */
  async function expectOneCoordinatedRefresh(): Promise<string> {
    const up = await Promise.all(workers.map((worker) => worker.run(['expired'], CALLS)))
    const expired = totals(up, 'expired')
    expect(expired.ok).toBe(PROCESSES * CALLS)
    expect(Object.keys(expired.digests)).toHaveLength(1)
    expect(as.stats().tokenCalls.refresh_token).toBe(1)
    expect(as.stats().grantsRevoked).toBe(0)
    return Object.keys(expired.digests)[0]!
  }

  it(`${label} killed: ERR_STORE within ${STORE_BOUND_MS} ms, no refresh without the lock, cached tokens still served; after a restart one coordinated refresh`, async () => {
    const { steady } = await setUp()

    await server.stop('SIGKILL')
    const down = await Promise.all(workers.map((worker) => worker.run(['expired', 'steady'], CALLS)))
    const slowest = expectAllFailedWithinBound(down, 'expired')
    // A fresh token in a process's cache needs no store: those calls are still served.
    expect(totals(down, 'steady')).toMatchObject({
      ok: PROCESSES * CALLS,
      errors: {},
      digests: { [steady]: PROCESSES * CALLS },
    })
    expect(as.stats().tokenCalls.total).toBe(0)

    await server.restart()
    const resumedAfter = await untilServed('expired')
    const served = await expectOneCoordinatedRefresh()
    expect(digest((await local!.access.getAccessToken('expired')).value)).toBe(served)
    console.info(
      `[multiprocess] ${label} killed: slowest failing call ${Math.round(slowest)} ms (bound ${STORE_BOUND_MS} ms); served again ${resumedAfter} ms after the server restarted`,
    )
  }, 60_000)

  it(`${label} frozen (SIGSTOP): ERR_STORE within ${STORE_BOUND_MS} ms, no refresh without the lock; after it resumes one coordinated refresh`, async () => {
    await setUp()

    server.pause()
    let down: RunResult[]
    try {
      down = await Promise.all(workers.map((worker) => worker.run(['expired'], CALLS)))
    } finally {
      server.resume()
    }
    const slowest = expectAllFailedWithinBound(down, 'expired')
    expect(as.stats().tokenCalls.total).toBe(0)

    const resumedAfter = await untilServed('expired')
    await expectOneCoordinatedRefresh()
    console.info(
      `[multiprocess] ${label} frozen: slowest failing call ${Math.round(slowest)} ms (bound ${STORE_BOUND_MS} ms); served again ${resumedAfter} ms after it resumed`,
    )
  }, 60_000)
}

for (const backend of backends) {
  backend.describe(`${backend.label} stopped under running processes`, () => storeOutage(backend), {
    own: true,
  })
}
