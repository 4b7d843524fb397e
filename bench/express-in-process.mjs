// What requireAccessToken costs inside a real Express 5 request, without sockets, the load
// generator or other processes: the steady measure for changes too small for the HTTP runs' noise.
// Each request is a real IncomingMessage / ServerResponse pair without a socket
// (bench/in-process-request.mjs); 50 in flight at a time.
// Every app runs alone in a process of its own (apps sharing a process share Express's inline
// caches, and each one's requests then slow the others'), pinned to the last core when `taskset`
// is there; PROCESSES fresh processes per app, the apps interleaved. Each process measures
// ROUNDS rounds of 20,000 requests after a warm-up and reports their median; the figure per app is
// the median over its processes.
//
//   pnpm build && node bench/express-in-process.mjs
//   BENCH_APPS=bare,requireAccessToken   only these (the first is the reference)
//   BENCH_APPS=nest-bare,nest-noop,nest-bare-param,nest-floor,nest-ours   the NestJS rows (Express platform)
//   BENCH_PROCESSES=6 BENCH_ROUNDS=5     the defaults
import { execFileSync } from 'node:child_process'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import { requireAccessToken } from '@ongoing/express'
import express from 'express'
import { Keep, requestsWithCookie } from './in-process-request.mjs'
import { createNestApp } from './nest-app.mjs'
import { offlineAccess, offlineAccessOptions, seedGrant } from './offline-access.mjs'
import { median } from './stats.mjs'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const PROCESSES = Number(process.env.BENCH_PROCESSES ?? 6)
const REQUESTS = 20_000
const IN_FLIGHT = 50

const access = offlineAccess()
const request = requestsWithCookie(await seedGrant(access))

function app(...handlers) {
  const a = express()
  a.set('etag', false)
  a.get('/api', ...handlers)
  return a
}
/** NestJS on Express: its Express instance is the request handler. The same secret seals the cookie. */
async function nestApp(kind, options = {}) {
  const { app: nest, access: injected } = await createNestApp(kind, {
    ...options,
    accessOptions: offlineAccessOptions(),
  })
  await nest.init()
  if (injected !== undefined) await seedGrant(injected)
  return nest.getHttpAdapter().getInstance()
}
// Made only in the process that measures them. The Nest apps run with BENCH_APPS=nest-bare,…
const apps = {
  bare: () => app((_req, res) => res.send('ok')),
  'no-op async middleware': () =>
    app(
      async (_req, _res, next) => next(),
      (_req, res) => res.send('ok'),
    ),
  requireAccessToken: () =>
    app(requireAccessToken(access), (req, res) => res.send(req.ongoing.accessToken ? 'ok' : 'no token')),
  'nest-bare': () => nestApp('nest-bare'),
  'nest-noop': () => nestApp('nest-noop'),
  'nest-bare-param': () => nestApp('nest-bare', { param: true }),
  'nest-floor': () => nestApp('nest-floor'),
  'nest-ours': () => nestApp('nest-ours'),
}
const EXPRESS_APPS = ['bare', 'no-op async middleware', 'requireAccessToken']

async function nsPerRequest(handler, n) {
  const start = process.hrtime.bigint()
  for (let i = 0; i < n; i += IN_FLIGHT) {
    const batch = []
    for (let j = 0; j < IN_FLIGHT; j++) batch.push(request(handler))
    await Promise.all(batch)
  }
  return Number(process.hrtime.bigint() - start) / n
}

const names = process.env.BENCH_APPS?.split(',') ?? EXPRESS_APPS
const only = process.env.BENCH_IN_PROCESS_APP
if (only !== undefined) {
  // A child: one app, warmed up, then ROUNDS rounds; prints the median ns per request.
  const handler = await apps[only]()
  const socket = new Keep()
  const status = await request(handler, socket)
  if (status !== 200 || !socket.written.endsWith('\r\n\r\nok'))
    throw new Error(`${only} answered ${status}, not 200 "ok": ${socket.written.split('\r\n')[0]}`)
  await nsPerRequest(handler, REQUESTS)
  const runs = []
  for (let round = 0; round < ROUNDS; round++) runs.push(await nsPerRequest(handler, REQUESTS))
  process.stdout.write(`${median(runs)}\n`)
} else {
  for (const name of names)
    if (!(name in apps)) throw new Error(`no app ${name}: ${Object.keys(apps).join(', ')}`)
  const pin = (() => {
    try {
      execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' })
      return ['taskset', ['-c', String(cpus().length - 1)]]
    } catch {
      return undefined
    }
  })()
  const script = fileURLToPath(import.meta.url)
  const perApp = Object.fromEntries(names.map((name) => [name, []]))
  for (let p = 0; p < PROCESSES; p++)
    for (const name of p % 2 === 0 ? names : [...names].reverse()) {
      const [command, args] = pin ?? [process.execPath, []]
      const argv = pin ? [...args, process.execPath, script] : [script]
      const out = execFileSync(command, argv, {
        env: { ...process.env, BENCH_IN_PROCESS_APP: name },
        encoding: 'utf8',
      })
      perApp[name].push(Number(out.trim()))
    }
  const bare = median(perApp[names[0]])
  console.log(
    `Node.js ${process.version}; ${PROCESSES} processes per app${pin ? ', pinned to one core' : ''}, each ${ROUNDS} rounds × ${REQUESTS} requests, ${IN_FLIGHT} in flight`,
  )
  for (const name of names) {
    const ns = median(perApp[name])
    const each = perApp[name].map((v) => (v / 1000).toFixed(1)).join(' ')
    console.log(
      `${name.padEnd(24)} ${(ns / 1000).toFixed(2).padStart(6)} µs/request (median of processes: ${each}), ${ns >= bare ? '+' : '−'}${(Math.abs(ns - bare) / 1000).toFixed(2)} µs over ${names[0]}, ${(bare / ns).toFixed(3)} × ${names[0]}`,
    )
  }
}
