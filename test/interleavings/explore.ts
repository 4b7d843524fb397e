/**
 * Exploration: runs a fixed budget of generated scenarios (it does not stop at the first
 * violation, so one fault does not hide the others), keeps the first failing scenario of each
 * (invariant, kind), then shrinks each of those to a minimal counterexample of that kind.
 */
import fc from 'fast-check'
import { checkScenario, formatFailure, Totals } from './checker.js'
import type { Violation } from './invariants.js'
import { type Scenario, type ScenarioShape, scenarioArbitrary } from './scenario.js'
import type { Backend } from './world.js'

export interface Exploration {
  name: string
  backend: () => Backend
  shape: ScenarioShape
  seed: number
  runs: number
  /** Replays only the run at this fast-check path of the exploration (then shrinks it). */
  path?: string | undefined
  /**
   * Shrinking of one kind stops after this many runs (a count, not a time, so a report is the
   * same on any machine); the smallest failure so far is kept.
   */
  shrinkRuns: number
}

export interface Counterexample {
  key: string
  /** Where the exploration first met it: `seed` and `path` replay that (unshrunk) run. */
  seed: number
  path: string
  report: string
  scenario: Scenario
}

export interface ExplorationResult {
  totals: Totals
  counterexamples: Counterexample[]
  ms: number
}

const keyOf = (v: Violation) => `${v.invariant} / ${v.kind}`

let runNumber = 0

export async function explore(exploration: Exploration): Promise<ExplorationResult> {
  const started = performance.now()
  const totals = new Totals()
  const arbitrary = scenarioArbitrary(exploration.shape)
  // Shrinking starts from a found scenario, without fast-check's context: swarm scenarios are
  // built with `chain`, which cannot shrink so; the plain arbitrary covers them all.
  const shrinkable = scenarioArbitrary({ ...exploration.shape, swarm: false })
  const check = (scenario: Scenario) =>
    checkScenario(scenario, {
      backend: exploration.backend(),
      instances: exploration.shape.instances,
      run: ++runNumber,
    })
  const firsts = new Map<string, { scenario: Scenario; index: number; report: string }>()
  let index = 0
  await fc.assert(
    fc.asyncProperty(arbitrary, async (scenario) => {
      const result = await check(scenario)
      totals.add(result)
      for (const violation of result.violations)
        if (!firsts.has(keyOf(violation)))
          firsts.set(keyOf(violation), { scenario, index, report: formatFailure(scenario, result) })
      index++
    }),
    {
      seed: exploration.seed,
      numRuns: exploration.path === undefined ? exploration.runs : 1,
      ...(exploration.path === undefined ? {} : { path: exploration.path }),
    },
  )
  const counterexamples: Counterexample[] = []
  for (const [key, first] of [...firsts].sort(([a], [b]) => a.localeCompare(b))) {
    let smallest: { scenario: Scenario; report: string } | undefined
    // A cooperative budget: past it every candidate passes, which ends the shrinking. (Not
    // fast-check's interruptAfterTimeLimit: it abandons a run midway, clock installed.)
    let budget = exploration.shrinkRuns
    await fc.check(
      fc.asyncProperty(shrinkable, async (scenario) => {
        if (smallest !== undefined && budget-- <= 0) return
        const result = await check(scenario)
        totals.add(result)
        if (!result.violations.some((v) => keyOf(v) === key)) return
        smallest = { scenario, report: formatFailure(scenario, result) }
        throw new Error(key)
      }),
      {
        examples: [[first.scenario]],
        numRuns: 1,
        seed: exploration.seed,
      },
    )
    counterexamples.push({
      key,
      seed: exploration.seed,
      path: exploration.path ?? String(first.index),
      // Not met again when replayed (real I/O can order a replay differently): the first run.
      report: smallest?.report ?? `(not met again when replayed; the run that met it)\n${first.report}`,
      scenario: smallest?.scenario ?? first.scenario,
    })
  }
  return { totals, counterexamples, ms: performance.now() - started }
}

/** The exploration's report: totals, then each counterexample with how to replay it. */
export function describeExploration(exploration: Exploration, result: ExplorationResult): string {
  const lines = [result.totals.summary(`${exploration.name} (seed ${exploration.seed})`, result.ms)]
  for (const c of result.counterexamples) {
    lines.push(
      '',
      `=== counterexample: ${c.key}`,
      `first met at INTERLEAVINGS_SEED=${c.seed} INTERLEAVINGS_PATH=${c.path} (-t '${exploration.name}'); shrunk below (replay it alone with INTERLEAVINGS_INSTANCES=${exploration.shape.instances} INTERLEAVINGS_SCENARIO='<the Scenario line>')`,
      c.report,
    )
  }
  return lines.join('\n')
}
