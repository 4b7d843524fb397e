// Compacts a run's results for bench/runs/: a full `pnpm bench` run (bench/results.json, about
// 400 kB with the storms' timelines) becomes about 27 kB, which bench/pool.mjs pools as it pools
// the full file (what is kept, and why: bench/run-file.mjs).
//
//   node bench/compact.mjs bench/results.json > bench/runs/run-48.json
//   node bench/pool.mjs bench/runs/run-*.json                           the pool, run 48 included
import { compactRun, formatRun, readRun } from './run-file.mjs'

const files = process.argv.slice(2)
if (files.length !== 1) {
  console.error('usage: node bench/compact.mjs <results.json> > <compact.json>')
  process.exit(2)
}
const run = readRun(files[0])
if (!run.throughput?.rows?.[0]?.perCycle)
  throw new Error(`${files[0]}: no per-cycle figures (a run from before cycles, or a run without throughput)`)
process.stdout.write(`${formatRun(compactRun(run))}\n`)
