// Grants as an inventory (issue 20): how fast `access.grants()` walks the stored grants, and what
// the keepers cost the authorization server.
//
// 1. `grants()` throughput, grants/s: 10,000 restored grants in a MemoryTokenStore and in a
//    RedisTokenStore (a redis-server of its own), page sizes 100 and 1,000, in a process of its
//    own; the median of 5 walks each, after one unmeasured walk. For Redis, its commands per grant.
// 2. The keepers' share of the AS's load: 300 grants from real consents at the test authorization
//    server (its CLI, in its own process; strict rotation), a keeper in each of 3 app processes
//    sharing Redis, for 3 expiries of every grant: refresh calls counted at the server per grant
//    per expiry (1.00 when each expiry costs one call, whatever the number of keepers).
//
// Prints a table and writes bench/inventory-results.json (not bench/results.json). No assertions.
// Never logs token material.
//
//   pnpm build && node bench/inventory.mjs      (BENCH_JSON=1 also prints one JSON line)
//   INVENTORY_GRANTS=10000 INVENTORY_KEEPER_GRANTS=300 INVENTORY_KEEPERS=3 INVENTORY_EXPIRIES=3
import { fork, spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import { MemoryTokenStore, OngoingAccess } from '@ongoing/core'
import { RedisTokenStore } from '@ongoing/redis'
import { offlineAccessOptions } from './offline-access.mjs'
import { median } from './stats.mjs'

const here = (path) => fileURLToPath(new URL(path, import.meta.url))
const env = (name, fallback) => (process.env[name] === undefined ? fallback : Number(process.env[name]))
const GRANTS = env('INVENTORY_GRANTS', 10_000)
const PAGE_SIZES = [100, 1_000]
const WALKS = 5
const KEEPER_GRANTS = env('INVENTORY_KEEPER_GRANTS', 300)
const KEEPERS = env('INVENTORY_KEEPERS', 3)
const EXPIRIES = env('INVENTORY_EXPIRIES', 3)
/**
 * The keepers' schedule: access tokens live ACCESS_TTL s at the server; a keeper walks every
 * second and refreshes AHEAD s before expiry (requests would SKEW s before), so each grant falls
 * due every ACCESS_TTL − AHEAD s. The first tokens are stored with 8 to 10 s left, so every grant
 * falls due first 4 to 6 s after they are stored; the count stops halfway between the last
 * expiry counted and the next one.
 */
const ACCESS_TTL = 16
const AHEAD = 4
const SKEW = 2
const KEEPER_OPTIONS = { intervalSeconds: 1, aheadSeconds: AHEAD, concurrency: 4 }
const CONSENTS_AT_ONCE = 6
const REDIRECT_URI = 'http://127.0.0.1:3000/callback'
const SCOPE = 'offline_access api:read'

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Runs `task(item, index)` for every item, `concurrency` at a time. */
async function pool(items, concurrency, task) {
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++
        await task(items[i], i)
      }
    }),
  )
}

/** A child's messages, one `type` at a time. */
function messagesOf(child) {
  const queue = []
  const wanted = []
  child.on('message', (message) => {
    const index = wanted.findIndex((w) => w.type === message.type || message.type === 'failed')
    if (index >= 0) wanted.splice(index, 1)[0].resolve(message)
    else queue.push(message)
  })
  return (type) =>
    new Promise((resolve, reject) => {
      const done = (message) =>
        message.type === 'failed' ? reject(new Error(`child failed: ${message.message}`)) : resolve(message)
      const index = queue.findIndex((m) => m.type === type || m.type === 'failed')
      if (index >= 0) done(queue.splice(index, 1)[0])
      else wanted.push({ type, resolve: done })
    })
}

function redisStore(cfg) {
  return new RedisTokenStore({ url: cfg.redisUrl, keyPrefix: cfg.keyPrefix })
}

// ---------------------------------------------------------------- a child: grants() throughput
async function walker(cfg) {
  const options = offlineAccessOptions()
  const results = []
  for (const kind of ['memory', 'redis']) {
    const store = kind === 'memory' ? new MemoryTokenStore() : redisStore(cfg)
    if (kind === 'redis') await store.ready()
    const access = new OngoingAccess({ ...options, store })
    await pool(
      Array.from({ length: GRANTS }, (_, i) => `user-${i}`),
      64,
      (userKey) =>
        access.restore(userKey, {
          accessToken: `at-${userKey}`,
          refreshToken: `rt-${userKey}`,
          expiresIn: 3_600,
          scope: SCOPE,
        }),
    )
    const walk = async (pageSize) => {
      let listed = 0
      const started = process.hrtime.bigint()
      for await (const _grant of access.grants({ pageSize })) listed++
      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      if (listed !== GRANTS) throw new Error(`${kind}: listed ${listed} of ${GRANTS}`)
      return GRANTS / seconds
    }
    await walk(100) // unmeasured: compiles what the walks run
    const rates = Object.fromEntries(PAGE_SIZES.map((size) => [size, []]))
    let commands
    for (let round = 0; round < WALKS; round++) {
      for (const pageSize of PAGE_SIZES) {
        const before = kind === 'redis' && round === 0 ? await commandCount(cfg) : undefined
        rates[pageSize].push(await walk(pageSize))
        if (before !== undefined) {
          const after = await commandCount(cfg)
          commands ??= {}
          commands[pageSize] = Object.fromEntries(
            Object.entries(after)
              .map(([name, calls]) => [name, (calls - (before[name] ?? 0)) / GRANTS])
              .filter(([name, perGrant]) => perGrant > 0 && name !== 'info'),
          )
        }
      }
    }
    for (const pageSize of PAGE_SIZES)
      results.push({
        store: kind,
        pageSize,
        grantsPerSecond: median(rates[pageSize]),
        commands: commands?.[pageSize],
      })
    access.close()
    await store.close?.()
  }
  return results
}

/** Redis's command counts since it started (INFO commandstats), on a connection of its own. */
async function commandCount(cfg) {
  const { Redis } = await import('ioredis')
  const admin = new Redis(cfg.redisUrl)
  try {
    const counts = {}
    for (const line of (await admin.info('commandstats')).split('\n')) {
      const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim())
      if (match !== null) counts[match[1]] = Number(match[2])
    }
    return counts
  } finally {
    admin.disconnect()
  }
}

// ---------------------------------------------------------------- a child: one app instance with a keeper
async function keeperProcess(cfg) {
  const store = redisStore(cfg)
  const access = new OngoingAccess({
    issuer: cfg.issuer,
    client: cfg.client,
    redirectUri: REDIRECT_URI,
    scope: SCOPE,
    secret: cfg.secret,
    store,
    refreshSkewSeconds: SKEW,
  })
  await access.metadata()
  await store.ready()
  const refreshes = {}
  const refreshTimes = []
  const errors = {}
  access.on('refresh', ({ userKey }) => {
    refreshes[userKey] = (refreshes[userKey] ?? 0) + 1
    refreshTimes.push(Date.now())
  })
  access.on('refreshError', ({ error }) => {
    errors[error.code] = (errors[error.code] ?? 0) + 1
  })
  let keeper
  process.on('message', async (message) => {
    if (message.type === 'keep') {
      keeper = access.keepFresh(KEEPER_OPTIONS)
      process.send({ type: 'keeping' })
    } else if (message.type === 'stop') {
      await keeper?.stop()
      access.close()
      await store.close()
      process.send({ type: 'stopped', refreshes, refreshTimes, errors }, () => process.exit(0))
    }
  })
  process.send({ type: 'ready' })
}

// ---------------------------------------------------------------- the main process
async function startAuthorizationServer() {
  const cli = here('./node_modules/@ongoing/testing/dist/cli.js')
  const child = spawn(process.execPath, [cli, '--access-ttl', String(ACCESS_TTL), '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-2000)
  })
  const line = await new Promise((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (chunk) => {
      out += chunk
      const newline = out.indexOf('\n')
      if (newline >= 0) resolve(out.slice(0, newline))
    })
    child.once('exit', (code) => reject(new Error(`the authorization server exited (${code}): ${stderr}`)))
  })
  const { issuer, clients } = JSON.parse(line)
  return {
    issuer,
    client: clients.confidential,
    stats: async () => (await fetch(new URL('/__ongoing/stats', issuer))).json(),
    reset: async () => {
      await fetch(new URL('/__ongoing/reset', issuer), { method: 'POST' })
    },
    close: () => child.kill('SIGTERM'),
  }
}

async function keeperShare(redis, driveConsent) {
  const as = await startAuthorizationServer()
  try {
    const cfg = {
      issuer: as.issuer,
      client: as.client,
      secret: `bench-secret-${Date.now()}-bench-secret`,
      redisUrl: redis.url,
      keyPrefix: `bench-inventory-keeper:${Date.now()}:`,
    }
    const store = redisStore(cfg)
    const access = new OngoingAccess({
      issuer: cfg.issuer,
      client: cfg.client,
      redirectUri: REDIRECT_URI,
      scope: SCOPE,
      secret: cfg.secret,
      store,
      refreshSkewSeconds: SKEW,
    })
    const children = Array.from({ length: KEEPERS }, () =>
      fork(here('./inventory.mjs'), ['keeper', JSON.stringify(cfg)], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      }),
    )
    const next = children.map(messagesOf)
    const users = Array.from({ length: KEEPER_GRANTS }, (_, i) => `user-${i}`)

    // Real consents; the tokens are kept here until they are stored below.
    const consentStarted = Date.now()
    const granted = []
    await pool(users, CONSENTS_AT_ONCE, async (userKey, i) => {
      const { url, codeVerifier } = await access.startConsent({ userKey })
      const callback = await driveConsent(url, { redirectUriPrefix: REDIRECT_URI, login: userKey })
      const code = callback.searchParams.get('code')
      const response = await fetch(new URL('/token', as.issuer), {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${cfg.client.id}:${cfg.client.secret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code,
          redirect_uri: REDIRECT_URI,
          code_verifier: codeVerifier,
        }),
      })
      const tokens = await response.json()
      if (!response.ok || typeof tokens.refresh_token !== 'string') throw new Error('code exchange failed')
      granted[i] = { tokens, at: Date.now() }
    })
    const consentSeconds = (Date.now() - consentStarted) / 1000
    await Promise.all(next.map((n) => n('ready')))

    // Stored with 8 to 10 s left: every grant falls due (AHEAD s before expiry) 4 to 6 s from now.
    const storedAt = Date.now()
    await pool(users, 32, async (userKey, i) => {
      const { tokens, at } = granted[i]
      const left = tokens.expires_in - (Date.now() - at) / 1000
      await access.restore(userKey, {
        accessToken: tokens.access_token,
        refreshToken: tokens.refresh_token,
        expiresIn: Math.min(8 + (2 * i) / (KEEPER_GRANTS - 1), left - 0.5),
      })
    })
    granted.length = 0
    access.close()
    await store.close()
    await as.reset()
    for (const child of children) child.send({ type: 'keep' })
    await Promise.all(next.map((n) => n('keeping')))

    // Due at about storedAt + 4..6 s, then every ACCESS_TTL − AHEAD s: stop halfway to the next one.
    const cycle = ACCESS_TTL - AHEAD
    const stopAt = storedAt + (5 + (EXPIRIES - 1) * cycle + cycle / 2) * 1000
    await sleep(stopAt - Date.now())
    for (const child of children) child.send({ type: 'stop' })
    const reports = await Promise.all(next.map((n) => n('stopped')))
    const stats = await as.stats()

    const perGrant = {}
    for (const userKey of users) {
      const n = reports.reduce((sum, report) => sum + (report.refreshes[userKey] ?? 0), 0)
      perGrant[n] = (perGrant[n] ?? 0) + 1
    }
    // How bunched the refreshes were: the most in any one second (a sliding window).
    const times = reports.flatMap((report) => report.refreshTimes).sort((a, b) => a - b)
    let peakPerSecond = 0
    for (let i = 0, j = 0; i < times.length; i++) {
      while (times[i] - times[j] >= 1_000) j++
      peakPerSecond = Math.max(peakPerSecond, i - j + 1)
    }
    const errors = {}
    for (const report of reports)
      for (const [code, n] of Object.entries(report.errors)) errors[code] = (errors[code] ?? 0) + n
    return {
      grants: KEEPER_GRANTS,
      keepers: KEEPERS,
      expiries: EXPIRIES,
      accessTokenTtlSeconds: ACCESS_TTL,
      keeper: KEEPER_OPTIONS,
      refreshSkewSeconds: SKEW,
      consentSeconds,
      windowSeconds: (stopAt - storedAt) / 1000,
      refreshCallsAtServer: stats.tokenCalls.refresh_token,
      callsPerGrantPerExpiry: stats.tokenCalls.refresh_token / (KEEPER_GRANTS * EXPIRIES),
      refreshTokenReuse: stats.refreshTokenReuse,
      grantsRevoked: stats.grantsRevoked,
      refreshesByProcess: reports.map((report) => Object.values(report.refreshes).reduce((a, b) => a + b, 0)),
      grantsByRefreshCount: perGrant,
      peakRefreshesPerSecond: peakPerSecond,
      averageRefreshesPerSecond: times.length / ((stopAt - storedAt) / 1000),
      refreshErrors: errors,
    }
  } finally {
    as.close()
  }
}

async function main() {
  const started = Date.now()
  // Loaded here only: the children measure without oidc-provider's heap.
  const { driveConsent, startRedisServer } = await import('@ongoing/testing')
  const redis = await startRedisServer()
  try {
    const child = fork(
      here('./inventory.mjs'),
      ['walker', JSON.stringify({ redisUrl: redis.url, keyPrefix: `bench-inventory:${Date.now()}:` })],
      { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
    )
    const { walks } = await messagesOf(child)('walked')
    const keeper = await keeperShare(redis, driveConsent)

    const rows = {}
    for (const walk of walks) {
      const commands =
        walk.commands === undefined
          ? ''
          : ` (Redis commands per grant: ${Object.entries(walk.commands)
              .map(([name, perGrant]) => `${name} ${perGrant.toFixed(3)}`)
              .join(', ')})`
      rows[`grants() over ${GRANTS} grants, ${walk.store}, pageSize ${walk.pageSize}: grants/s`] =
        `${Math.round(walk.grantsPerSecond)}${commands}`
    }
    rows[
      `keepers: refresh calls at the AS per grant per expiry (${keeper.grants} grants, ${keeper.keepers} processes, ${keeper.expiries} expiries)`
    ] =
      `${keeper.callsPerGrantPerExpiry.toFixed(3)} (${keeper.refreshCallsAtServer} calls; reuse ${keeper.refreshTokenReuse}, revoked ${keeper.grantsRevoked})`
    rows['keepers: grants by refreshes made'] = JSON.stringify(keeper.grantsByRefreshCount)
    rows['keepers: refreshes by process'] = keeper.refreshesByProcess.join(' / ')
    rows['keepers: refreshes per second, most in any 1 s / average'] =
      `${keeper.peakRefreshesPerSecond} / ${keeper.averageRefreshesPerSecond.toFixed(1)}`
    rows['Node.js'] = process.version
    rows['total bench time (s)'] = ((Date.now() - started) / 1000).toFixed(1)
    console.table(rows)

    const result = {
      date: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      command: 'node bench/inventory.mjs',
      grants: GRANTS,
      walksPerFigure: WALKS,
      walks,
      keeper,
      totalSeconds: (Date.now() - started) / 1000,
    }
    writeFileSync(here('./inventory-results.json'), `${JSON.stringify(result, null, 2)}\n`)
    if (process.env.BENCH_JSON) console.log(JSON.stringify(result))
  } finally {
    await redis.close()
  }
}

if (process.argv[2] === 'walker') {
  const walks = await walker(JSON.parse(process.argv[3]))
  process.send({ type: 'walked', walks }, () => process.exit(0))
} else if (process.argv[2] === 'keeper') {
  await keeperProcess(JSON.parse(process.argv[3]))
} else {
  await main()
}
