// Redis goes away under several app processes: killed (connections refused) or frozen (no
// answers). Calls that need the store fail with ERR_STORE within the store bound (storeTimeoutMs,
// 1 s by default), no process refreshes on its own, and service resumes when Redis is back.
import type { OngoingAccess } from '@ongoing/core'
import type { RedisTokenStore } from '@ongoing/redis'
import {
  type RedisServer,
  startRedisServer,
  startTestAuthorizationServer,
  type TestAuthorizationServer,
} from '@ongoing/testing'
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import {
  createAppConfig,
  createLocalAccess,
  describeMultiProcess,
  digest,
  type RunResult,
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

describeMultiProcess(
  'Redis stopped under running processes',
  () => {
    let redis: RedisServer
    let as: TestAuthorizationServer
    let local: { access: OngoingAccess; store: RedisTokenStore } | undefined
    let workers: Worker[] = []

    beforeAll(async () => {
      // Its own server (this test stops it), with an append-only file: a Redis that comes back
      // after a crash still has its data, as a production one with AOF would.
      redis = await startRedisServer({ own: true, persistent: true })
      as = await startTestAuthorizationServer({ accessTokenTTLSeconds: 3_600, rotateRefreshToken: true })
    })
    afterEach(async () => {
      if (redis.pid === undefined) await redis.restart()
      else redis.resume()
      await Promise.all(workers.map((worker) => worker.stop()))
      workers = []
      local?.access.close()
      await local?.store.close()
    })
    afterAll(async () => {
      await as?.close()
      await redis?.close()
    })

    async function setUp(): Promise<{ steady: string }> {
      const config = createAppConfig(as, redis.url)
      local = createLocalAccess(config)
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

    it(`Redis killed: ERR_STORE within ${STORE_BOUND_MS} ms, no refresh without the lock, cached tokens still served; after a restart one coordinated refresh`, async () => {
      const { steady } = await setUp()

      await redis.stop('SIGKILL')
      const down = await Promise.all(workers.map((worker) => worker.run(['expired', 'steady'], CALLS)))
      const slowest = expectAllFailedWithinBound(down, 'expired')
      // A fresh token in a process's cache needs no store: those calls are still served.
      expect(totals(down, 'steady')).toMatchObject({
        ok: PROCESSES * CALLS,
        errors: {},
        digests: { [steady]: PROCESSES * CALLS },
      })
      expect(as.stats().tokenCalls.total).toBe(0)

      await redis.restart()
      const resumedAfter = await untilServed('expired')
      const served = await expectOneCoordinatedRefresh()
      expect(digest((await local!.access.getAccessToken('expired')).value)).toBe(served)
      console.info(
        `[multiprocess] Redis killed: slowest failing call ${Math.round(slowest)} ms (bound ${STORE_BOUND_MS} ms); served again ${resumedAfter} ms after redis-server restarted`,
      )
    }, 60_000)

    it(`Redis frozen (SIGSTOP): ERR_STORE within ${STORE_BOUND_MS} ms, no refresh without the lock; after it resumes one coordinated refresh`, async () => {
      await setUp()

      redis.pause()
      let down: RunResult[]
      try {
        down = await Promise.all(workers.map((worker) => worker.run(['expired'], CALLS)))
      } finally {
        redis.resume()
      }
      const slowest = expectAllFailedWithinBound(down, 'expired')
      expect(as.stats().tokenCalls.total).toBe(0)

      const resumedAfter = await untilServed('expired')
      await expectOneCoordinatedRefresh()
      console.info(
        `[multiprocess] Redis frozen: slowest failing call ${Math.round(slowest)} ms (bound ${STORE_BOUND_MS} ms); served again ${resumedAfter} ms after it resumed`,
      )
    }, 60_000)
  },
  { own: true },
)
