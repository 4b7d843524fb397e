// Issue 20, "What it must show": 10,000 grants, made through `restore` into a MemoryTokenStore,
// are listed by `access.grants()` in full, each once, with memory bounded by the page size.
//
// The heap is measured in a process of its own (worker.mjs, run with --expose-gc, on the built
// core, its access discovered at the real test authorization server): after a full gc, during
// each walk every few grants, against the heap before the walk; and the heap it takes to hold the
// 10,000 GrantInfo a walk yields, for scale.
import { startTestAuthorizationServer, type TestAuthorizationServer } from '@ongoing/testing'
import { afterAll, beforeAll, expect, it } from 'vitest'
import {
  describeWithWorkers,
  type InventoryWorker,
  kib,
  startWorkers,
  userKeys,
  workerConfig,
} from './support.js'

const GRANTS = 10_000

interface Walk {
  pageSize: number
  listed: number
  once: number
  missing: number
  twice: number
  foreign: number
  medianBytes: number
  peakBytes: number
  samples: number
  ms: number
}

interface HeapResult {
  walks: Walk[]
  holdAllBytes: number
  held: number
  storeSize: number
}

describeWithWorkers('grants(): 10,000 grants in a MemoryTokenStore, memory bounded by the page size', () => {
  let as: TestAuthorizationServer
  let worker: InventoryWorker | undefined

  beforeAll(async () => {
    as = await startTestAuthorizationServer({ accessTokenTTLSeconds: 3_600 })
  })
  afterAll(async () => {
    await worker?.stop()
    await as?.close()
  })

  it(`${GRANTS.toLocaleString('en')} restored grants: each listed once at page sizes 100, 1,000 and 10,000; a walk of 100 a page holds far less than the 10,000 GrantInfo would`, async () => {
    const [started] = await startWorkers(1, workerConfig(as, 'memory'), { exposeGc: true })
    worker = started!
    const seeded = await worker.call<{ ms: number }>('seed', { userKeys: userKeys(GRANTS), concurrency: 64 })

    const result = await worker.call<HeapResult>(
      'heap',
      {
        grants: GRANTS,
        walks: [
          { pageSize: 100, sampleEvery: 200 },
          { pageSize: 1_000, sampleEvery: 200 },
          { pageSize: 10_000, sampleEvery: 500 },
        ],
      },
      120_000,
    )

    expect(result.storeSize).toBe(GRANTS)
    for (const walk of result.walks) {
      expect(walk, `page size ${walk.pageSize}`).toMatchObject({
        listed: GRANTS,
        once: GRANTS,
        missing: 0,
        twice: 0,
        foreign: 0,
      })
    }
    expect(result.held).toBe(GRANTS)
    const [by100, by1000, by10000] = result.walks as [Walk, Walk, Walk]
    const share = (bytes: number) => `${((bytes / result.holdAllBytes) * 100).toFixed(1)} %`
    console.info(
      [
        `[inventory] ${GRANTS} grants restored into a MemoryTokenStore in ${(seeded.ms / 1000).toFixed(1)} s`,
        `  holding all ${GRANTS} GrantInfo a walk yields: ${kib(result.holdAllBytes)} of heap`,
        '  heap held during a walk, over its start (after a gc, every few grants):',
        ...result.walks.map(
          (walk) =>
            `  pageSize ${String(walk.pageSize).padStart(6)}: median ${kib(walk.medianBytes).padStart(9)} (${share(walk.medianBytes)}), peak ${kib(walk.peakBytes).padStart(9)} (${share(walk.peakBytes)}) over ${walk.samples} samples; ${Math.round((walk.listed / walk.ms) * 1000)} grants/s`,
        ),
      ].join('\n'),
    )
    // The measure sees a page: a walk of 10,000 a page holds about what all the grants take.
    expect(by10000.medianBytes).toBeGreaterThan(result.holdAllBytes / 2)
    // Bounded by the page size: a walk of 100 a page holds a small part of it, all along (the
    // median), and at its worst moment (the peak; a sample may catch a few transient objects).
    expect(by100.medianBytes).toBeLessThan(result.holdAllBytes / 20)
    expect(by100.peakBytes).toBeLessThan(result.holdAllBytes / 5)
    expect(by1000.medianBytes).toBeLessThan(by10000.medianBytes / 3)
  }, 120_000)
})
