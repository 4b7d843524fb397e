// Pools the throughput figures of several `pnpm bench` runs: every cycle's ratio to its bare (or
// no-op) measured moments before or after it, the median over all of them, and a 95 % interval for
// that median from a bootstrap over rounds (a round's cycles share its processes, so a round is
// resampled whole). One run's median moves by a few per cent with the machine; pooled runs show
// where a contender really sits. For the runs that kept every storm's waits (BENCH_STORM_DETAIL=1),
// it also pools the refresh storms: the p99 of the waiters' excess over their refresh's AS round
// trip, with a 95 % interval from a bootstrap over storms (a storm's waiters share its token call),
// how many storms had a garbage-collection pause in their answer phase (from the token call's
// answer to a process's last waiter), with the p99 of the other storms, and where the waits go:
// from the first waiter's arrival to the token call, from its answer to the first waiter's handler,
// and the time between two handlers.
//
//   node bench/pool.mjs bench/runs/run-*.json                runs 28–47, BENCHMARKS.md's headline
//   node bench/pool.mjs bench/runs/nest-floor/*.json         runs N21–N40, the NestJS floor
//   node bench/pool.mjs results-1.json results-2.json …      your own runs (copies of bench/results.json,
//                                                            or compacted by bench/compact.mjs: the same figures)
//   BENCH_JSON=1 node bench/pool.mjs …                       the same as JSON
import { readRun, timelineFigures } from './run-file.mjs'
import { median, percentile, ratioTo } from './stats.mjs'

const files = process.argv.slice(2)
if (files.length === 0) {
  console.error('usage: node bench/pool.mjs <results.json> [<results.json> …]')
  process.exit(2)
}
const runs = files.map(readRun)
for (const [i, run] of runs.entries())
  if (!run.throughput?.rows?.[0]?.perCycle)
    throw new Error(
      `${files[i]}: no per-cycle figures (a run from before cycles, or a run without throughput)`,
    )

// A fixed-seed generator (mulberry32), so the same files give the same intervals.
let seed = 0x6f6e67
const random = () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

/** The cycle ratios of `id` to `to`, grouped by round (over every run); undefined if `to` is missing. */
function rounds(id, to, by) {
  const grouped = []
  for (const run of runs) {
    const rows = new Map(run.throughput.rows.map((row) => [row.id, row]))
    const of = rows.get(id)
    const against = rows.get(to)
    if (of === undefined || against === undefined) return undefined
    const byRound = new Map()
    of.perCycle.forEach((cycle, i) => {
      const list = byRound.get(cycle.round) ?? []
      list.push(ratioTo(cycle, against.perCycle[i], by))
      byRound.set(cycle.round, list)
    })
    grouped.push(...byRound.values())
  }
  return grouped
}

/** `statistic` over every value of `grouped`, and a 95 % interval from resampling whole groups. */
function bootstrap(grouped, statistic) {
  const boots = []
  for (let b = 0; b < 2000; b++) {
    const sample = []
    for (let i = 0; i < grouped.length; i++) sample.push(...grouped[Math.floor(random() * grouped.length)])
    boots.push(statistic(sample))
  }
  boots.sort((a, b) => a - b)
  const all = grouped.flat()
  return { value: statistic(all), low: boots[49], high: boots[1950], count: all.length }
}

function pooled(grouped) {
  const { value, low, high, count } = bootstrap(grouped, median)
  return { median: value, low, high, cycles: count }
}

const rows = runs[0].throughput.rows.map((row) => {
  const bare = row.bare ?? `${row.group}-bare`
  const noop = row.noop ?? `${row.group}-noop`
  const measure = (to, by) => (to === row.id ? undefined : rounds(row.id, to, by))
  const figures = {
    id: row.id,
    contender: row.contender,
    target: row.target,
    targetVsNoop: row.targetVsNoop,
  }
  // Against express-openid-connect only where the run itself compared the row with it.
  const eoc = row.vsExpressOpenIDConnect === undefined ? undefined : 'express-eoc'
  for (const [name, to, by] of [
    ['vsBare', bare, 'rps'],
    ['vsNoop', noop, 'rps'],
    ['vsBareByCpu', bare, 'cpu'],
    ['vsExpressOpenIDConnect', eoc, 'rps'],
    ['vsFloor', row.floor, 'rps'],
    ['vsFloorByCpu', row.floor, 'cpu'],
  ]) {
    if (to === undefined) continue
    const grouped = measure(to, by)
    if (grouped !== undefined) figures[name] = pooled(grouped)
  }
  return figures
})

// Each storm's waits, by storm kind, from the runs that kept them; disturbed storms left out, as
// in the runs themselves. A run's first storm (the refresh path still cold) is kept apart for the
// phases.
const stormsByName = new Map()
for (const run of runs)
  for (const storm of run.storms ?? []) {
    if (storm.detail === undefined) continue
    const kind = stormsByName.get(storm.name) ?? { runs: 0, storms: [], unpaused: [], phases: [], first: [] }
    kind.runs++
    storm.detail.forEach((one, i) => {
      if (one.disturbed) return
      kind.storms.push(one.excess)
      const { pausedInAnswer, phases } = timelineFigures(one)
      if (!pausedInAnswer) kind.unpaused.push(one.excess)
      if (phases !== undefined) (i === 0 ? kind.first : kind.phases).push(phases)
    })
    stormsByName.set(storm.name, kind)
  }
/** p50, p90 and max of `field` over `phases` (those that have it). */
function spread(phases, field) {
  const xs = phases.map((phase) => phase[field]).filter((x) => x !== undefined)
  return xs.length === 0
    ? undefined
    : { p50: percentile(xs, 50), p90: percentile(xs, 90), max: Math.max(...xs), storms: xs.length }
}
const p99 = (excess) => percentile(excess, 99)
const storms = [...stormsByName].map(([name, kind]) => {
  const { value, low, high, count } = bootstrap(kind.storms, p99)
  return {
    name,
    runs: kind.runs,
    storms: kind.storms.length,
    waiters: count,
    excessP99: value,
    low,
    high,
    pausedInAnswer: kind.storms.length - kind.unpaused.length,
    excessP99Unpaused: p99(kind.unpaused.flat()),
    phases: {
      toCall: spread(kind.phases, 'toCall'),
      toCallFirstStorm: spread(kind.first, 'toCall'),
      toFirstHandler: spread([...kind.first, ...kind.phases], 'toFirstHandler'),
      betweenHandlers: spread([...kind.first, ...kind.phases], 'betweenHandlers'),
    },
  }
})

const result = {
  runs: files.length,
  rounds: runs.reduce((n, run) => n + run.settings.rounds, 0),
  dates: runs.map((run) => run.date),
  rows,
  storms,
}
if (process.env.BENCH_JSON) console.log(JSON.stringify(result, null, 2))
else {
  const f = (x, d = 3) =>
    x === undefined ? '' : `${x.median.toFixed(d)} (${x.low.toFixed(d)}–${x.high.toFixed(d)})`
  console.log(
    `${result.runs} runs, ${result.rounds} rounds; median over every cycle (95 % interval, bootstrap over rounds)`,
  )
  console.log('| contender | × its bare | × no-op | × its bare by server CPU | target |')
  console.log('|---|---:|---:|---:|---|')
  for (const row of rows) {
    const target =
      row.target !== undefined
        ? `≥ ${row.target} × bare`
        : row.targetVsNoop !== undefined
          ? `≥ ${row.targetVsNoop} × no-op`
          : ''
    const eoc =
      (row.vsExpressOpenIDConnect ? `; ${f(row.vsExpressOpenIDConnect, 2)} × express-openid-connect` : '') +
      (row.vsFloor ? `; ${f(row.vsFloor)} × its floor (by CPU ${f(row.vsFloorByCpu)})` : '')
    console.log(
      `| ${row.contender} | ${f(row.vsBare)} | ${f(row.vsNoop)} | ${f(row.vsBareByCpu)} | ${target}${eoc} |`,
    )
  }
  const ms = (x) => `${x < 0 ? '−' : '+'}${Math.abs(x).toFixed(2)}`
  const phase = (x, unit = 'ms', scale = 1) =>
    x === undefined
      ? 'none'
      : `p50 ${(x.p50 * scale).toFixed(2)}, p90 ${(x.p90 * scale).toFixed(2)}, max ${(x.max * scale).toFixed(2)} ${unit} (${x.storms} storm${x.storms === 1 ? '' : 's'})`
  for (const storm of storms) {
    console.log(
      `\nRefresh storm, ${storm.name}: ${storm.runs} run${storm.runs === 1 ? '' : 's'} with every wait kept, ${storm.storms} storms, ${storm.waiters} waiters; wait − its AS round trip, p99 ${ms(storm.excessP99)} ms (95 % interval ${ms(storm.low)} to ${ms(storm.high)}, bootstrap over storms); ${storm.pausedInAnswer} of them with a GC pause in their answer phase, p99 of the others ${ms(storm.excessP99Unpaused)} ms`,
    )
    const { toCall, toCallFirstStorm, toFirstHandler, betweenHandlers } = storm.phases
    console.log(
      `  first waiter in → token call out: ${phase(toCall)}; in each run's first storm ${phase(toCallFirstStorm)}`,
    )
    console.log(`  token call answered → first waiter's handler: ${phase(toFirstHandler)}`)
    console.log(
      `  between two waiters' handlers (median of each storm): ${phase(betweenHandlers, 'µs', 1000)}`,
    )
  }
}
