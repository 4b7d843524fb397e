// What the digi.me profile costs per request: one signed data-call JWT (access.fetch signs a fresh
// PS512 JWT around the access token for every request), and getAccessToken for a cached token with
// the digi.me profile next to the default one. No network: the profile's client is made with a
// context that never calls out, and the grants are restored. Never prints token material.
//
//   pnpm build && node --expose-gc bench/digime-jwt.mjs      (BENCH_JSON=1 also prints the result as JSON)
import { constants, generateKeyPairSync, sign } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { MemoryTokenStore, OngoingAccess } from '@ongoing/core'
import { digiMe } from '@ongoing/digime'
import { offlineAccess } from './offline-access.mjs'
import { median } from './stats.mjs'

const SIGNS = 2_000
const ROUNDS = 5
const USERS = 10_000
const CALLS = 1_000_000
const IN_FLIGHT = 64

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
const profileOptions = {
  applicationId: 'bench-app',
  contractId: 'bench-contract',
  privateKey,
  baseUrl: 'https://api.digi.me/v1.7/',
}
const noNetwork = () => Promise.reject(new Error('no call to digi.me is expected here'))
const client = digiMe(profileOptions).create({
  fetch: noNetwork,
  requestTimeoutMs: 10_000,
  maxResponseBytes: 1024 * 1024,
  logger: () => {},
  request: noNetwork,
})
const token = {
  value: 'bench-access-token',
  tokenType: 'Bearer',
  expiresAt: Date.now() + 3_600_000,
  refreshed: false,
}
const url = 'https://api.digi.me/v1.7/permission-access/query/session-key'

/** µs per authorize(), one after the other: the latency a data call adds. */
async function sequential(n) {
  const samples = []
  for (let i = 0; i < n; i++) {
    const started = process.hrtime.bigint()
    await client.authorize(new Request(url), token)
    samples.push(Number(process.hrtime.bigint() - started) / 1_000)
  }
  return median(samples)
}

/** µs of wall time per authorize() with `inFlight` at once: the thread pool signs in parallel. */
async function concurrent(n, inFlight) {
  let next = 0
  const started = process.hrtime.bigint()
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next++ < n) await client.authorize(new Request(url), token)
    }),
  )
  return Number(process.hrtime.bigint() - started) / 1_000 / n
}

/** µs per bare synchronous PS512 signature of the same size, on the event loop: the RSA floor. */
function bareSignature(n) {
  const input = Buffer.from(`${'a'.repeat(36)}.${'b'.repeat(190)}`)
  const samples = []
  for (let i = 0; i < n; i++) {
    const started = process.hrtime.bigint()
    sign('sha512', input, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 })
    samples.push(Number(process.hrtime.bigint() - started) / 1_000)
  }
  return median(samples)
}

await sequential(200) // warm-up
bareSignature(200)
const signRows = []
for (let round = 0; round < ROUNDS; round++) {
  signRows.push({
    sequentialUs: await sequential(SIGNS),
    concurrentUs: await concurrent(SIGNS, IN_FLIGHT),
    bareUs: bareSignature(SIGNS),
  })
}

// getAccessToken for a cached token: the same hot path whatever the profile.
const keys = Array.from({ length: USERS }, (_, i) => `user-${i}`)
async function seeded(access) {
  for (const key of keys) {
    await access.restore(key, { accessToken: `at-${key}`, refreshToken: `rt-${key}`, expiresIn: 3600 })
  }
  return access
}
const accesses = {
  digime: await seeded(
    new OngoingAccess({
      profile: digiMe(profileOptions),
      redirectUri: 'https://app.example/auth/callback',
      secret: 'bench-secret-bench-secret-bench-secret-bench',
      store: new MemoryTokenStore({ maxEntries: USERS }),
      fetch: noNetwork,
    }),
  ),
  standard: await seeded(offlineAccess({ store: new MemoryTokenStore({ maxEntries: USERS }) })),
}

async function awaited(access, n) {
  const started = process.hrtime.bigint()
  for (let i = 0; i < n; i++) await access.getAccessToken(keys[i % USERS])
  return Number(process.hrtime.bigint() - started) / n
}
function synchronous(access, n) {
  const started = process.hrtime.bigint()
  let hits = 0
  for (let i = 0; i < n; i++) if (access.getCachedAccessToken(keys[i % USERS]) !== undefined) hits++
  if (hits !== n) throw new Error(`expected ${n} cache hits, got ${hits}`)
  return Number(process.hrtime.bigint() - started) / n
}

for (const access of Object.values(accesses)) {
  await awaited(access, 200_000)
  synchronous(access, 200_000)
}
const hotRows = []
for (let round = 0; round < ROUNDS; round++) {
  // Alternate the order, so drift hits both alike.
  const order = round % 2 === 0 ? ['digime', 'standard'] : ['standard', 'digime']
  const row = {}
  for (const name of order) {
    row[`${name}AwaitedNs`] = await awaited(accesses[name], CALLS)
    row[`${name}SyncNs`] = synchronous(accesses[name], CALLS)
  }
  hotRows.push(row)
}

const pick = (rows, field) => median(rows.map((row) => row[field]))
const result = {
  node: process.version,
  cores: availableParallelism(),
  rounds: ROUNDS,
  'signed data-call JWT, authorize() one at a time (µs, median)': Number(
    pick(signRows, 'sequentialUs').toFixed(1),
  ),
  [`signed data-call JWT, authorize() ${IN_FLIGHT} in flight (µs of wall time per call, median)`]: Number(
    pick(signRows, 'concurrentUs').toFixed(1),
  ),
  'bare PS512 signature on the event loop (µs, median)': Number(pick(signRows, 'bareUs').toFixed(1)),
  'await getAccessToken, cached, digi.me profile (ns/call, median)': Math.round(
    pick(hotRows, 'digimeAwaitedNs'),
  ),
  'await getAccessToken, cached, standard profile (ns/call, median)': Math.round(
    pick(hotRows, 'standardAwaitedNs'),
  ),
  'getCachedAccessToken, digi.me profile (ns/call, median)': Math.round(pick(hotRows, 'digimeSyncNs')),
  'getCachedAccessToken, standard profile (ns/call, median)': Math.round(pick(hotRows, 'standardSyncNs')),
}
for (const access of Object.values(accesses)) access.close()
console.table(result)
if (process.env.BENCH_JSON) console.log(JSON.stringify(result))
