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
      `  refresh-token presentations ${t.presentations}; again after a refusal ${t.afterRefusal}; deliberate re-presentations after an unknown outcome ${t.deliberate}; again after the presenter died ${t.afterDeath}; again after the store took the presenter's lock away ${t.afterLapse}`,
      `  permitted losses: ${losses || 'none'}; older grant served within the cache bound ${t.staleWithinBound}; consent required while the grant was stored ${t.consentWhileStored}; no grant during the consent that stored it ${t.noGrantDuringConsent}; runs that hit the step budget ${this.budgetExhausted}`,
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
    `Faults: AS ${JSON.stringify(scenario.asFaults)}; store ${JSON.stringify(scenario.storeFaults)}; late notifications ${JSON.stringify(scenario.lateNotifications)}${scenario.discovery ? `; discovery ${JSON.stringify(scenario.discoveryFaults ?? [])}` : ''}`,
    `Scenario: ${JSON.stringify(scenario)}`,
    '',
    'Trace (seq, virtual time, step):',
    ...compressTrace(result.trace),
  ].join('\n')
}

/** What a trace line says, without its seq and time (and without where time passes to). */
function gist(line: string): string {
  return line.slice(16).replace(/time passes to \+[\d.]+s/, 'time passes')
}

/**
 * Folds a block of lines that repeats at least three times in a row (a waiter polling the lock,
 * say) into its first occurrence and one line that says how often it repeated.
 */
export function compressTrace(lines: readonly string[]): string[] {
  const out: string[] = []
  let i = 0
  while (i < lines.length) {
    let best: { size: number; repeats: number } | undefined
    for (let size = 1; size <= 8 && i + size * 3 <= lines.length; size++) {
      let repeats = 1
      while (
        i + (repeats + 1) * size <= lines.length &&
        Array.from({ length: size }, (_, k) => k).every(
          (k) => gist(lines[i + k]!) === gist(lines[i + repeats * size + k]!),
        )
      )
        repeats++
      if (repeats >= 3 && (best === undefined || size * repeats > best.size * best.repeats))
        best = { size, repeats }
    }
    if (best === undefined) {
      out.push(lines[i]!)
      i++
      continue
    }
    out.push(...lines.slice(i, i + best.size))
    const last = lines[i + best.size * best.repeats - 1]!
    out.push(
      `   ⋮  (the ${best.size === 1 ? 'line' : `${best.size} lines`} above ${best.repeats - 1} more times, to ${last.slice(5, 14).trim()})`,
    )
    i += best.size * best.repeats
  }
  return out
}
