// Summarizes a V8 CPU profile (node --cpu-prof; `BENCH_CPU_PROF=express-ours pnpm bench` writes
// them to bench/profiles/): the functions with the most self time, and the self time of each
// function of ours (@ongoing/*), as a share of the busy (non-idle) samples.
//
//   node bench/profile-summary.mjs bench/profiles/<file>.cpuprofile [top=25]
import { readFileSync } from 'node:fs'

const [file, topArg] = process.argv.slice(2)
if (file === undefined) {
  console.error('usage: node bench/profile-summary.mjs <file.cpuprofile> [top]')
  process.exit(2)
}
const top = Number(topArg ?? 25)
const profile = JSON.parse(readFileSync(file, 'utf8'))

const selfMicros = new Map() // node id → µs
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i]
  selfMicros.set(id, (selfMicros.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
}

const shorten = (url) =>
  url
    .replace(/^file:\/\//, '')
    .replace(/^.*\/node_modules\/\.pnpm\/[^/]+\/node_modules\//, '')
    .replace(/^.*\/(packages\/[^/]+\/)/, '$1')
    .replace(/^.*\/(bench\/)/, '$1')

const byFunction = new Map()
let busy = 0
let idle = 0
for (const node of profile.nodes) {
  const micros = selfMicros.get(node.id) ?? 0
  const { functionName, url, lineNumber } = node.callFrame
  if (functionName === '(idle)' || functionName === '(program)') {
    idle += functionName === '(idle)' ? micros : 0
    if (functionName === '(idle)') continue
  }
  busy += micros
  const key = `${functionName || '(anonymous)'} ${url ? `${shorten(url)}:${lineNumber + 1}` : ''}`.trim()
  byFunction.set(key, (byFunction.get(key) ?? 0) + micros)
}

const pct = (micros) => `${((100 * micros) / busy).toFixed(2)}%`
const rows = [...byFunction].sort((a, b) => b[1] - a[1])
console.log(`${file}: busy ${(busy / 1e6).toFixed(2)} s, idle ${(idle / 1e6).toFixed(2)} s`)
console.log(`\ntop ${top} by self time (share of busy time):`)
for (const [name, micros] of rows.slice(0, top)) console.log(`  ${pct(micros).padStart(7)}  ${name}`)
const ours = rows.filter(([name]) => /packages\/(core|express|koa|nestjs|redis)\//.test(name))
const oursTotal = ours.reduce((n, [, micros]) => n + micros, 0)
console.log(`\nours (@ongoing/*), self time: ${pct(oursTotal)} in all`)
for (const [name, micros] of ours) console.log(`  ${pct(micros).padStart(7)}  ${name}`)
