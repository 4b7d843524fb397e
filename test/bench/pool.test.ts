// The arithmetic behind BENCHMARKS.md's headline: bench/stats.mjs (median, per-cycle ratio),
// bench/pool.mjs (cycles of several runs pooled, a bootstrap interval over rounds) and
// bench/compact.mjs (a run kept in bench/runs/ pools as the full run does), on synthetic results
// whose answers are known.
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'

const run = promisify(execFile)
const bench = (file: string) => fileURLToPath(new URL(`../../bench/${file}`, import.meta.url))

interface Window {
  rps: number
  cpuMicrosPerRequest: number
}
interface Stats {
  median(xs: number[]): number
  percentile(xs: number[], p: number): number
  ratioTo(window: Window, other: Window | undefined, by?: 'rps' | 'cpu'): number
}
interface Storm {
  excess: number[]
  disturbed: boolean
  detail: { tokenCalls: object[]; waits: object[]; storeCalls: object[] }[]
}
interface Interval {
  median: number
  low: number
  high: number
  cycles: number
}
interface Pooled {
  runs: number
  rounds: number
  storms: {
    name: string
    runs: number
    storms: number
    waiters: number
    excessP99: number
    pausedInAnswer: number
    excessP99Unpaused: number
    phases: Record<string, { p50: number; p90: number; max: number; storms: number } | undefined>
    low: number
    high: number
  }[]
  rows: {
    id: string
    target?: number
    vsBare?: Interval
    vsNoop?: Interval
    vsBareByCpu?: Interval
    vsExpressOpenIDConnect?: Interval
    vsFloor?: Interval
    vsFloorByCpu?: Interval
  }[]
}

describe('bench/stats.mjs', () => {
  const load = async (): Promise<Stats> => (await import(pathToFileURL(bench('stats.mjs')).href)) as Stats

  it('takes the median of odd and even counts, leaving NaN out', async () => {
    const { median } = await load()
    expect(median([3, 1, 2])).toBe(2)
    expect(median([4, 1, 3, 2])).toBe(2.5)
    expect(median([5, Number.NaN, 1])).toBe(3)
    expect(median([Number.NaN])).toBeNaN()
  })

  it('takes a percentile by nearest rank', async () => {
    const { percentile } = await load()
    const hundred = Array.from({ length: 100 }, (_, i) => 100 - i)
    expect(percentile(hundred, 99)).toBe(99)
    expect(percentile(hundred, 50)).toBe(50)
    expect(percentile(hundred, 100)).toBe(100)
    expect(percentile([7], 99)).toBe(7)
  })

  it('gives a ratio by requests per second, by server CPU per request, and NaN without the other', async () => {
    const { ratioTo } = await load()
    const ours = { rps: 900, cpuMicrosPerRequest: 100 }
    const bare = { rps: 1000, cpuMicrosPerRequest: 80 }
    expect(ratioTo(ours, bare)).toBeCloseTo(0.9, 12)
    expect(ratioTo(ours, bare, 'cpu')).toBeCloseTo(0.8, 12)
    expect(ratioTo(ours, undefined)).toBeNaN()
  })
})

describe('bench/pool.mjs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ongoing-pool-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  // One run: rounds of three cycles each. `ours` reads `ratios[round][cycle]` × bare by requests,
  // always 0.95 × bare by CPU, and 4 × express-openid-connect's requests at ratio 1. Its floor
  // answers 800 requests/s at 76 µs each. `storms`: each
  // storm's waiters' excess over the AS round trip and its per-process timelines, as a run with
  // BENCH_STORM_DETAIL=1 keeps them.
  function results(ratios: number[][], storms?: Storm[]): unknown {
    const cycles = (window: (round: number, ratio: number) => Window) =>
      ratios.flatMap((round, r) => round.map((ratio) => ({ round: r, ...window(r, ratio) })))
    const row = (id: string, extra: object, window: (round: number, ratio: number) => Window) => ({
      id,
      contender: id,
      ...extra,
      perCycle: cycles(window),
    })
    return {
      date: '2026-11-24T00:00:00.000Z',
      settings: { rounds: ratios.length },
      throughput: {
        rows: [
          row('g-bare', { group: 'g' }, () => ({ rps: 1000, cpuMicrosPerRequest: 80 })),
          row('g-noop', { group: 'g' }, () => ({ rps: 1000, cpuMicrosPerRequest: 80 })),
          row('g-floor', { group: 'g' }, () => ({ rps: 800, cpuMicrosPerRequest: 76 })),
          row(
            'g-ours',
            { group: 'g', target: 0.97, vsExpressOpenIDConnect: 4, floor: 'g-floor' },
            (_r, ratio) => ({
              rps: 1000 * ratio,
              cpuMicrosPerRequest: 80 / 0.95,
            }),
          ),
          row('express-eoc', { group: 'express-eoc', bare: 'g-bare', noop: 'g-noop' }, () => ({
            rps: 250,
            cpuMicrosPerRequest: 320,
          })),
        ],
      },
      storms: [{ name: 'memory store, 1 process', ...(storms === undefined ? {} : { detail: storms }) }],
    }
  }
  const write = (name: string, content: unknown) => {
    const file = join(dir, name)
    writeFileSync(file, JSON.stringify(content))
    return file
  }
  // Two storms, the excesses 1 … 100 ms between them (so the p99 is 99), and a disturbed one. One
  // process each: the first waiter arrives at 0 ms, the token call goes out at `callOut` (3 ms in
  // the first storm, 2 in the others) and answers at 10 ms, the waiters' handlers run at 12, 12.5
  // and 13.5 ms; the second storm's collector pauses in between (11–13 ms), the first's before the
  // answer (5–6 ms).
  const excess = (from: number) => Array.from({ length: 50 }, (_, i) => from + i)
  const timeline = (gc: { start: number; end: number }, callOut = 2) => [
    {
      tokenCalls: [{ start: callOut, end: 10 }],
      waits: [
        { t0: 0, t1: 12 },
        { t0: 0.5, t1: 12.5 },
        { t0: 1, t1: 13.5 },
      ],
      storeCalls: [
        { op: 'get', start: 1, end: 1.1 },
        { op: 'gc', ...gc },
      ],
    },
  ]
  const a = write(
    'a.json',
    results(
      [
        [0.95, 0.96, 0.97],
        [0.98, 0.99, 1.0],
      ],
      [
        { excess: excess(1), disturbed: false, detail: timeline({ start: 5, end: 6 }, 3) },
        { excess: [1000], disturbed: true, detail: timeline({ start: 11, end: 13 }) },
        { excess: excess(51), disturbed: false, detail: timeline({ start: 11, end: 13 }) },
      ],
    ),
  )
  const b = write('b.json', results([[0.9, 0.91, 0.92]]))
  const pool = async (...files: string[]) =>
    (await run(process.execPath, [bench('pool.mjs'), ...files], { env: { ...process.env, BENCH_JSON: '1' } }))
      .stdout

  it('pools every cycle of every run: the median, its interval, and the counts', async () => {
    const out = JSON.parse(await pool(a, b)) as Pooled
    expect(out.runs).toBe(2)
    expect(out.rounds).toBe(3)
    const ours = out.rows.find((row) => row.id === 'g-ours')
    // The nine ratios 0.90 … 1.00: their median is 0.96.
    expect(ours?.vsBare?.median).toBeCloseTo(0.96, 12)
    expect(ours?.vsBare?.cycles).toBe(9)
    // Whole rounds are resampled, so the interval's ends are medians of rounds drawn from these three.
    expect(ours?.vsBare?.low).toBeGreaterThanOrEqual(0.9)
    expect(ours?.vsBare?.low).toBeLessThan(0.96)
    expect(ours?.vsBare?.high).toBeGreaterThan(0.96)
    expect(ours?.vsBare?.high).toBeLessThanOrEqual(1)
    expect(ours?.vsNoop?.median).toBeCloseTo(0.96, 12)
    expect(ours?.vsBareByCpu).toMatchObject({ median: expect.closeTo(0.95, 12), cycles: 9 })
    expect(ours?.vsBareByCpu?.low).toBeCloseTo(0.95, 12)
    expect(ours?.vsBareByCpu?.high).toBeCloseTo(0.95, 12)
    expect(ours?.vsExpressOpenIDConnect?.median).toBeCloseTo(3.84, 12)
    expect(ours?.target).toBe(0.97)
  })

  it('pools the storms of the runs that kept their waits, leaving disturbed storms out', async () => {
    const out = JSON.parse(await pool(a, b)) as Pooled
    expect(out.storms).toHaveLength(1)
    const [storm] = out.storms
    expect(storm).toMatchObject({
      name: 'memory store, 1 process',
      runs: 1,
      storms: 2,
      waiters: 100,
      excessP99: 99,
      // The second storm paused while its waiters were answered; the first's p99 (1 … 50) is 50.
      pausedInAnswer: 1,
      excessP99Unpaused: 50,
    })
    // Where the waits went: the first storm kept apart (the cold path), the disturbed one left out.
    expect(storm?.phases).toEqual({
      toCall: { p50: 2, p90: 2, max: 2, storms: 1 },
      toCallFirstStorm: { p50: 3, p90: 3, max: 3, storms: 1 },
      toFirstHandler: { p50: 2, p90: 2, max: 2, storms: 2 },
      betweenHandlers: { p50: 0.75, p90: 0.75, max: 0.75, storms: 2 },
    })
    // Resampling the two storms: both, or one of them twice (p99 50 or 100).
    expect(storm?.low).toBeGreaterThanOrEqual(50)
    expect(storm?.high).toBeLessThanOrEqual(100)
    expect(storm?.low).toBeLessThanOrEqual(99)
    expect(storm?.high).toBeGreaterThanOrEqual(99)
    expect(JSON.parse(await pool(b)).storms).toEqual([])
  })

  it('compares with express-openid-connect only the rows the run compared, and never a row with itself', async () => {
    const out = JSON.parse(await pool(a)) as Pooled
    const rows = new Map(out.rows.map((row) => [row.id, row]))
    expect(rows.get('g-bare')?.vsBare).toBeUndefined()
    expect(rows.get('g-noop')?.vsNoop).toBeUndefined()
    expect(rows.get('g-noop')?.vsBare?.median).toBe(1)
    expect(rows.get('g-noop')?.vsExpressOpenIDConnect).toBeUndefined()
    // express-openid-connect is its own group, measured against the named bare.
    expect(rows.get('express-eoc')?.vsBare?.median).toBeCloseTo(0.25, 12)
  })

  it('reads a row against its floor where the row names one', async () => {
    const out = JSON.parse(await pool(a, b)) as Pooled
    const rows = new Map(out.rows.map((row) => [row.id, row]))
    // 0.90 … 1.00 × 1000 requests/s against 800: the median 960 / 800.
    expect(rows.get('g-ours')?.vsFloor).toMatchObject({ median: expect.closeTo(1.2, 12), cycles: 9 })
    // By CPU: 76 µs against 80 / 0.95.
    expect(rows.get('g-ours')?.vsFloorByCpu?.median).toBeCloseTo(0.9025, 12)
    expect(rows.get('g-bare')?.vsFloor).toBeUndefined()
    expect(rows.get('g-floor')?.vsFloor).toBeUndefined()
  })

  it('gives the same figures for the same files (a fixed seed) and a table without BENCH_JSON', async () => {
    expect(await pool(a, b)).toBe(await pool(a, b))
    const { stdout } = await run(process.execPath, [bench('pool.mjs'), a, b], {
      env: { ...process.env, BENCH_JSON: '' },
    })
    expect(stdout).toContain('2 runs, 3 rounds')
    expect(stdout).toMatch(/\| g-ours \| 0\.960 \(0\.9\d\d–\d\.\d\d\d\) \|/)
    expect(stdout).toMatch(
      /; 1\.200 \(1\.1\d\d–1\.2\d\d\) × its floor \(by CPU 0\.90\d \(0\.90\d–0\.90\d\)\) \|/,
    )
    expect(stdout).toContain('1 of them with a GC pause in their answer phase, p99 of the others +50.00 ms')
    expect(stdout).toContain(
      "first waiter in → token call out: p50 2.00, p90 2.00, max 2.00 ms (1 storm); in each run's first storm p50 3.00",
    )
    expect(stdout).toContain(
      "between two waiters' handlers (median of each storm): p50 750.00, p90 750.00, max 750.00 µs",
    )
    expect(stdout).toMatch(
      /Refresh storm, memory store, 1 process: 1 run with every wait kept, 2 storms, 100 waiters; wait − its AS round trip, p99 \+99\.00 ms/,
    )
  })

  const compact = async (file: string) => (await run(process.execPath, [bench('compact.mjs'), file])).stdout
  const writeText = (name: string, text: string) => {
    const file = join(dir, name)
    writeFileSync(file, text)
    return file
  }

  it('compacts a run so that it pools as the full run does, keeping no wait and no timeline', async () => {
    const text = await compact(a)
    const small = writeText('a-compact.json', text)
    expect(await pool(small, b)).toBe(await pool(a, b))
    expect(await pool(small)).toBe(await pool(a))
    const { stdout } = await run(process.execPath, [bench('pool.mjs'), small, b], {
      env: { ...process.env, BENCH_JSON: '' },
    })
    expect(stdout).toContain('1 of them with a GC pause in their answer phase, p99 of the others +50.00 ms')
    // The timelines' figures are kept in their place, and each row's cycles as a list per figure.
    const kept = JSON.parse(text)
    expect(kept.storms[0].detail.map((storm: { pausedInAnswer: boolean }) => storm.pausedInAnswer)).toEqual([
      false,
      true,
      true,
    ])
    expect(kept.storms[0].detail[0].phases).toEqual({ toCall: 3, toFirstHandler: 2, betweenHandlers: 0.75 })
    expect(kept.throughput.rows[3].perCycle).toEqual({
      round: [0, 0, 0, 1, 1, 1],
      rps: [950, 960, 970, 980, 990, 1000],
      cpuMicrosPerRequest: Array(6).fill(80 / 0.95),
    })
    expect(text).not.toMatch(/"t0"|"t1"|"storeCalls"|"tokenCalls"/)
    expect(text.length).toBeLessThan(readFileSync(a, 'utf8').length)
    // Compacting a compact run changes nothing.
    expect(await compact(small)).toBe(text)
  })

  it("keeps a waiter's excess to the nanosecond, drops the waits and timelines, keeps the token calls", async () => {
    const full = write('noisy.json', {
      ...(results([[0.95, 0.96, 0.97]]) as object),
      storms: [
        {
          name: 'memory store, 1 process',
          tokenCallsPerStorm: [1],
          refreshTokenReuse: 0,
          excessP99: 3.0000000004,
          detail: [
            {
              grant: 0,
              disturbed: false,
              excess: [1.0000000004, 2.9999999996, -0.0000012344, null],
              waits: [9.1, 9.2, 9.3, 9.4],
              detail: timeline({ start: 5, end: 6 }).map((process) => ({
                ...process,
                waits: process.waits.map((wait) => ({ ...wait, userKey: 'u1' })),
              })),
            },
          ],
        },
      ],
    })
    const kept = JSON.parse(await compact(full))
    expect(kept.storms).toEqual([
      {
        name: 'memory store, 1 process',
        tokenCallsPerStorm: [1],
        refreshTokenReuse: 0,
        excessP99: 3.0000000004,
        detail: [
          {
            disturbed: false,
            excess: [1, 3, -0.000001, null],
            pausedInAnswer: false,
            phases: { toCall: 2, toFirstHandler: 2, betweenHandlers: 0.75 },
          },
        ],
      },
    ])
  })

  it('refuses to compact a results file without per-cycle figures, and wants exactly one file', async () => {
    const old = write('old-compact.json', {
      throughput: { rows: [{ id: 'g-bare' }] },
      settings: { rounds: 1 },
    })
    await expect(compact(old)).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('old-compact.json: no per-cycle figures'),
    })
    await expect(run(process.execPath, [bench('compact.mjs')])).rejects.toMatchObject({ code: 2 })
    await expect(run(process.execPath, [bench('compact.mjs'), a, b])).rejects.toMatchObject({ code: 2 })
  })

  it('refuses a results file without per-cycle figures, naming it', async () => {
    const old = write('old.json', { throughput: { rows: [{ id: 'g-bare' }] }, settings: { rounds: 1 } })
    await expect(pool(a, old)).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('old.json: no per-cycle figures'),
    })
  })
})
