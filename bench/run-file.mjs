// A run's results, as `pnpm bench` writes them (bench/results.json) or compacted for bench/runs/
// by bench/compact.mjs. The compact form keeps what bench/pool.mjs pools and what BENCHMARKS.md
// quotes of each run:
// - the run's date, command, machine, settings and duration;
// - per throughput row, its names, targets and the ratios the run printed, and per cycle its
//   requests per second, server CPU per request and server busy share;
// - per storm kind, every figure it sums up (token calls per storm, reuse, revocations, p50/p99),
//   and per storm whether it was disturbed, its waiters' excess over their AS round trip, and what
//   pool reads off its timelines (whether the collector paused while its waiters were answered,
//   and its phases).
// It drops the rest: the cycles' latencies and probes, each row's latency and round figures, the
// waits themselves, the timelines, and the store, hot-path and DPoP figures (bench/results.json
// keeps the last full run's). Numbers are copied, but for the excess, which is kept to the
// nanosecond: the servers' clock counts nanoseconds, and the digits beyond are the float noise of
// converting them to milliseconds. Pooling a compacted run prints what pooling the full one prints.
import { readFileSync } from 'node:fs'
import { median } from './stats.mjs'

/** What a compact run keeps of the run, of each throughput row, of each cycle and of each storm. */
const RUN_FIELDS = ['date', 'command', 'machine', 'settings', 'totalSeconds']
const ROW_FIELDS = [
  'id',
  'group',
  'bare',
  'noop',
  'floor',
  'contender',
  'target',
  'targetVsNoop',
  'ratio',
  'cpuRatio',
  'vsNoop',
  'vsExpressOpenIDConnect',
]
const CYCLE_FIELDS = ['round', 'rps', 'cpuMicrosPerRequest', 'serverCores']
const STORM_FIELDS = ['disturbed', 'excess', 'pausedInAnswer', 'phases']

/** The fields of `object` named in `fields`, in that order, leaving out those it lacks. */
const pick = (object, fields) =>
  Object.fromEntries(
    fields.filter((field) => object[field] !== undefined).map((field) => [field, object[field]]),
  )

/** `ms` to the nanosecond (null, a NaN written to JSON, stays null). */
const toNanosecond = (ms) => (typeof ms === 'number' ? Math.round(ms * 1e6) / 1e6 : ms)

/** When the first token call of `storm` (its per-process timelines) was answered. */
const answeredAt = (storm) =>
  Math.min(...storm.detail.flatMap((process) => process.tokenCalls.map((call) => call.end)))

/** Whether a process of `storm` paused for GC after the token call's answer and before its last waiter. */
function pausedInAnswer(storm) {
  const answered = answeredAt(storm)
  return storm.detail.some((process) => {
    const lastWaiter = Math.max(...process.waits.map((wait) => wait.t1))
    return process.storeCalls.some(
      (event) => event.op === 'gc' && event.end > answered && event.start < lastWaiter,
    )
  })
}

/**
 * A storm's phases (ms), over its processes: the first waiter's arrival → the first token call
 * sent (`toCall`); that call's answer → the first waiter's handler (`toFirstHandler`); the median
 * time between two handlers, in the order they ran (`betweenHandlers`).
 */
function phasesOf(storm) {
  const waits = storm.detail.flatMap((process) => process.waits)
  const calls = storm.detail.flatMap((process) => process.tokenCalls)
  if (waits.length === 0 || calls.length === 0) return undefined
  const handlers = waits.map((wait) => wait.t1).sort((x, y) => x - y)
  return {
    toCall: Math.min(...calls.map((call) => call.start)) - Math.min(...waits.map((wait) => wait.t0)),
    toFirstHandler: handlers[0] - answeredAt(storm),
    betweenHandlers:
      handlers.length < 2 ? undefined : median(handlers.slice(1).map((t, i) => t - handlers[i])),
  }
}

/**
 * `{ pausedInAnswer, phases }` of one storm of a run: read off its timelines (`storm.detail`, one
 * per process, in a run made with BENCH_STORM_DETAIL=1), or as a compact run keeps them.
 */
export function timelineFigures(storm) {
  if (storm.detail === undefined) return { pausedInAnswer: storm.pausedInAnswer, phases: storm.phases }
  return { pausedInAnswer: pausedInAnswer(storm), phases: phasesOf(storm) }
}

/** `perCycle` as a list of cycles, whether the run is full (a list) or compact (a list per field). */
function cyclesOf(perCycle) {
  if (perCycle === undefined || Array.isArray(perCycle)) return perCycle
  return perCycle.round.map((_, i) =>
    Object.fromEntries(CYCLE_FIELDS.map((field) => [field, perCycle[field]?.[i]])),
  )
}

/** A results file, full or compact, with each row's cycles as a list (what bench/pool.mjs reads). */
export function readRun(file) {
  const run = JSON.parse(readFileSync(file, 'utf8'))
  for (const row of run.throughput?.rows ?? []) row.perCycle = cyclesOf(row.perCycle)
  return run
}

/** The compact form of `run` (full or already compact): see the top of this file. */
export function compactRun(run) {
  const compact = pick(run, RUN_FIELDS)
  if (run.throughput !== undefined) {
    const { rows, ...figures } = run.throughput
    const scalars = Object.entries(figures).filter(([, value]) => typeof value !== 'object')
    compact.throughput = {
      ...Object.fromEntries(scalars),
      rows: rows?.map((row) => {
        const cycles = cyclesOf(row.perCycle)
        const kept = CYCLE_FIELDS.filter((field) => cycles?.some((cycle) => cycle[field] !== undefined))
        return {
          ...pick(row, ROW_FIELDS),
          ...(cycles === undefined
            ? {}
            : {
                perCycle: Object.fromEntries(
                  kept.map((field) => [field, cycles.map((cycle) => cycle[field])]),
                ),
              }),
        }
      }),
    }
  }
  if (run.storms !== undefined)
    compact.storms = run.storms.map((kind) => {
      if (kind.detail === undefined) return kind
      const detail = kind.detail.map((storm) => {
        const kept = { ...storm, ...timelineFigures(storm) }
        if (kept.excess !== undefined) kept.excess = kept.excess.map(toNanosecond)
        return pick(kept, STORM_FIELDS)
      })
      return { ...kind, detail }
    })
  return compact
}

/**
 * `value` as JSON: one line for each field of an object, and for each item of a list, that holds a
 * list of objects (a run, its rows and storms); everything else on one line (a row, a storm).
 */
export function formatRun(value, indent = '') {
  if (!holdsObjectList(value)) return JSON.stringify(value ?? null)
  const inner = `${indent}  `
  const lines = Array.isArray(value)
    ? value.map((item) => `${inner}${formatRun(item, inner)}`)
    : Object.entries(value)
        .filter(([, item]) => item !== undefined)
        .map(([key, item]) => `${inner}${JSON.stringify(key)}: ${formatRun(item, inner)}`)
  const [open, close] = Array.isArray(value) ? ['[', ']'] : ['{', '}']
  return `${open}\n${lines.join(',\n')}\n${indent}${close}`
}

/** Whether `value` is a list of objects, or holds one at any depth. */
const holdsObjectList = (value) =>
  value !== null &&
  typeof value === 'object' &&
  ((Array.isArray(value) && value.some((item) => item !== null && typeof item === 'object')) ||
    Object.values(value).some(holdsObjectList))
