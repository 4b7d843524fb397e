// Issue 20, "What it must show": with a RedisTokenStore, `access.grants()` lists every grant in
// full, each once, across 2 processes, while grants are being written.
//
// Two app processes (worker.mjs, on the built packages) share one redis-server, the same issuer
// (the real test authorization server), client and secret. Each seeds half the grants; then one
// keeps writing (new grants, new tokens for existing ones, revokes) while both walk. Every grant
// that existed when the walks started and was not revoked is listed exactly once by each walk;
// no grant is listed twice; nothing but this family's grants is listed.
//
// 16,200 grants: Redis's key table holds 16,384 entries before it doubles, so the new grants make
// it grow (and rehash) in the middle of the walks: SCAN's guarantee across a resize is on trial.
import {
  type RedisServer,
  startRedisServer,
  startTestAuthorizationServer,
  type TestAuthorizationServer,
} from '@ongoing/testing'
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import {
  describeWithWorkers,
  type InventoryWorker,
  startWorkers,
  userKeys,
  type WorkerConfig,
  workerConfig,
} from './support.js'

const GRANTS = 16_200

interface WalkResult {
  userKeys: string[]
  startedAt: number
  finishedAt: number
  pages: number
}

interface WriteResult {
  created: string[]
  deletedExisting: string[]
  deletedCreated: string[]
  rewrites: number
  errors: Record<string, number>
}

/** How often each key appears in `listed`. */
function counts(listed: readonly string[]): Map<string, number> {
  const seen = new Map<string, number>()
  for (const key of listed) seen.set(key, (seen.get(key) ?? 0) + 1)
  return seen
}

describeWithWorkers(
  'grants() with a RedisTokenStore: two processes, writes during the walk',
  () => {
    let redis: RedisServer
    let as: TestAuthorizationServer
    let config: WorkerConfig | undefined
    let workers: InventoryWorker[] = []

    beforeAll(async () => {
      redis = await startRedisServer()
      as = await startTestAuthorizationServer({ accessTokenTTLSeconds: 3_600 })
    })
    afterEach(async () => {
      await Promise.all(workers.map((worker) => worker.stop()))
      workers = []
      if (config?.keyPrefix !== undefined) await redis.deleteKeys(config.keyPrefix)
    })
    afterAll(async () => {
      await as?.close()
      await redis?.close()
    })

    it(`${GRANTS.toLocaleString('en')} grants, 2 processes walking while one of them writes: every grant there before and not revoked is listed exactly once by each walk`, async () => {
      config = workerConfig(as, { redisUrl: redis.url })
      workers = await startWorkers(2, config)
      const [a, b] = workers as [InventoryWorker, InventoryWorker]
      const existing = userKeys(GRANTS)
      // Each process writes half of them: each walk lists the other's grants as well as its own.
      await Promise.all([
        a.call('seed', { userKeys: existing.filter((_, i) => i % 2 === 0) }, 120_000),
        b.call('seed', { userKeys: existing.filter((_, i) => i % 2 === 1) }, 120_000),
      ])

      // b writes from now until both walks have ended.
      await b.call('write', { existing, concurrency: 8, lane: 'b' })
      const [walkA, walkB] = await Promise.all([
        a.call<WalkResult>('walk', { pageSize: 100, pauseMs: 5 }, 120_000),
        b.call<WalkResult>('walk', { pageSize: 100, pauseMs: 5 }, 120_000),
      ])
      const written = await b.call<WriteResult>('stopWrite')
      const grantsAfter =
        GRANTS + written.created.length - written.deletedExisting.length - written.deletedCreated.length

      expect(written.errors).toEqual({})
      const revoked = new Set(written.deletedExisting)
      const created = new Set(written.created)
      const before = new Set(existing)
      const mustList = existing.filter((userKey) => !revoked.has(userKey))
      for (const [name, walk] of [
        ['a', walkA],
        ['b', walkB],
      ] as const) {
        const seen = counts(walk.userKeys)
        const missing = mustList.filter((userKey) => !seen.has(userKey))
        const twice = [...seen].filter(([, n]) => n > 1).map(([userKey]) => userKey)
        const foreign = [...seen.keys()].filter((userKey) => !created.has(userKey) && !before.has(userKey))
        const newListed = [...created].filter((userKey) => seen.has(userKey)).length
        const revokedListed = written.deletedExisting.filter((userKey) => seen.has(userKey)).length
        console.info(
          `[inventory] Redis walk in process ${name}: ${walk.userKeys.length} listed in ${walk.finishedAt - walk.startedAt} ms (${walk.pages} pages of 100); of the ${GRANTS} there before: ${mustList.length - missing.length}/${mustList.length} not revoked listed, ${revokedListed}/${revoked.size} revoked meanwhile listed; ${newListed}/${created.size} grants created meanwhile listed; twice: ${twice.length}`,
        )
        expect(missing, `walk ${name}: grants not listed`).toEqual([])
        expect(twice, `walk ${name}: grants listed twice`).toEqual([])
        expect(foreign, `walk ${name}: keys that are not grants of this family`).toEqual([])
      }
      console.info(
        `[inventory] during the walks process b wrote ${written.created.length} new grants, ${written.rewrites} new tokens for existing ones, revoked ${revoked.size} existing and ${written.deletedCreated.length} new ones; ${GRANTS} grants before, ${grantsAfter} after`,
      )
      // The writes went on during the walks, and enough of them to make Redis's table grow.
      expect(written.created.length).toBeGreaterThan(500)
      expect(written.rewrites).toBeGreaterThan(500)
      expect(revoked.size).toBeGreaterThan(50)
      expect(grantsAfter).toBeGreaterThan(16_384)
    }, 120_000)
  },
  { redis: true },
)
