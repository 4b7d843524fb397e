// RedisTokenStore under OngoingAccess: the getAccessToken hot path (with and without the
// process-local cache: Redis commands per call and time per call), lock acquisition, and how long a
// process waiting on another process's refresh takes to see the new token.
// No assertions on time: it prints a table. Needs redis-server on the PATH or REDIS_URL.
//
//   pnpm build && node bench/redis-store.mjs        (BENCH_JSON=1 also prints one JSON line)
import { fork } from 'node:child_process'
import { OngoingAccess } from '@ongoing/core'
import { RedisTokenStore } from '@ongoing/redis'
import { startRedisServer } from '@ongoing/testing'
import { Redis } from 'ioredis'
import { offlineAccessOptions } from './offline-access.mjs'

const CACHED_CALLS = 200_000
const UNCACHED_CALLS = 20_000
const LOCKS = 5_000
const WAKE_UPS = 300
const USERS = 1_000

const now = () => process.hrtime.bigint() // CLOCK_MONOTONIC: one clock for every process on the machine
const ms = (ns) => Number(ns) / 1e6
const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]

/** The offline access's options (without its fetch, which a forked process could not be sent). */
function config(redisUrl, keyPrefix) {
  const { fetch: _throwing, ...options } = offlineAccessOptions()
  return { ...options, redisUrl, keyPrefix }
}

function createAccess(cfg, { store, fetch, cacheMaxEntries } = {}) {
  const { redisUrl, keyPrefix, ...options } = cfg
  return new OngoingAccess({
    ...options,
    store: store ?? new RedisTokenStore({ url: redisUrl, keyPrefix }),
    fetch:
      fetch ??
      (() => {
        throw new Error('no token call expected')
      }),
    ...(cacheMaxEntries === undefined ? {} : { cacheMaxEntries }),
  })
}

// ---------------------------------------------------------------- the waiting process
if (process.argv[2] === 'waiter') {
  const cfg = JSON.parse(process.argv[3])
  const store = new RedisTokenStore({ url: cfg.redisUrl, keyPrefix: cfg.keyPrefix })
  const access = createAccess(cfg, { store })
  await store.ready()
  process.on('message', async (message) => {
    if (message.type === 'get') {
      process.send({ type: 'started' })
      await access.getAccessToken(message.user)
      process.send({ type: 'seen', at: String(now()) })
    } else if (message.type === 'exit') {
      access.close()
      await store.close()
      process.exit(0)
    }
  })
  process.send({ type: 'ready' })
} else {
  await main()
}

async function commandCount(admin) {
  const info = await admin.info('commandstats')
  let total = 0
  const byCommand = {}
  for (const line of info.split('\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim())
    if (match === null || match[1] === 'info') continue
    byCommand[match[1]] = Number(match[2])
    total += Number(match[2])
  }
  return { total, byCommand }
}

async function main() {
  const started = Date.now()
  const redis = await startRedisServer()
  const admin = new Redis(redis.url)
  const rows = {}
  try {
    const cfg = config(redis.url, `bench:${Date.now()}:`)
    const users = Array.from({ length: USERS }, (_, i) => `user-${i}`)

    // ---------------------------------------------------------- hot path, process-local cache
    const cached = createAccess(cfg)
    for (const user of users)
      await cached.restore(user, { accessToken: `at-${user}`, refreshToken: 'rt', expiresIn: 3600 })
    for (const user of users) await cached.getAccessToken(user)
    let before = await commandCount(admin)
    let t0 = now()
    for (let i = 0; i < CACHED_CALLS; i++) await cached.getAccessToken(users[i % USERS])
    let elapsed = now() - t0
    let after = await commandCount(admin)
    rows['getAccessToken, cached: Redis commands/call'] = (
      (after.total - before.total) /
      CACHED_CALLS
    ).toFixed(3)
    rows['getAccessToken, cached: µs/call'] = ((ms(elapsed) * 1000) / CACHED_CALLS).toFixed(2)

    // ---------------------------------------------------------- hot path, no cache: one read per call
    const uncached = createAccess(cfg, { cacheMaxEntries: 0 })
    await uncached.getAccessToken(users[0])
    const latencies = []
    before = await commandCount(admin)
    t0 = now()
    for (let i = 0; i < UNCACHED_CALLS; i++) {
      const t = now()
      await uncached.getAccessToken(users[i % USERS])
      latencies.push(ms(now() - t))
    }
    elapsed = now() - t0
    after = await commandCount(admin)
    latencies.sort((a, b) => a - b)
    const commands = Object.entries(after.byCommand)
      .map(([name, calls]) => [name, calls - (before.byCommand[name] ?? 0)])
      .filter(([, calls]) => calls > 0)
      .map(([name, calls]) => `${name} ${(calls / UNCACHED_CALLS).toFixed(2)}`)
      .join(', ')
    rows['getAccessToken, no cache: Redis commands/call'] =
      `${((after.total - before.total) / UNCACHED_CALLS).toFixed(3)} (${commands})`
    rows['getAccessToken, no cache: p50 / p99 ms'] =
      `${percentile(latencies, 50).toFixed(3)} / ${percentile(latencies, 99).toFixed(3)}`
    cached.close()
    uncached.close()
    await cached.store.close()
    await uncached.store.close()

    // ---------------------------------------------------------- lock acquisition
    const store = new RedisTokenStore({ url: redis.url, keyPrefix: `${cfg.keyPrefix}locks:` })
    await store.ready()
    const lockTimes = []
    for (let i = 0; i < LOCKS; i++) {
      const t = now()
      const lock = await store.acquireLock(`grant-${i % 100}`, 10_000)
      lockTimes.push(ms(now() - t))
      if (lock === undefined) throw new Error('lock unexpectedly held')
      await lock.release()
    }
    lockTimes.sort((a, b) => a - b)
    rows['acquireLock (uncontended): p50 / p99 ms'] =
      `${percentile(lockTimes, 50).toFixed(3)} / ${percentile(lockTimes, 99).toFixed(3)}`
    await store.close()

    // ---------------------------------------------------------- cross-process wake-up
    const waiter = fork(new URL(import.meta.url).pathname, ['waiter', JSON.stringify(cfg)], {
      stdio: 'inherit',
    })
    const messages = []
    const wanted = []
    waiter.on('message', (message) => {
      const index = wanted.findIndex((w) => w.type === message.type)
      if (index >= 0) wanted.splice(index, 1)[0].resolve(message)
      else messages.push(message)
    })
    const next = (type) =>
      new Promise((resolve) => {
        const index = messages.findIndex((m) => m.type === type)
        if (index >= 0) resolve(messages.splice(index, 1)[0])
        else wanted.push({ type, resolve })
      })
    await next('ready')

    let gate
    let inTokenCall
    let writeSentAt = 0n
    const holderStore = new RedisTokenStore({ url: redis.url, keyPrefix: cfg.keyPrefix })
    const timedStore = {
      get: (k) => holderStore.get(k),
      delete: (k, v) => holderStore.delete(k, v),
      acquireLock: (k, t) => holderStore.acquireLock(k, t),
      subscribe: (l) => holderStore.subscribe(l),
      set: (k, v, o) => {
        if (o.lock !== undefined) writeSentAt = now()
        return holderStore.set(k, v, o)
      },
    }
    const holder = createAccess(cfg, {
      store: timedStore,
      fetch: async () => {
        inTokenCall()
        await gate
        return new Response(
          JSON.stringify({ access_token: `new-${Math.random()}`, token_type: 'Bearer', expires_in: 3600 }),
          { headers: { 'content-type': 'application/json' } },
        )
      },
    })
    await holderStore.ready()
    const wakeUps = []
    for (let i = 0; i < WAKE_UPS; i++) {
      const user = `wake-${i}`
      await holder.restore(user, { accessToken: 'old', refreshToken: 'rt', expiresAt: Date.now() - 1000 })
      let open
      gate = new Promise((resolve) => {
        open = resolve
      })
      const calling = new Promise((resolve) => {
        inTokenCall = resolve
      })
      const refreshing = holder.getAccessToken(user) // takes the lock, then waits at the gate
      await calling
      waiter.send({ type: 'get', user })
      await next('started')
      await new Promise((resolve) => setTimeout(resolve, 15)) // the waiter is now waiting for the lock
      const seen = next('seen')
      open()
      await refreshing
      wakeUps.push(ms(BigInt((await seen).at) - writeSentAt))
    }
    wakeUps.sort((a, b) => a - b)
    rows['wake-up, holder write sent → other process has the token: p50 / p90 / p99 / max ms'] = [50, 90, 99]
      .map((p) => percentile(wakeUps, p).toFixed(3))
      .concat(wakeUps.at(-1).toFixed(3))
      .join(' / ')
    waiter.send({ type: 'exit' })
    holder.close()
    await holderStore.close()

    rows['Node.js'] = process.version
    rows['total bench time (s)'] = ((Date.now() - started) / 1000).toFixed(1)
    console.table(rows)
    if (process.env.BENCH_JSON) console.log(JSON.stringify(rows))
  } finally {
    admin.disconnect()
    await redis.close()
  }
}
