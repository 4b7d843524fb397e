// What bench/redis-store.mjs and bench/postgres-store.mjs share: a shared token store under
// OngoingAccess, measured the same way whatever the store. The getAccessToken hot path (with and
// without the process-local cache: the store's commands per call and time per call), lock
// acquisition, and how long a process waiting on another process's refresh takes to see the new
// token. No assertions on time: it prints a table (BENCH_JSON=1 also prints one JSON line: the
// table's rows, and the same figures as numbers under `figures`).
//
// A store script gives `storeBench` its own URL (the waiting process is that script, forked) and
// what differs between stores:
//   name, commands        'Redis', 'Redis commands' (the rows' wording)
//   start()               a server: { url, close() }
//   namespace(run)        where one run's records go (a key prefix, a table), from a run id
//   prepare(url, ns)      optional: before anything uses the namespace (create a table)
//   connect(url)          for the measuring process: { open(ns), count(), close() }: open(ns) gives
//                         a store whose commands count() counts ({ total, byCommand } so far)
//   open(url, ns)         a store of the waiting process, on its own connection
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { OngoingAccess } from '@ongoing/core'
import { offlineAccessOptions } from './offline-access.mjs'

const CACHED_CALLS = 200_000
const UNCACHED_CALLS = 20_000
const LOCKS = 5_000
const WAKE_UPS = 300
const USERS = 1_000

const now = () => process.hrtime.bigint() // CLOCK_MONOTONIC: one clock for every process on the machine
const ms = (ns) => Number(ns) / 1e6
const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
const fixed = (x, digits = 3) => Number(x.toFixed(digits))

/** The offline access's options (without its fetch, which a forked process could not be sent). */
function config(url, namespace) {
  const { fetch: _throwing, ...options } = offlineAccessOptions()
  return { ...options, url, namespace }
}

function createAccess(cfg, { store, fetch, cacheMaxEntries }) {
  const { url: _url, namespace: _namespace, ...options } = cfg
  return new OngoingAccess({
    ...options,
    store,
    fetch:
      fetch ??
      (() => {
        throw new Error('no token call expected')
      }),
    ...(cacheMaxEntries === undefined ? {} : { cacheMaxEntries }),
  })
}

/** Runs the script at `entry` (its import.meta.url) for `adapter`'s store: measures, or waits. */
export async function storeBench(entry, adapter) {
  if (process.argv[2] === 'waiter') await waiter(adapter, JSON.parse(process.argv[3]))
  else await main(fileURLToPath(entry), adapter)
}

// ---------------------------------------------------------------- the waiting process
async function waiter(adapter, cfg) {
  const store = adapter.open(cfg.url, cfg.namespace)
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
}

/** Commands between two counts (`{ total, byCommand }`), per call: `1.000 (get 1.00)`. */
function perCall(before, after, calls) {
  const commands = Object.entries(after.byCommand)
    .map(([name, n]) => [name, n - (before.byCommand[name] ?? 0)])
    .filter(([, n]) => n > 0)
    .map(([name, n]) => `${name} ${(n / calls).toFixed(2)}`)
    .join(', ')
  const total = (after.total - before.total) / calls
  return { total, text: commands === '' ? total.toFixed(3) : `${total.toFixed(3)} (${commands})` }
}

async function main(script, adapter) {
  const started = Date.now()
  const server = await adapter.start()
  const cfg = config(server.url, adapter.namespace(Date.now()))
  await adapter.prepare?.(server.url, cfg.namespace)
  const connection = await adapter.connect(server.url)
  const rows = {}
  const figures = {}
  try {
    const users = Array.from({ length: USERS }, (_, i) => `user-${i}`)

    // ---------------------------------------------------------- hot path, process-local cache
    const cached = createAccess(cfg, { store: connection.open(cfg.namespace) })
    for (const user of users)
      await cached.restore(user, { accessToken: `at-${user}`, refreshToken: 'rt', expiresIn: 3600 })
    for (const user of users) await cached.getAccessToken(user)
    let before = await connection.count()
    let t0 = now()
    for (let i = 0; i < CACHED_CALLS; i++) await cached.getAccessToken(users[i % USERS])
    let elapsed = now() - t0
    let commands = perCall(before, await connection.count(), CACHED_CALLS)
    figures.cachedCommandsPerCall = fixed(commands.total)
    figures.cachedMicrosPerCall = fixed((ms(elapsed) * 1000) / CACHED_CALLS, 2)
    rows[`getAccessToken, cached: ${adapter.commands}/call`] = commands.total.toFixed(3)
    rows['getAccessToken, cached: µs/call'] = figures.cachedMicrosPerCall.toFixed(2)

    // ---------------------------------------------------------- hot path, no cache: one read per call
    const uncached = createAccess(cfg, { store: connection.open(cfg.namespace), cacheMaxEntries: 0 })
    await uncached.getAccessToken(users[0])
    const latencies = []
    before = await connection.count()
    t0 = now()
    for (let i = 0; i < UNCACHED_CALLS; i++) {
      const t = now()
      await uncached.getAccessToken(users[i % USERS])
      latencies.push(ms(now() - t))
    }
    elapsed = now() - t0
    commands = perCall(before, await connection.count(), UNCACHED_CALLS)
    latencies.sort((a, b) => a - b)
    figures.uncachedCommandsPerCall = fixed(commands.total)
    figures.uncachedP50Ms = fixed(percentile(latencies, 50))
    figures.uncachedP99Ms = fixed(percentile(latencies, 99))
    rows[`getAccessToken, no cache: ${adapter.commands}/call`] = commands.text
    rows['getAccessToken, no cache: p50 / p99 ms'] =
      `${figures.uncachedP50Ms.toFixed(3)} / ${figures.uncachedP99Ms.toFixed(3)}`
    cached.close()
    uncached.close()
    await cached.store.close()
    await uncached.store.close()

    // ---------------------------------------------------------- lock acquisition
    const store = connection.open(cfg.namespace)
    await store.ready()
    const lockTimes = []
    for (let i = 0; i < LOCKS; i++) {
      const t = now()
      const lock = await store.acquireLock(`lock-${i % 100}`, 10_000)
      lockTimes.push(ms(now() - t))
      if (lock === undefined) throw new Error('lock unexpectedly held')
      await lock.release()
    }
    lockTimes.sort((a, b) => a - b)
    figures.lockP50Ms = fixed(percentile(lockTimes, 50))
    figures.lockP99Ms = fixed(percentile(lockTimes, 99))
    rows['acquireLock (uncontended): p50 / p99 ms'] =
      `${figures.lockP50Ms.toFixed(3)} / ${figures.lockP99Ms.toFixed(3)}`
    await store.close()

    // ---------------------------------------------------------- cross-process wake-up
    const wakeUps = await crossProcessWakeUps(script, cfg, connection.open(cfg.namespace))
    for (const p of [50, 90, 99]) figures[`wakeUpP${p}Ms`] = fixed(percentile(wakeUps, p))
    figures.wakeUpMaxMs = fixed(wakeUps.at(-1))
    rows['wake-up, holder write sent → other process has the token: p50 / p90 / p99 / max ms'] = [
      figures.wakeUpP50Ms,
      figures.wakeUpP90Ms,
      figures.wakeUpP99Ms,
      figures.wakeUpMaxMs,
    ]
      .map((x) => x.toFixed(3))
      .join(' / ')

    rows['Node.js'] = process.version
    rows['total bench time (s)'] = ((Date.now() - started) / 1000).toFixed(1)
    console.table(rows)
    if (process.env.BENCH_JSON) console.log(JSON.stringify({ ...rows, figures }))
  } finally {
    await connection.close()
    await server.close()
  }
}

/**
 * WAKE_UPS times: this process (the holder, on `holderStore`) takes a grant's lock and waits in its
 * token call while a forked process asks for the same grant; then the holder saves the new token.
 * Gives the time from the holder's write being sent to the other process having the token (ms,
 * sorted).
 */
async function crossProcessWakeUps(script, cfg, holderStore) {
  const waiterProcess = fork(script, ['waiter', JSON.stringify(cfg)], { stdio: 'inherit' })
  const messages = []
  const wanted = []
  waiterProcess.on('message', (message) => {
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
    waiterProcess.send({ type: 'get', user })
    await next('started')
    await new Promise((resolve) => setTimeout(resolve, 15)) // the waiter is now waiting for the lock
    const seen = next('seen')
    open()
    await refreshing
    wakeUps.push(ms(BigInt((await seen).at) - writeSentAt))
  }
  wakeUps.sort((a, b) => a - b)
  waiterProcess.send({ type: 'exit' })
  holder.close()
  await holderStore.close()
  return wakeUps
}
