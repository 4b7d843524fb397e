// pnpm bench: what ongoing access costs per request, measured side by side in one run.
//
// Every contender is a server in a process of its own (bench/contender.mjs), a fresh one each
// round; this process is the load generator (autocannon) and measures them round-robin, so drift
// hits all alike, and every result is a ratio to its bare framework measured in the same round.
// The test authorization server runs in its own process (its CLI), Redis and PostgreSQL in theirs
// (PostgreSQL: a throwaway cluster from initdb, or DATABASE_URL's; one table per run, made before
// the contenders start; the postmaster's backends count as its own, like Redis, for pinning and for
// telling other work on the machine). Then:
// refresh storms (N concurrent requests per grant at the moment of expiry, against the AS in its
// own process; token calls counted by the AS) with the memory store and Redis in 1 process, and
// Redis and PostgreSQL shared by 2; their floors, in 1 and 2 processes: the storm's shape in Express
// with nothing of ours (per cookie, one upstream wait, a timer as long as the memory storm's median
// AS round trip, shared by the requests that arrive during it), and in 2 processes also with one
// round trip to Redis or PostgreSQL before that wait (as a refresh asks the store for its lock),
// fired the same way, to read each storm's excess against ("excess over the floor"; not a target).
// Then the RedisTokenStore and
// PostgresTokenStore figures of bench/redis-store.mjs and bench/postgres-store.mjs (cross-process
// wake-up included: its p99 is a target for both), the core hot path of bench/core-hot-path.mjs, and
// what a DPoP proof adds to an API call through access.fetch (bench/dpop.mjs).
// Prints a table and writes bench/results.json. Never logs token material.
//
//   pnpm bench                       (builds first; or: node bench/run.mjs after pnpm build)
//   BENCH_ROUNDS=5 BENCH_WARMUP=0.6 BENCH_SETTLE=1 BENCH_CYCLES=3 BENCH_WINDOW=0.3 BENCH_CONNECTIONS=50
//                                    the defaults: a round starts fresh processes; a group's members are
//                                    each warmed up BENCH_WARMUP s, then loaded for BENCH_SETTLE unmeasured
//                                    windows and BENCH_CYCLES measured ones, BENCH_WINDOW s each, in turn
//   BENCH_ONLY=express-bare,express-ours   only these contenders (and no storm or extras)
//   BENCH_ONLY=storm | extras        only the refresh storms (and their floors), or only the three scripts
//   BENCH_CPU_PROF=express-ours      run these contenders (or: storm, storm-floor) under --cpu-prof (then
//                                    node bench/profile-summary.mjs bench/profiles/<file>)
//   BENCH_STORM_DETAIL=1             keep every storm's timeline (store calls and GC pauses too) in results.json
//   BENCH_MAX_FOREIGN_CORES=0.1 BENCH_MAX_SLOWDOWN=1.15   when a run counts as disturbed
//   BENCH_PIN=0                      no taskset pinning (default: pinned when there are 2+ cores)
import { execFileSync, fork, spawn } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import { driveConsent, startPostgresServer, startRedisServer } from '@ongoing/testing'
import autocannon from 'autocannon'
import { BENCH_SECRET } from './offline-access.mjs'
import { median, percentile, ratioTo } from './stats.mjs'

const started = Date.now()
const here = (path) => fileURLToPath(new URL(path, import.meta.url))
const env = (name, fallback) => (process.env[name] === undefined ? fallback : Number(process.env[name]))
const ROUNDS = env('BENCH_ROUNDS', 5)
const CYCLES = env('BENCH_CYCLES', 3)
const WINDOW = env('BENCH_WINDOW', 0.3)
const SETTLE = env('BENCH_SETTLE', 1)
const WARMUP = env('BENCH_WARMUP', 0.6)
const CONNECTIONS = env('BENCH_CONNECTIONS', 50)
const ONLY = process.env.BENCH_ONLY?.split(',').filter(Boolean)
const RUN_STORMS = ONLY === undefined || ONLY.includes('storm')
const RUN_EXTRAS = ONLY === undefined || ONLY.includes('extras')
const PROFILE = new Set(process.env.BENCH_CPU_PROF?.split(',').filter(Boolean))
const MAX_FOREIGN_CORES = env('BENCH_MAX_FOREIGN_CORES', 0.1)
const MAX_SLOWDOWN = env('BENCH_MAX_SLOWDOWN', 1.15)
const RETRY_BUDGET_SECONDS = 170 // no more re-measuring after this, so the run stays under 5 minutes
const STORM_GRANTS = 4
const STORM_EXPIRIES = 3
const STORM_REQUESTS = 50 // per grant per expiry, spread over the processes
const STORM_STAGGER_MS = 400 // between the grants' expiries
const ACCESS_TTL = 2 // seconds: the AS's access token lifetime, so grants expire during the storm
const FLOOR_UPSTREAM_MS = 5 // the floor's upstream wait when the memory storm gave no AS round trip
const WAKE_UP_P99_MS = 10 // target: a process waiting on another's refresh has the token within this

// id, group (its bare is `${group}-bare`, its no-op `${group}-noop`, unless given), kind, options,
// target ratio to the bare; floor: a contender of the same shape with nothing in it, to read our
// own part against
const CONTENDERS = [
  { id: 'express-bare', group: 'express', kind: 'express-bare', label: 'Express 5, bare (ceiling)' },
  {
    id: 'express-bare-again',
    group: 'express',
    kind: 'express-bare',
    label: 'Express 5, bare again (A/A control: the noise)',
  },
  { id: 'express-noop', group: 'express', kind: 'express-noop', label: 'Express + no-op async middleware' },
  {
    id: 'express-ours',
    group: 'express',
    kind: 'express-ours',
    store: 'memory',
    label: 'Express + requireAccessToken (memory)',
    target: 0.97,
  },
  {
    id: 'express-ours-redis',
    group: 'express',
    kind: 'express-ours',
    store: 'redis',
    label: 'Express + requireAccessToken (Redis)',
    target: 0.93,
  },
  {
    id: 'express-ours-postgres',
    group: 'express',
    kind: 'express-ours',
    store: 'postgres',
    label: 'Express + requireAccessToken (PostgreSQL)',
    target: 0.93,
  },
  {
    id: 'express-eoc',
    // A group of its own, its ratios taken against the Express group's members in the same round
    // and cycle: measured among them, it slowed the load generator in the window after its own (its
    // large answers), which starved whichever contender came next.
    group: 'express-eoc',
    bare: 'express-bare',
    noop: 'express-noop',
    kind: 'express-eoc',
    label: 'Express + express-openid-connect',
  },
  {
    id: 'express-als-bare',
    group: 'express-als',
    kind: 'express-bare',
    als: true,
    label: 'Express 5 + ALS, bare',
  },
  {
    id: 'express-als-noop',
    group: 'express-als',
    kind: 'express-noop',
    als: true,
    label: 'Express + ALS + no-op async middleware',
  },
  {
    id: 'express-als-ours',
    group: 'express-als',
    kind: 'express-ours',
    store: 'memory',
    als: true,
    label: 'Express + ALS + requireAccessToken (memory)',
    targetVsNoop: 0.97, // the issue: with ALS, a cached token costs no promise, so near the no-op floor
  },
  { id: 'koa-bare', group: 'koa', kind: 'koa-bare', label: 'Koa 3, bare' },
  { id: 'koa-noop', group: 'koa', kind: 'koa-noop', label: 'Koa + no-op async middleware' },
  {
    id: 'koa-ours',
    group: 'koa',
    kind: 'koa-ours',
    store: 'memory',
    label: 'Koa + requireAccessToken (memory)',
    target: 0.95,
  },
  { id: 'nest-bare', group: 'nest', kind: 'nest-bare', label: 'NestJS 11 (Express), bare' },
  { id: 'nest-noop', group: 'nest', kind: 'nest-noop', label: 'NestJS + no-op async guard' },
  {
    id: 'nest-bare-param',
    group: 'nest',
    kind: 'nest-bare',
    param: true,
    label: 'NestJS bare + a custom param decorator (no guard)',
  },
  {
    id: 'nest-floor',
    group: 'nest',
    kind: 'nest-floor',
    label: 'NestJS + no-op guard (sync) + no-op param decorator (the floor for ours)',
  },
  {
    id: 'nest-ours',
    group: 'nest',
    kind: 'nest-ours',
    floor: 'nest-floor',
    store: 'memory',
    label: 'NestJS + AccessTokenGuard (memory)',
    target: 0.95,
  },
].filter((c) => ONLY === undefined || ONLY.includes(c.id))

// Pinning (BENCH_PIN=1, the default on 2 or more cores with `taskset`): during the throughput runs
// each measured server has the last core to itself, and the load generator, the AS, Redis and
// PostgreSQL share the others, so the scheduler never runs the load generator on the server's core.
const SERVER_CPU = cpus().length - 1
const PIN = (process.env.BENCH_PIN ?? (SERVER_CPU >= 1 && hasTaskset() ? '1' : '0')) === '1'
function hasTaskset() {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}
function pinTo(cpuList, pid) {
  execFileSync('taskset', ['-a', '-p', '-c', String(cpuList), String(pid)], { stdio: 'ignore' })
}
/** Pins each of `pids` that still runs (a PostgreSQL backend may end meanwhile). */
function pinEach(cpuList, pids) {
  for (const pid of pids)
    try {
      pinTo(cpuList, pid)
    } catch (error) {
      if (existsSync(`/proc/${pid}`)) throw error
    }
}

const servicePids = [] // the AS, Redis and PostgreSQL: ours, idle during the load
/**
 * The services' processes now: their pids and their children's (PostgreSQL's backends, one per
 * connection, and its background workers), whose work is ours like Redis's, not other work on the
 * machine. A backend forked later inherits the postmaster's pinning.
 */
function serviceProcesses() {
  return servicePids.flatMap((pid) => [pid, ...childrenOf(pid)])
}
/** The process ids whose parent is `pid`, from /proc. */
function childrenOf(pid) {
  const children = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      // pid (comm) state ppid …: comm may hold spaces and parentheses.
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) children.push(Number(entry))
    } catch {
      // Ended meanwhile.
    }
  }
  return children
}
const children = new Set()
const stopChildren = () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM')
}
process.on('exit', stopChildren)
for (const signal of ['SIGINT', 'SIGTERM'])
  process.once(signal, () => {
    stopChildren()
    process.exit(130)
  })

// ------------------------------------------------------------------ helpers
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const log = (line) => process.stderr.write(`${line}\n`)

function messagesOf(child) {
  const queue = []
  const wanted = []
  child.on('message', (message) => {
    const index = wanted.findIndex((w) => w.type === message.type || message.type === 'failed')
    if (index >= 0) wanted.splice(index, 1)[0].resolve(message)
    else queue.push(message)
  })
  return (type, timeoutMs = 30_000) =>
    new Promise((resolve, reject) => {
      const done = (message) => {
        clearTimeout(timer)
        if (message.type === 'failed') reject(new Error(message.message))
        else resolve(message)
      }
      const timer = setTimeout(
        () => reject(new Error(`no '${type}' from a child within ${timeoutMs} ms`)),
        timeoutMs,
      )
      const index = queue.findIndex((m) => m.type === type || m.type === 'failed')
      if (index >= 0) done(queue.splice(index, 1)[0])
      else wanted.push({ type, resolve: done })
    })
}

async function startAuthorizationServer() {
  const cli = here('./node_modules/@ongoing/testing/dist/cli.js')
  const child = spawn(process.execPath, [cli, '--access-ttl', String(ACCESS_TTL), '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.add(child)
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
  servicePids.push(child.pid)
  return {
    issuer,
    client: clients.confidential,
    stats: async () => (await fetch(new URL('/__ongoing/stats', issuer))).json(),
    close: () => child.kill('SIGTERM'),
  }
}

async function startContender(config, { profile = false, pin = false } = {}) {
  const execArgv = profile
    ? ['--cpu-prof', '--cpu-prof-interval', '100', `--cpu-prof-dir=${here('./profiles')}`]
    : []
  const child = fork(here('./contender.mjs'), [JSON.stringify(config)], {
    execArgv,
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  })
  children.add(child)
  let stderr = ''
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-2000)
  })
  const next = messagesOf(child)
  const ready = await next('ready').catch((error) => {
    throw new Error(`contender ${config.kind} did not start: ${error.message} ${stderr}`)
  })
  if (pin) pinTo(SERVER_CPU, child.pid)
  return {
    port: ready.port,
    cookie: ready.cookie,
    child,
    next,
    send: (message) => child.send(message),
    stop: async () => {
      if (child.exitCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.send({ type: 'stop' })
      await Promise.race([exited, sleep(5_000)])
      if (child.exitCode === null) child.kill('SIGKILL')
    },
  }
}

/** Cookies set by a response, as a `Cookie` header (name=value; …), merged into `jar`. */
function setCookies(response, jar = new Map()) {
  for (const setCookie of response.headers.getSetCookie()) {
    const pair = setCookie.split(';')[0]
    const eq = pair.indexOf('=')
    const value = pair.slice(eq + 1)
    if (value === '') jar.delete(pair.slice(0, eq))
    else jar.set(pair.slice(0, eq), value)
  }
  return jar
}
const cookieHeader = (jar) => [...jar].map(([name, value]) => `${name}=${value}`).join('; ')

/** A real login through the app's own login route, the AS's pages driven headlessly. */
async function login(base, loginPath, callbackPath, account) {
  const start = await fetch(`${base}${loginPath}`, { redirect: 'manual' })
  if (start.status !== 302) throw new Error(`${loginPath} answered ${start.status}`)
  const jar = setCookies(start)
  await start.body?.cancel()
  const callback = await driveConsent(start.headers.get('location'), {
    redirectUriPrefix: `${base}${callbackPath}`,
    login: account,
  })
  const done = await fetch(callback, { redirect: 'manual', headers: { cookie: cookieHeader(jar) } })
  await done.body?.cancel()
  if (done.status !== 302 && done.status !== 303) throw new Error(`${callbackPath} answered ${done.status}`)
  setCookies(done, jar)
  return jar
}

// ------------------------------------------------------------------ load
const BUCKET_US = 10 // latency histogram resolution (autocannon's own is whole milliseconds)
const BUCKETS = 200_000 // up to 2 s

function percentileOfHistogram(histogram, count, p) {
  const rank = Math.ceil((p / 100) * count)
  let seen = 0
  for (let i = 0; i < histogram.length; i++) {
    seen += histogram[i]
    if (seen >= rank) return ((i + 0.5) * BUCKET_US) / 1000
  }
  return Number.NaN
}

// CPU time (clock ticks) the whole machine spent busy, and what `pids` spent: the difference is
// other work on the machine, which the runner measures to retry disturbed runs. (Interrupt time
// counts as busy: loopback traffic is processed in softirq, billed to the process that sent it.)
function machineTicks() {
  const [, user, nice, system, , , irq, softirq] = readFileSync('/proc/stat', 'utf8')
    .split('\n')[0]
    .trim()
    .split(/\s+/)
    .map(Number)
  return user + nice + system + irq + softirq
}
function processTicks(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(')').at(-1).trim().split(' ')
    return Number(fields[11]) + Number(fields[12]) // utime, stime
  } catch {
    return 0
  }
}
const TICKS_PER_SECOND = 100
/** Clock ticks the machine spent busy outside `pids`, so far. */
const foreignTicks = (pids) => machineTicks() - pids.reduce((n, pid) => n + processTicks(pid), 0)
/**
 * Starts counting other work on the machine; the function it returns gives the cores used outside
 * `pids` since, over at least `minSeconds`.
 */
function foreignMeter(pids, minSeconds = 0.001) {
  const ticks = foreignTicks(pids)
  const since = Date.now()
  return () =>
    (foreignTicks(pids) - ticks) / TICKS_PER_SECOND / Math.max(minSeconds, (Date.now() - since) / 1000)
}

/** Waits (at most `maxMs`) until other processes leave the machine nearly idle. */
async function quiet(pids, maxMs = 3_000) {
  const deadline = Date.now() + maxMs
  for (;;) {
    const foreignCores = foreignMeter(pids)
    await sleep(100)
    const foreign = foreignCores()
    if ((foreign <= MAX_FOREIGN_CORES && probeSlowdown() <= MAX_SLOWDOWN) || Date.now() > deadline) return
  }
}

// A fixed piece of CPU work, timed: how much slower than the fastest seen it runs now. It catches
// what /proc/stat does not show in a virtual machine: the host's other tenants taking the CPU.
let fastestProbe = Number.POSITIVE_INFINITY
function probeSlowdown() {
  let best = Number.POSITIVE_INFINITY
  for (let attempt = 0; attempt < 3; attempt++) {
    const t0 = process.hrtime.bigint()
    let x = 0
    for (let i = 0; i < 300_000; i++) x = (x * 31 + i) % 1_000_003
    if (x < 0) throw new Error('unreachable')
    best = Math.min(best, Number(process.hrtime.bigint() - t0))
  }
  fastestProbe = Math.min(fastestProbe, best)
  return best / fastestProbe
}

async function contenderCpuMicros(target) {
  target.send({ type: 'cpu' })
  return (await target.next('cpu')).micros
}

async function load(target, seconds) {
  const cpuBefore = await contenderCpuMicros(target)
  const runnerBefore = process.cpuUsage()
  const run = await new Promise((resolve, reject) => {
    const histogram = new Uint32Array(BUCKETS)
    let ok = 0 // answered within the window: autocannon stops sending at its end, answers trail
    let answered = 0
    let counting = true
    const timer = setTimeout(() => {
      counting = false
    }, seconds * 1000)
    const instance = autocannon(
      {
        url: `http://127.0.0.1:${target.port}/api`,
        connections: CONNECTIONS,
        duration: seconds,
        sampleInt: 50, // autocannon finishes on a sample tick: at most 50 ms after the window
        headers: { cookie: target.cookie },
        expectBody: 'ok',
      },
      (error, result) => {
        clearTimeout(timer)
        if (error) return reject(error)
        if (result.errors > 0 || result.non2xx > 0 || result.mismatches > 0 || ok === 0)
          return reject(
            new Error(
              `${target.id}: ${result.errors} errors, ${result.non2xx} non-2xx, ${result.mismatches} wrong bodies`,
            ),
          )
        const runner = process.cpuUsage(runnerBefore)
        resolve({
          loadGeneratorCores: (runner.user + runner.system) / 1e6 / seconds,
          ok,
          answered,
          rps: ok / seconds,
          p50: percentileOfHistogram(histogram, ok, 50),
          p99: percentileOfHistogram(histogram, ok, 99),
        })
      },
    )
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode !== 200) return
      answered++
      if (!counting) return
      ok++
      histogram[Math.min(BUCKETS - 1, Math.floor((responseTime * 1000) / BUCKET_US))]++
    })
  })
  // The server's own CPU time per answered request: far less sensitive to other work on the
  // machine than requests per second.
  run.cpuMicrosPerRequest = ((await contenderCpuMicros(target)) - cpuBefore) / run.answered
  return run
}

// ------------------------------------------------------------------ throughput
/**
 * Where a contender's shared store is, in `services` ({ redis, postgres, table }): Redis under
 * `keyPrefix`; PostgreSQL in the run's table (made by main before any contender starts).
 */
const storeOptions = (services, keyPrefix) => ({
  redisUrl: services.redis?.url,
  keyPrefix,
  databaseUrl: services.postgres?.url,
  table: services.table,
})

async function throughput(as, services) {
  const startRound = (round) =>
    Promise.all(
      CONTENDERS.map(async (c) => {
        const contender = await startContender(
          {
            kind: c.kind,
            als: c.als === true,
            param: c.param === true,
            store: c.store,
            ...storeOptions(services, `bench:${started}:${c.id}:${round}:`),
            issuer: as.issuer,
            client: as.client,
            secret: BENCH_SECRET,
          },
          { profile: PROFILE.has(c.id), pin: PIN },
        )
        return { ...c, ...contender }
      }),
    )
  // Requests carry the cookie a signed-in browser would: ours (sealed with the same secret in every
  // process) for every contender but express-openid-connect, whose session cookie comes from a real
  // login through the AS (once: it is sealed with the same secret in every process too).
  let oursCookie
  let eocCookie
  const check = async (t) => {
    if (t.kind === 'express-eoc') {
      eocCookie ??= cookieHeader(await login(`http://127.0.0.1:${t.port}`, '/login', '/callback', 'eoc-user'))
      if (!/appSession/.test(eocCookie)) throw new Error('express-openid-connect set no session cookie')
      t.cookie = eocCookie
    }
    t.cookie ??= oursCookie
    const response = await fetch(`http://127.0.0.1:${t.port}/api`, { headers: { cookie: t.cookie } })
    const body = await response.text()
    if (response.status !== 200 || body !== 'ok')
      throw new Error(`${t.id} answered ${response.status} ${body}`)
  }

  // Every round starts a fresh process per contender (one process holds a bias of its own, JIT
  // and memory layout), then measures the groups in turn. Within a group, each member is warmed up,
  // then the members are measured in CYCLES cycles of one short window each, in an order rotated by
  // the cycle: a contender and its bare are measured a fraction of a second apart, so the machine's
  // drift (other tenants take a few per cent of the CPU from one second to the next) hits both
  // alike, and a round gives CYCLES ratios. A group's processes stop once it is measured. A cycle
  // during which other processes on the machine used more than MAX_FOREIGN_CORES, or the CPU probe
  // ran slow, is measured again (up to twice, within the time budget).
  const groupIds = [...new Set(CONTENDERS.map((c) => c.group))]
  const rotate = (xs, r) => xs.map((_, i) => xs[(i + r) % xs.length])
  const cycles = [] // { round, [contender id]: run } per cycle, the groups of a round side by side
  let retries = 0
  let targets = []
  const asBefore = await as.stats()
  for (let r = 0; r < ROUNDS; r++) {
    targets = await startRound(r)
    oursCookie ??= targets.find((t) => t.cookie !== undefined)?.cookie ?? 'ongoing.uid=none'
    for (const t of targets) await check(t)
    const round = Array.from({ length: CYCLES }, () => ({ round: r }))
    for (const group of rotate(groupIds, r)) {
      const members = rotate(
        targets.filter((t) => t.group === group),
        r,
      )
      const pids = [process.pid, ...members.map((t) => t.child.pid), ...serviceProcesses()]
      await quiet(pids)
      for (const t of members) await load(t, WARMUP)
      for (let settle = 0; settle < SETTLE; settle++) for (const t of members) await load(t, WINDOW)
      // The cycles follow one another without a pause: a window that follows a pause of the load
      // reads faster (by 1.5 to 1.8 % on average, in every group, here), so no measured window may.
      for (let c = 0; c < CYCLES; c++)
        for (let attempt = 0; ; attempt++) {
          const order = rotate(members, c + r)
          // Other work on the machine is counted over the whole cycle: a window alone is a few clock
          // ticks long, too few to tell.
          const foreignSince = foreignMeter(pids)
          const runs = []
          for (const t of order) {
            const run = await load(t, WINDOW)
            run.slowdown = probeSlowdown()
            runs.push([t.id, run])
          }
          const foreignCores = foreignSince()
          for (const [, run] of runs) run.foreignCores = foreignCores
          const slowest = Math.max(...runs.map(([, run]) => run.slowdown))
          const budgetLeft = Date.now() - started < RETRY_BUDGET_SECONDS * 1000
          const disturbed = foreignCores > MAX_FOREIGN_CORES || slowest > MAX_SLOWDOWN
          if (!disturbed || attempt === 2 || !budgetLeft) {
            Object.assign(round[c], Object.fromEntries(runs))
            break
          }
          retries++
          log(
            `  ${group} cycle ${c + 1}: disturbed (other processes ${foreignCores.toFixed(2)} cores, CPU ${slowest.toFixed(2)}× slower); measuring the cycle again`,
          )
          // Wait for the machine to calm down, then load once unmeasured, so that the cycle measured
          // again does not start right after a pause either.
          await quiet(pids)
          await load(order.at(-1), WINDOW)
        }
      await Promise.all(members.map((t) => t.stop()))
    }
    cycles.push(...round)
    log(`round ${r + 1}/${ROUNDS} done (${((Date.now() - started) / 1000).toFixed(0)} s)`)
  }
  const asAfter = await as.stats()

  // A contender's ratio to its bare (or no-op) in one cycle: the two were measured moments apart.
  const ratioIn = (cycle, id, to, by) => ratioTo(cycle[id], cycle[to], by)
  const cycleRatios = (id, to, by) => cycles.map((cycle) => ratioIn(cycle, id, to, by))
  const roundRatios = (id, to) =>
    Array.from({ length: ROUNDS }, (_, r) =>
      median(cycles.filter((cycle) => cycle.round === r).map((cycle) => ratioIn(cycle, id, to))),
    )
  const rows = targets.map((t) => {
    const bare = t.bare ?? `${t.group}-bare`
    const noop = t.noop ?? `${t.group}-noop`
    const byRound = roundRatios(t.id, bare)
    return {
      id: t.id,
      group: t.group,
      bare,
      noop,
      contender: t.label,
      rps: Math.round(median(cycles.map((cycle) => cycle[t.id].rps))),
      ratio: median(cycleRatios(t.id, bare)),
      ratioMin: Math.min(...byRound),
      ratioMax: Math.max(...byRound),
      vsNoop: median(cycleRatios(t.id, noop)),
      ...(t.floor === undefined
        ? {}
        : {
            floor: t.floor,
            vsFloor: median(cycleRatios(t.id, t.floor)),
            vsFloorByCpu: median(cycleRatios(t.id, t.floor, 'cpu')),
          }),
      cpuMicrosPerRequest: median(cycles.map((cycle) => cycle[t.id].cpuMicrosPerRequest)),
      cpuRatio: median(cycleRatios(t.id, bare, 'cpu')),
      p50: median(cycles.map((cycle) => cycle[t.id].p50)),
      p99: median(cycles.map((cycle) => cycle[t.id].p99)),
      target: t.target,
      targetVsNoop: t.targetVsNoop,
      roundRatios: byRound.map((ratio) => Number(ratio.toFixed(4))),
      perCycle: cycles.map((cycle) => ({
        round: cycle.round,
        rps: Math.round(cycle[t.id].rps),
        p50: cycle[t.id].p50,
        p99: cycle[t.id].p99,
        cpuMicrosPerRequest: Number(cycle[t.id].cpuMicrosPerRequest.toFixed(2)),
        foreignCores: Number(cycle[t.id].foreignCores.toFixed(3)),
        slowdown: Number(cycle[t.id].slowdown.toFixed(3)),
        loadGeneratorCores: Number(cycle[t.id].loadGeneratorCores.toFixed(3)),
        serverCores: Number(((cycle[t.id].cpuMicrosPerRequest * cycle[t.id].rps) / 1e6).toFixed(3)),
      })),
    }
  })
  const eoc = rows.find((row) => row.id === 'express-eoc')
  for (const row of rows) {
    if (row.target !== undefined) row.met = row.ratio >= row.target
    if (row.targetVsNoop !== undefined) row.met = row.vsNoop >= row.targetVsNoop
    if (eoc !== undefined && row.group === 'express' && row.id.startsWith('express-ours'))
      row.vsExpressOpenIDConnect = median(cycleRatios(row.id, 'express-eoc'))
  }
  return {
    rows,
    // express-openid-connect's login is an authorization_code call; a refresh would be ours.
    asRefreshCallsDuringLoad: asAfter.tokenCalls.refresh_token - asBefore.tokenCalls.refresh_token,
    remeasuredForInterference: retries,
  }
}

// ------------------------------------------------------------------ refresh storm
/** Fires `requests` at once over already-open keep-alive sockets; resolves when all answered. */
function fire(agent, port, cookie, requests) {
  return Promise.all(
    Array.from(
      { length: requests },
      () =>
        new Promise((resolve, reject) => {
          const req = request(
            { agent, host: '127.0.0.1', port, path: '/api', headers: { cookie } },
            (res) => {
              let body = ''
              res.on('data', (chunk) => {
                body += chunk
              })
              res.on('end', () =>
                res.statusCode === 200 && body === 'ok'
                  ? resolve()
                  : reject(new Error(`storm request answered ${res.statusCode}`)),
              )
            },
          )
          req.on('error', reject)
          req.end()
        }),
    ),
  )
}

/** A storm grant's cookie: one real consent through `server`'s consent routes and the AS's pages. */
async function consent(server, g) {
  const jar = await login(`http://127.0.0.1:${server.port}`, '/auth/consent', '/auth/callback', `storm-${g}`)
  return `ongoing.uid=${jar.get('ongoing.uid')}`
}

/**
 * A refresh storm: `processes` storm contenders sharing `store`, STORM_REQUESTS concurrent requests
 * per grant at each of its expiries, spread over the processes. With `upstreamMs`, its floor
 * instead: storm-floor contenders (the same shape with nothing of ours; per cookie one upstream
 * wait of `upstreamMs` that the requests arriving during it share), fired the same way at the
 * times a grant would expire, with a cookie of its own per grant and no AS.
 */
async function storm(as, services, { name, processes, store, upstreamMs, roundTrip }) {
  const floor = upstreamMs !== undefined
  const config = floor
    ? { kind: 'storm-floor', upstreamMs, roundTrip, ...storeOptions(services, '') }
    : {
        kind: 'storm',
        store,
        ...storeOptions(services, `bench:${started}:storm-${store}:`),
        issuer: as.issuer,
        client: as.client,
        secret: BENCH_SECRET,
      }
  const profile = PROFILE.has(floor ? 'storm-floor' : 'storm')
  const servers = await Promise.all(
    Array.from({ length: processes }, () => startContender(config, { profile })),
  )
  const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY })
  const perProcess = Math.ceil(STORM_REQUESTS / processes)
  // One real consent per grant, through the first server's consent routes and the AS's pages,
  // STORM_STAGGER_MS apart: each grant's storm then happens alone, at that grant's own expiry. (The
  // floor's grants are cookies of their own, "expiring" ACCESS_TTL after they were made and then
  // ACCESS_TTL after each storm, as a refreshed token would.)
  const grants = []
  for (let g = 0; g < STORM_GRANTS; g++) {
    const began = Date.now()
    const cookie = floor ? `bench.floor=grant-${g}` : await consent(servers[0], g)
    // Open the sockets and load every process's cache while the token is fresh.
    await Promise.all(servers.map((s) => fire(agent, s.port, cookie, perProcess)))
    grants.push({ g, cookie, due: began + ACCESS_TTL * 1000 })
    await sleep(Math.max(0, STORM_STAGGER_MS - (Date.now() - began)))
  }
  const report = async () => {
    const reports = []
    for (const s of servers) {
      s.send({ type: 'storm-report' })
      reports.push(await s.next('storm-report'))
    }
    return reports
  }
  const expiryOf = async (grant) => {
    if (floor) return grant.due
    for (const s of servers) {
      s.send({ type: 'expiry', cookie: grant.cookie })
      const { expiresAt } = await s.next('expiry')
      if (expiresAt !== undefined) return expiresAt
    }
    throw new Error('storm: the grant is cached in no process')
  }
  // Token calls are counted by the AS, for real storms only.
  const refreshCalls = async () => (floor ? 0 : (await as.stats()).tokenCalls.refresh_token)
  await report() // forget the warm-up requests
  // A storm during which other work took the machine (see load) counts for the token calls but
  // not for the latencies; another expiry of that grant is stormed instead (at most 4 more).
  const pids = [process.pid, ...servers.map((s) => s.child.pid), ...serviceProcesses()]
  const storms = []
  const counts = new Map(grants.map((grant) => [grant, 0]))
  while (storms.length < STORM_GRANTS * STORM_EXPIRIES + 4) {
    const pending = grants.filter((grant) => counts.get(grant) < STORM_EXPIRIES)
    if (pending.length === 0) break
    const expiries = await Promise.all(pending.map(expiryOf))
    const i = expiries.indexOf(Math.min(...expiries))
    const grant = pending[i]
    const before = await refreshCalls()
    await sleep(Math.max(0, expiries[i] - Date.now() + 2))
    const slowdownBefore = probeSlowdown()
    const foreignCores = foreignMeter(pids, 0.05)
    const firedAt = Date.now()
    await Promise.all(servers.map((s) => fire(agent, s.port, grant.cookie, perProcess)))
    const foreign = foreignCores()
    if (floor) grant.due = firedAt + ACCESS_TTL * 1000
    const disturbed = foreign > 0.5 || Math.max(slowdownBefore, probeSlowdown()) > MAX_SLOWDOWN
    const after = await refreshCalls()
    const reports = await report()
    const calls = reports.flatMap((r) => r.tokenCalls)
    const roundTrip = calls.length === 1 ? calls[0].end - calls[0].start : Number.NaN
    const waits = reports.flatMap((r) => r.waits)
    storms.push({
      grant: grant.g,
      lateMs: firedAt - expiries[i],
      disturbed,
      ...(floor
        ? { upstreamWaits: calls.map((call) => call.end - call.start) }
        : { tokenCalls: after - before, asRoundTrip: roundTrip }),
      waits: waits.map((w) => w.t1 - w.t0),
      // A floor's waiter, over the upstream wait it waited for (one per process and cookie).
      excess: waits.map((w) => w.t1 - w.t0 - (w.upstream ?? roundTrip)),
      fromCache: reports.reduce((n, r) => n + r.servedFromCache, 0),
      ...(process.env.BENCH_STORM_DETAIL ? { detail: reports } : {}),
    })
    if (!disturbed) counts.set(grant, counts.get(grant) + 1)
    else log(`  storm of grant ${grant.g} disturbed by other work on the machine; another expiry replaces it`)
  }
  agent.destroy()
  await Promise.all(servers.map((s) => s.stop()))
  const measured = storms.filter((e) => !e.disturbed)
  const waits = measured.flatMap((e) => e.waits)
  const excess = measured.flatMap((e) => e.excess)
  const roundTrips = measured.flatMap((e) => (floor ? e.upstreamWaits : [e.asRoundTrip]))
  const stats = floor ? undefined : await as.stats()
  const result = {
    name,
    processes,
    ...(floor ? { floor: true, upstreamMs, ...(roundTrip ? { roundTrip } : {}) } : { store }),
    grants: STORM_GRANTS,
    expiries: STORM_EXPIRIES,
    requestsPerStorm: perProcess * processes,
    ...(floor ? {} : { tokenCallsPerStorm: storms.map((e) => e.tokenCalls) }),
    stormsFired: storms.length,
    disturbedStorms: storms.length - measured.length,
    latestFireMs: Math.max(...storms.map((e) => e.lateMs)),
    waiters: waits.length,
    servedFromCache: storms.reduce((n, e) => n + e.fromCache, 0),
    waitP50: percentile(waits, 50),
    waitP99: percentile(waits, 99),
    // The floor's: its upstream waits (the timers, as measured), one per process and storm.
    [floor ? 'upstreamP50' : 'asRoundTripP50']: percentile(roundTrips, 50),
    [floor ? 'upstreamMax' : 'asRoundTripMax']: Math.max(...roundTrips),
    excessP50: percentile(excess, 50),
    excessP99: percentile(excess, 99),
    excessMax: Math.max(...excess),
    ...(floor ? {} : { refreshTokenReuse: stats.refreshTokenReuse, grantsRevoked: stats.grantsRevoked }),
    ...(process.env.BENCH_STORM_DETAIL ? { detail: storms } : {}),
  }
  if (floor) return result
  result.exactlyOnePerGrant = result.tokenCallsPerStorm.every((n) => n === 1)
  result.met = result.exactlyOnePerGrant && result.excessP99 <= 5
  return result
}

/**
 * The floor to read storm `s` against: the one with as many processes and a round trip to the same
 * store (a shared store's refresh asks it for the lock first), else the plain one, if any.
 */
const floorOf = (storms, s) =>
  storms.find((f) => f.floor && f.processes === s.processes && f.roundTrip === s.store) ??
  storms.find((f) => f.floor && f.processes === s.processes && f.roundTrip === undefined)

// ------------------------------------------------------------------ the other benchmarks
function runScript(script, args, extraEnv) {
  const out = execFileSync(process.execPath, [...args, here(script)], {
    env: { ...process.env, BENCH_JSON: '1', ...extraEnv },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  return JSON.parse(out.trim().split('\n').at(-1))
}

// ------------------------------------------------------------------ targets (issue 7)
function targetsOf(results) {
  const targets = []
  for (const r of results.throughput?.rows ?? [])
    if (r.target !== undefined)
      targets.push({
        target: `${r.contender} ≥ ${r.target} × its bare (req/s)`,
        measured: Number(r.ratio.toFixed(3)),
        met: r.met,
      })
    else if (r.targetVsNoop !== undefined)
      targets.push({
        target: `${r.contender} ≥ ${r.targetVsNoop} × the no-op floor (req/s)`,
        measured: Number(r.vsNoop.toFixed(3)),
        met: r.met,
      })
  // Ours on Express, whatever its store (memory, Redis, PostgreSQL), when express-openid-connect ran.
  for (const r of results.throughput?.rows ?? [])
    if (r.vsExpressOpenIDConnect !== undefined)
      targets.push({
        target: `${r.contender} ahead of express-openid-connect`,
        measured: Number(r.vsExpressOpenIDConnect.toFixed(2)),
        met: r.vsExpressOpenIDConnect > 1,
      })
  for (const s of results.storms ?? []) {
    if (s.floor) continue // for reading the storms against, not a target
    targets.push({
      target: `refresh storm (${s.name}): exactly one token call per grant per expiry`,
      measured: s.tokenCallsPerStorm.join(' '),
      met: s.exactlyOnePerGrant,
    })
    const floor = floorOf(results.storms, s)
    targets.push({
      target: `refresh storm (${s.name}): waiters' p99 ≤ the AS round trip + 5 ms`,
      measured: `+${fmt(s.excessP99)} ms${floor === undefined ? '' : ` (${floor.name}: +${fmt(floor.excessP99)} ms)`}`,
      met: s.excessP99 <= 5,
    })
  }
  for (const [store, figures] of [
    ['Redis', results.redisStore?.figures],
    ['PostgreSQL', results.postgresStore?.figures],
  ])
    if (figures !== undefined)
      targets.push({
        target: `cross-process wake-up p99 < ${WAKE_UP_P99_MS} ms (${store}: holder's write sent → the other process has the token)`,
        measured: `${figures.wakeUpP99Ms.toFixed(3)} ms`,
        met: figures.wakeUpP99Ms < WAKE_UP_P99_MS,
      })
  return targets
}

// ------------------------------------------------------------------ report
const fmt = (n, digits = 2) => (n === undefined || Number.isNaN(n) ? '' : n.toFixed(digits))

function printReport(results) {
  const lines = []
  lines.push(
    `| contender | req/s | × its bare (min–max) | × no-op | p50 ms | p99 ms | server CPU µs/req | × its bare by CPU | target | met |`,
    `|---|---:|---:|---:|---:|---:|---:|---:|---|---|`,
  )
  for (const row of results.throughput?.rows ?? []) {
    const target =
      row.target !== undefined
        ? `≥ ${row.target.toFixed(2)}`
        : row.targetVsNoop !== undefined
          ? `≥ ${row.targetVsNoop.toFixed(2)} × no-op`
          : ''
    const vs =
      (row.vsExpressOpenIDConnect === undefined
        ? ''
        : `; ${fmt(row.vsExpressOpenIDConnect)}× express-openid-connect`) +
      (row.vsFloor === undefined
        ? ''
        : `; ${fmt(row.vsFloor, 3)} × its floor (by CPU ${fmt(row.vsFloorByCpu, 3)})`)
    lines.push(
      `| ${row.contender} | ${row.rps} | ${fmt(row.ratio, 3)} (${fmt(row.ratioMin, 3)}–${fmt(row.ratioMax, 3)}) | ${fmt(row.vsNoop, 3)} | ${fmt(row.p50)} | ${fmt(row.p99)} | ${fmt(row.cpuMicrosPerRequest, 1)} | ${fmt(row.cpuRatio, 3)} | ${target}${vs} | ${row.met === undefined ? '' : row.met ? 'yes' : 'NO'} |`,
    )
  }
  if (results.throughput)
    lines.push(
      '',
      `Refresh calls at the AS during the load: ${results.throughput.asRefreshCallsDuringLoad} (expected 0: the hot path never calls the AS)`,
    )
  for (const s of results.storms ?? []) {
    const waiters = `  waiters: ${s.waiters} (${s.servedFromCache} answered from cache), from ${s.stormsFired - s.disturbedStorms} storms (${s.disturbedStorms} disturbed, left out); wait p50 ${fmt(s.waitP50)} ms, p99 ${fmt(s.waitP99)} ms`
    if (s.floor) {
      lines.push(
        '',
        `Storm floor, ${s.name}: the storm's shape with nothing of ours (per cookie, one upstream wait of ${s.upstreamMs} ms, a timer, shared by the requests that arrive during it); ${s.grants} cookies × ${s.expiries} firings, ${s.requestsPerStorm} concurrent requests at each`,
        waiters,
        `  upstream wait (the timer, as each process measured it): p50 ${fmt(s.upstreamP50)} ms, max ${fmt(s.upstreamMax)} ms`,
        `  wait − its upstream wait: p50 ${fmt(s.excessP50)} ms, p99 ${fmt(s.excessP99)} ms, max ${fmt(s.excessMax)} ms`,
      )
      continue
    }
    const floor = floorOf(results.storms, s)
    lines.push(
      '',
      `Refresh storm, ${s.name}: ${s.grants} grants × ${s.expiries} expiries, ${s.requestsPerStorm} concurrent requests at each expiry`,
      `  token calls per storm: ${s.tokenCallsPerStorm.join(' ')} (exactly one per grant per expiry: ${s.exactlyOnePerGrant ? 'yes' : 'NO'}); refresh-token reuse ${s.refreshTokenReuse}, grants revoked ${s.grantsRevoked}`,
      waiters,
      `  AS round trip of the refresh (token call, as the refreshing process sees it): p50 ${fmt(s.asRoundTripP50)} ms, max ${fmt(s.asRoundTripMax)} ms`,
      `  wait − its refresh's AS round trip: p50 ${fmt(s.excessP50)} ms, p99 ${fmt(s.excessP99)} ms, max ${fmt(s.excessMax)} ms (target p99 ≤ 5 ms: ${s.excessP99 <= 5 ? 'yes' : 'NO'})`,
      ...(floor === undefined
        ? []
        : [
            `  excess over the floor: p99 ${fmt(s.excessP99 - floor.excessP99)} ms (${floor.name}: p99 ${fmt(floor.excessP99)} ms)`,
          ]),
    )
  }
  for (const [title, store] of [
    ['RedisTokenStore (bench/redis-store.mjs)', results.redisStore],
    ['PostgresTokenStore (bench/postgres-store.mjs)', results.postgresStore],
  ]) {
    if (store === undefined) continue
    lines.push('', `${title}:`)
    for (const [k, v] of Object.entries(store)) if (k !== 'figures') lines.push(`  ${k}: ${v}`)
  }
  if (results.dpop) {
    lines.push('', 'DPoP per API call (bench/dpop.mjs):')
    for (const [k, v] of Object.entries(results.dpop)) lines.push(`  ${k}: ${v}`)
  }
  if (results.coreHotPath) {
    lines.push('', 'Core hot path (bench/core-hot-path.mjs):')
    for (const [k, v] of Object.entries(results.coreHotPath)) lines.push(`  ${k}: ${v}`)
  }
  lines.push('', 'Targets:')
  for (const t of results.targets) lines.push(`  ${t.met ? 'met   ' : 'MISSED'}  ${t.target}: ${t.measured}`)
  lines.push(
    '',
    `${results.machine.cpus} × ${results.machine.cpuModel}, Node.js ${results.machine.node}; ${results.settings.rounds} rounds × ${results.settings.cyclesPerRound} cycles × ${results.settings.windowSeconds} s, ${results.settings.connections} connections; total ${results.totalSeconds} s`,
  )
  console.log(lines.join('\n'))
}

// ------------------------------------------------------------------ main
/**
 * PostgreSQL (a cluster of its own, or DATABASE_URL's) with the run's table made, once, before any
 * contender opens it. With DATABASE_URL the run's tables stay, as the run's keys stay in REDIS_URL's Redis.
 */
async function startPostgres(table) {
  const postgres = await startPostgresServer()
  if (postgres.pid !== undefined) servicePids.push(postgres.pid)
  try {
    const { PostgresTokenStore } = await import('@ongoing/postgres')
    const store = new PostgresTokenStore({ connectionString: postgres.url, table })
    await store.migrate().finally(() => store.close())
  } catch (error) {
    await postgres.close()
    throw error
  }
  return postgres
}

async function main() {
  const cpuModel =
    /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model
  if (PROFILE.size > 0) mkdirSync(here('./profiles'), { recursive: true })
  const as = await startAuthorizationServer()
  const redis = await startRedisServer()
  if (redis.pid !== undefined) servicePids.push(redis.pid)
  const results = {
    date: new Date().toISOString(),
    command: 'pnpm bench',
    machine: { cpus: cpus().length, cpuModel, node: process.version },
    settings: {
      rounds: ROUNDS,
      cyclesPerRound: CYCLES,
      windowSeconds: WINDOW,
      warmupSeconds: WARMUP,
      connections: CONNECTIONS,
      pinned: PIN,
    },
  }
  // PostgreSQL only when something uses it: its contender, its storm, its store script.
  const table = `bench_${started}_grants`
  let postgres
  try {
    if (CONTENDERS.some((c) => c.store === 'postgres') || RUN_STORMS || RUN_EXTRAS)
      postgres = await startPostgres(table)
    const services = { redis, postgres, table }
    log(
      `authorization server, Redis${postgres === undefined ? '' : ' and PostgreSQL'} up; ${CONTENDERS.length} contenders`,
    )
    if (CONTENDERS.length > 0) {
      if (PIN) pinEach(SERVER_CPU === 1 ? '0' : `0-${SERVER_CPU - 1}`, [process.pid, ...serviceProcesses()])
      results.throughput = await throughput(as, services)
      if (PIN) pinEach(`0-${SERVER_CPU}`, [process.pid, ...serviceProcesses()])
    }
    if (RUN_STORMS) {
      log('refresh storms')
      results.storms = [
        await storm(as, services, { name: 'memory store, 1 process', processes: 1, store: 'memory' }),
        // A shared store in one process: what a store adds to a storm, apart from a second process.
        await storm(as, services, { name: 'Redis store, 1 process', processes: 1, store: 'redis' }),
        await storm(as, services, { name: 'Redis store, 2 processes', processes: 2, store: 'redis' }),
        await storm(as, services, { name: 'PostgreSQL store, 2 processes', processes: 2, store: 'postgres' }),
      ]
      // The floors' upstream wait: the memory storm's AS round trip (median, whole ms).
      const roundTrip = results.storms[0].asRoundTripP50
      const upstreamMs = Number.isFinite(roundTrip) ? Math.max(1, Math.round(roundTrip)) : FLOOR_UPSTREAM_MS
      log(`storm floors (upstream wait ${upstreamMs} ms)`)
      for (const processes of [1, 2])
        results.storms.push(
          await storm(as, services, {
            name: `floor: Express, ${processes} process${processes === 1 ? '' : 'es'}`,
            processes,
            upstreamMs,
          }),
        )
      // The shape of a coordinated refresh, still with nothing of ours: one round trip to the
      // shared store before the upstream wait.
      for (const [roundTrip, label] of [
        ['redis', 'Redis'],
        ['postgres', 'PostgreSQL'],
      ])
        results.storms.push(
          await storm(as, services, {
            name: `floor + one ${label} round trip: Express, 2 processes`,
            processes: 2,
            upstreamMs,
            roundTrip,
          }),
        )
    }
    if (RUN_EXTRAS) {
      log('RedisTokenStore, PostgresTokenStore and core hot path')
      results.redisStore = runScript('./redis-store.mjs', [], { REDIS_URL: redis.url })
      results.postgresStore = runScript('./postgres-store.mjs', [], { DATABASE_URL: postgres.url })
      results.coreHotPath = runScript('./core-hot-path.mjs', ['--expose-gc'])
      results.dpop = runScript('./dpop.mjs', [])
    }
  } finally {
    as.close()
    await redis.close()
    await postgres?.close()
  }
  results.targets = targetsOf(results)
  results.totalSeconds = Math.round((Date.now() - started) / 1000)
  // Only a full run replaces results.json (the figures BENCHMARKS.md quotes).
  const file = ONLY === undefined && PROFILE.size === 0 ? './results.json' : './results-partial.json'
  writeFileSync(here(file), `${JSON.stringify(results, null, 2)}\n`)
  printReport(results)
}

main().catch((error) => {
  console.error(error)
  stopChildren()
  process.exit(1)
})
