import fc from 'fast-check'
import { it } from 'vitest'
import { memoryBackend, startRedisBackend } from './backends.js'
import { checkScenario, formatFailure, Totals } from './checker.js'
import { AS_FAULTS, OP_KINDS, type ScenarioShape, STORE_FAULTS, scenarioArbitrary } from './scenario.js'
import type { Backend } from './world.js'

const env = process.env
const list = <T>(v: string | undefined, all: readonly T[]) =>
  v === undefined ? all : v === '' ? [] : (v.split(',') as T[])
it('survey', async () => {
  const shape: ScenarioShape = {
    instances: Number(env.S_INSTANCES ?? 3),
    maxOps: Number(env.S_OPS ?? 8),
    maxPath: 150,
    asFaults: list(env.S_AS, AS_FAULTS),
    storeFaults: list(env.S_STORE, STORE_FAULTS),
    opKinds: list(env.S_OPKINDS, OP_KINDS),
    users: list(env.S_USERS, ['alice', 'bob'] as const),
    discovery: env.S_DISCOVERY === '1',
  }
  const backend: Backend =
    env.S_BACKEND === 'redis' ? await startRedisBackend(shape.instances) : memoryBackend
  const target = env.S_INVARIANT
  const totals = new Totals()
  const firstMsg = new Map<string, string>()
  let run = 0
  const result = await fc.check(
    fc.asyncProperty(scenarioArbitrary(shape), async (scenario) => {
      const r = await checkScenario(env.S_SEQ ? { ...scenario, sequential: true } : scenario, {
        backend,
        instances: shape.instances,
        run: ++run,
      })
      totals.add(r)
      for (const v of r.violations) if (!firstMsg.has(v.invariant)) firstMsg.set(v.invariant, v.message)
      const hit = r.violations.filter((v) => (target === undefined ? false : v.invariant.startsWith(target)))
      if (hit.length > 0) throw new Error(formatFailure(scenario, r))
    }),
    { seed: Number(env.S_SEED ?? 1), numRuns: Number(env.S_RUNS ?? 500), interruptAfterTimeLimit: 100_000 },
  )
  console.log(totals.summary('survey', 0))
  if ('close' in backend) await (backend as { close(): Promise<void> }).close()
  for (const [k, m] of firstMsg) console.log(`FIRST ${k}: ${m}`)
  if (result.failed)
    console.log(
      `SHRUNK (${result.numShrinks} shrinks) seed ${result.seed} path ${result.counterexamplePath}\n${(result.errorInstance as Error)?.message}`,
    )
}, 200_000)
