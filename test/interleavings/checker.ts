/**
 * Runs a scenario and checks it: the one entry point of the suites. A failure's message is the
 * replayable report: the violations, the scenario (as a literal), and the trace of the run.
 */
import { addTally, checkInvariants, emptyTally, type Tally, type Violation } from './invariants.js'
import { describeOp, type Scenario } from './scenario.js'
import { type RunOptions, runScenario } from './world.js'

export interface CheckResult {
  violations: Violation[]
  tally: Tally
  trace: string[]
  decisions: number
  budgetExhausted: boolean
}

export async function checkScenario(scenario: Scenario, options: RunOptions): Promise<CheckResult> {
  const run = await runScenario(scenario, options)
  const { violations, tally } = checkInvariants(run.history)
  return {
    violations,
    tally,
    trace: run.trace,
    decisions: run.decisions,
    budgetExhausted: run.budgetExhausted,
  }
}

/** Totals over many runs, for the suite's report. */
export class Totals {
  runs = 0
  decisions = 0
  failingRuns = 0
  budgetExhausted = 0
  readonly tally = emptyTally()
  readonly byInvariant = new Map<string, number>()

  add(result: CheckResult): void {
    this.runs++
    this.decisions += result.decisions
    if (result.budgetExhausted) this.budgetExhausted++
    if (result.violations.length > 0) this.failingRuns++
    for (const invariant of new Set(result.violations.map((v) => v.invariant)))
      this.byInvariant.set(invariant, (this.byInvariant.get(invariant) ?? 0) + 1)
    addTally(this.tally, result.tally)
  }

  summary(name: string, ms: number): string {
    const t = this.tally
    const losses = Object.entries(t.losses)
      .map(([cause, n]) => `${n} × ${cause}`)
      .join('; ')
    const failing = [...this.byInvariant.entries()]
      .sort()
      .map(([inv, n]) => `${inv}: ${n}`)
      .join(', ')
    return [
      `[interleavings] ${name}: ${this.runs} interleavings (runs, shrinking included), ${this.decisions} scheduling decisions, ${(ms / 1000).toFixed(1)} s`,
      `  refresh-token presentations ${t.presentations}; again after a refusal ${t.afterRefusal}; deliberate re-presentations after an unknown outcome ${t.deliberate}; again after the presenter died ${t.afterDeath}`,
      `  permitted losses: ${losses || 'none'}; older grant served within the cache bound ${t.staleWithinBound}; consent required while the grant was stored ${t.consentWhileStored}; runs that hit the step budget ${this.budgetExhausted}`,
      `  runs with violations: ${this.failingRuns}${failing ? ` (${failing})` : ''}`,
    ].join('\n')
  }
}

export function formatFailure(scenario: Scenario, result: CheckResult): string {
  return [
    'Invariant violations:',
    ...result.violations.map((v) => `  [${v.invariant}] ${v.message}`),
    '',
    'Operations:',
    ...scenario.ops.map((op, i) => `  ${i + 1}. ${describeOp(op)}`),
    `Faults: AS ${JSON.stringify(scenario.asFaults)}; store ${JSON.stringify(scenario.storeFaults)}; late notifications ${JSON.stringify(scenario.lateNotifications)}`,
    `Scenario: ${JSON.stringify(scenario)}`,
    '',
    'Trace (seq, virtual time, step):',
    ...result.trace,
  ].join('\n')
}
