// getAccessToken with a fresh token in MemoryTokenStore: time per call on one core, and heap before
// and after 1,000,000 calls over 100,000 users. Run: pnpm build && node --expose-gc bench/core-hot-path.mjs
import { MemoryTokenStore } from '@ongoing/core'
import { offlineAccess } from './offline-access.mjs'
import { median } from './stats.mjs'

const USERS = 100_000
const CALLS = 1_000_000
const gc = globalThis.gc ?? (() => {})

const access = offlineAccess({ store: new MemoryTokenStore({ maxEntries: USERS }) })

const keys = Array.from({ length: USERS }, (_, i) => `user-${i}`)
for (const key of keys) {
  await access.restore(key, { accessToken: `at-${key}`, refreshToken: `rt-${key}`, expiresIn: 3600 })
}

const mb = (bytes) => (bytes / 1024 / 1024).toFixed(1)
gc()
const heapBefore = process.memoryUsage().heapUsed

async function awaited(n) {
  const started = process.hrtime.bigint()
  for (let i = 0; i < n; i++) await access.getAccessToken(keys[i % USERS])
  return Number(process.hrtime.bigint() - started) / n
}

function synchronous(n) {
  const started = process.hrtime.bigint()
  let hits = 0
  for (let i = 0; i < n; i++) if (access.getCachedAccessToken(keys[i % USERS]) !== undefined) hits++
  if (hits !== n) throw new Error(`expected ${n} cache hits, got ${hits}`)
  return Number(process.hrtime.bigint() - started) / n
}

await awaited(200_000) // warm-up
synchronous(200_000)
const rows = []
for (let round = 0; round < 5; round++) {
  rows.push({ awaitedNs: await awaited(CALLS), syncNs: synchronous(CALLS) })
}
gc()
const heapAfter = process.memoryUsage().heapUsed

const result = {
  node: process.version,
  users: USERS,
  callsPerRound: CALLS,
  rounds: rows.length,
  'await getAccessToken (ns/call, median)': Math.round(median(rows.map((r) => r.awaitedNs))),
  'getCachedAccessToken (ns/call, median)': Math.round(median(rows.map((r) => r.syncNs))),
  'heap before (MB)': mb(heapBefore),
  'heap after (MB)': mb(heapAfter),
  'heap growth (MB)': mb(heapAfter - heapBefore),
}
console.table(result)
if (process.env.BENCH_JSON) console.log(JSON.stringify(result))
