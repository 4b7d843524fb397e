/**
 * The model-based interleaving checker of the refresh engine (see ./README.md). Several
 * `OngoingAccess` instances share one store and a model authorization server with strict
 * rotation; fast-check generates the operations, the faults and the scheduler's path, and every
 * run is checked against the invariants of ./invariants.ts.
 *
 * Fixed seed and budget by default. `INTERLEAVINGS_SEED` and `INTERLEAVINGS_RUNS` change them,
 * `INTERLEAVINGS_PATH` replays one run of an exploration (the path a report prints; pick the
 * exploration with `-t`), and `INTERLEAVINGS_SCENARIO` (with `INTERLEAVINGS_INSTANCES`) runs one
 * scenario (the JSON a report prints) on MemoryTokenStore and prints its trace.
 */
import { describeWithRedis } from '@ongoing/testing'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { memoryBackend, type RedisBackend, startRedisBackend } from './backends.js'
import { checkScenario, formatFailure, Totals } from './checker.js'
import { describeExploration, type Exploration, explore } from './explore.js'
import { type Scenario, scenarioArbitrary } from './scenario.js'

const SEED = Number(process.env.INTERLEAVINGS_SEED ?? 20_300_101)
const RUNS = process.env.INTERLEAVINGS_RUNS === undefined ? undefined : Number(process.env.INTERLEAVINGS_RUNS)
const PATH = process.env.INTERLEAVINGS_PATH
const SCENARIO = process.env.INTERLEAVINGS_SCENARIO

/** Explores, prints the report, and fails when any invariant broke. */
async function exploreAndReport(exploration: Exploration): Promise<void> {
  const result = await explore(exploration)
  const report = describeExploration(exploration, result)
  // Printed as well as thrown: the report is long, and a reporter may cut what it shows of an error.
  console.log(report)
  if (result.counterexamples.length > 0)
    throw new Error(
      `${result.counterexamples.length} kinds of invariant violation:\n${result.counterexamples.map((c) => `  ${c.key}`).join('\n')}\n\n${report}`,
    )
}

let run = 0

describe('interleavings', () => {
  it('finds nothing in histories without overlap, faults or a second instance', async () => {
    const totals = new Totals()
    const started = performance.now()
    await fc.assert(
      fc.asyncProperty(scenarioArbitrary({ instances: 1, maxOps: 8, maxPath: 0 }), async (scenario) => {
        const calm: Scenario = {
          ...scenario,
          ops: scenario.ops.filter((op) => op.kind !== 'kill'),
          asFaults: [],
          storeFaults: [],
          lateNotifications: [],
        }
        const result = await checkScenario(calm, {
          backend: memoryBackend,
          instances: 1,
          run: ++run,
          sequential: true,
        })
        totals.add(result)
        expect(result.violations, formatFailure(calm, result)).toEqual([])
      }),
      { seed: SEED, numRuns: 300 },
    )
    console.log(
      totals.summary('one instance, one operation at a time, no faults', performance.now() - started),
    )
  })

  if (SCENARIO !== undefined) {
    it('runs the scenario of INTERLEAVINGS_SCENARIO', async () => {
      const scenario = JSON.parse(SCENARIO) as Scenario
      const instances = Number(
        process.env.INTERLEAVINGS_INSTANCES ??
          1 + Math.max(0, ...scenario.ops.map((op) => ('instance' in op ? op.instance : 0))),
      )
      const result = await checkScenario(scenario, { backend: memoryBackend, instances, run: ++run })
      console.log(formatFailure(scenario, result))
    })
  }

  it('MemoryTokenStore, 3 instances, every operation and fault: every invariant holds', async () => {
    await exploreAndReport({
      name: 'MemoryTokenStore, 3 instances, every operation and fault',
      backend: () => memoryBackend,
      // Swarm: each scenario draws its own subset of operation kinds and faults.
      shape: { instances: 3, maxOps: 8, maxPath: 150, swarm: true },
      seed: SEED,
      runs: RUNS ?? 2_500,
      path: PATH,
      shrinkRuns: 400,
    })
  }, 120_000)

  // New grants, revokes and notifications against reads and caches: no server faults (they
  // would show the same retry fault first), store writes that fail or are slow.
  it('MemoryTokenStore, 2 instances, grants and notifications: every invariant holds', async () => {
    await exploreAndReport({
      name: 'MemoryTokenStore, 2 instances, grants and notifications',
      backend: () => memoryBackend,
      shape: {
        instances: 2,
        maxOps: 8,
        maxPath: 150,
        users: ['alice'],
        opKinds: ['get', 'fetch', 'revoke', 'consent', 'restore', 'advance'],
        asFaults: [],
        storeFaults: ['fail-before', 'fail-after', 'slow'],
      },
      seed: SEED,
      runs: RUNS ?? 2_500,
      path: PATH,
      shrinkRuns: 400,
    })
  }, 120_000)

  // Slow discovery, slow and refusing servers, slow stores: what a lock's TTL must cover.
  it('MemoryTokenStore, 2 instances, discovery and slow calls: every invariant holds', async () => {
    await exploreAndReport({
      name: 'MemoryTokenStore, 2 instances, discovery and slow calls',
      backend: () => memoryBackend,
      shape: {
        instances: 2,
        maxOps: 6,
        maxPath: 150,
        users: ['alice'],
        discovery: true,
        opKinds: ['get', 'force', 'advance', 'kill'],
        asFaults: ['slow', 'unavailable', 'refused'],
        storeFaults: ['slow'],
      },
      seed: SEED,
      runs: RUNS ?? 1_500,
      path: PATH,
      shrinkRuns: 400,
    })
  }, 120_000)
})

// Real Redis: real I/O and pub/sub make the order less deterministic than in memory (a replay
// may differ), so this variant is smaller: 2 instances, 6 operations, fewer runs. Its value is
// the real compare-and-set, lock and change-notification scripts.
describeWithRedis('interleavings on Redis', () => {
  let redis: RedisBackend
  beforeAll(async () => {
    redis = await startRedisBackend(2)
  })
  afterAll(async () => {
    await redis?.close()
  })

  it('RedisTokenStore, 2 instances: every invariant holds in every interleaving', async () => {
    await exploreAndReport({
      name: 'RedisTokenStore, 2 instances',
      backend: () => redis,
      shape: { instances: 2, maxOps: 6, maxPath: 100 },
      seed: SEED,
      runs: RUNS === undefined ? 300 : Math.ceil(RUNS / 10),
      path: PATH,
      shrinkRuns: 60,
    })
  }, 120_000)
})
