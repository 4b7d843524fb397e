// `pnpm demo`: the local authorization server, the three Genrefy apps and the mobile app's token
// swap server; the local digi.me stand-in and Genrefy on digi.me; on fixed ports, with their output
// interleaved. Ctrl-C stops them all. Expects the packages (and the NestJS example) built: the root
// `demo` script builds what is stale first (examples/build-stale.mjs). With REDIS_URL the apps
// keep their grants in Redis, with DATABASE_URL in PostgreSQL (each app under a key prefix, or in
// tables, of its own). DEMO_PORT_OFFSET=N moves every port up by N (3001 → 3001+N, 4000 → 4000+N).
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'

if (process.env.REDIS_URL && process.env.DATABASE_URL) {
  console.error(
    'demo: both REDIS_URL and DATABASE_URL are set; pick one (the grants live in Redis or in PostgreSQL)',
  )
  process.exit(1)
}

const offset = Number(process.env.DEMO_PORT_OFFSET ?? 0)
if (!Number.isInteger(offset) || offset < 0 || offset > 60000) {
  console.error('demo: DEMO_PORT_OFFSET must be a whole number from 0 to 60000')
  process.exit(1)
}
const ports = {
  express: 3001 + offset,
  koa: 3002 + offset,
  nestjs: 3003 + offset,
  mobile: 3004 + offset,
  digime: 3005 + offset,
  provider: 4000 + offset,
  standIn: 4001 + offset,
  standInAPI: 4002 + offset,
}
const issuer = `http://127.0.0.1:${ports.provider}`
const appUrl = (port) => `http://localhost:${port}`

const services = [
  {
    name: 'provider',
    port: ports.provider,
    host: '127.0.0.1',
    script: 'provider/server.mjs',
    ready: /^provider: /,
    env: {
      EXPRESS_APP_URL: appUrl(ports.express),
      KOA_APP_URL: appUrl(ports.koa),
      NESTJS_APP_URL: appUrl(ports.nestjs),
    },
  },
  { name: 'express', port: ports.express, script: 'express/app.mjs', ready: /^express example: / },
  { name: 'koa', port: ports.koa, script: 'koa/app.mjs', ready: /^koa example: / },
  { name: 'nestjs', port: ports.nestjs, script: 'nestjs/dist/main.js', ready: /^nestjs example: / },
  { name: 'mobile', port: ports.mobile, script: 'mobile-swap/server.mjs', ready: /^mobile-swap example: / },
  // The stand-in serves its pages on 4001 and the digi.me API on 4002 (API_PORT).
  {
    name: 'digi.me',
    port: ports.standIn,
    host: '127.0.0.1',
    script: 'digime-service/server.mjs',
    ready: /^digime service: /,
    env: { API_PORT: String(ports.standInAPI), DIGIME_APP_URL: appUrl(ports.digime) },
  },
  // Reads the contract file the stand-in writes: starts once the stand-in is ready.
  {
    name: 'digime',
    port: ports.digime,
    script: 'digime/app.mjs',
    ready: /^digime example: /,
    after: 'digi.me',
  },
]

// A port in use: one line that says which, before anything starts.
const wanted = [
  ...services.map(({ name, port, host = 'localhost' }) => ({ name, port, host })),
  { name: 'digi.me', port: ports.standInAPI, host: '127.0.0.1' },
]
for (const { name, port, host } of wanted) {
  const problem = await portProblem(port, host)
  if (problem) {
    console.error(
      `demo: port ${port} is in use: ${name} needs it (${problem}). Stop what listens there, or move every port with DEMO_PORT_OFFSET=<n>.`,
    )
    process.exit(1)
  }
}

/** Why `port` on `host` cannot be listened on (`EADDRINUSE`, …), or undefined when it can. */
function portProblem(port, host) {
  return new Promise((resolve) => {
    const probe = createServer()
    probe.once('error', (error) => resolve(error.code ?? error.message))
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve(undefined)))
  })
}

const colors = { provider: 35, express: 32, koa: 36, nestjs: 31, mobile: 33, 'digi.me': 34, digime: 94 }
const width = Math.max(...services.map((s) => s.name.length))
const tag = (name) => `\x1b[${colors[name]}m${name.padEnd(width)}\x1b[0m │`

let stopping = false
const children = []
const started = new Map()
for (const service of services) {
  const after = started.get(service.after)?.ready ?? Promise.resolve()
  started.set(service.name, { ready: after.then(() => (stopping ? undefined : startService(service).ready)) })
}

function startService({ name, port, script, ready, env = {} }) {
  const path = fileURLToPath(new URL(script, import.meta.url))
  const child = spawn(process.execPath, [path], {
    cwd: fileURLToPath(new URL(script.slice(0, script.indexOf('/') + 1), import.meta.url)),
    env: { ...process.env, ISSUER: issuer, ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  child.ready = new Promise((resolve) => {
    for (const stream of [child.stdout, child.stderr]) {
      let rest = ''
      stream.setEncoding('utf8').on('data', (chunk) => {
        const lines = (rest + chunk).split('\n')
        rest = lines.pop()
        for (const line of lines) {
          if (ready.test(line)) resolve()
          if (!/oidc-provider WARNING/.test(line)) console.log(`${tag(name)} ${line}`)
        }
      })
    }
  })
  child.on('exit', (code, signal) => {
    if (stopping) return
    console.error(`${tag(name)} exited (${signal ?? `code ${code}`}); stopping the demo`)
    stop(1)
  })
  return child
}

function stop(exitCode = 0) {
  if (stopping) return
  stopping = true
  const running = children.filter((child) => child.exitCode === null && child.signalCode === null)
  let left = running.length
  if (left === 0) process.exit(exitCode)
  for (const child of running) {
    child.on('exit', () => --left === 0 && process.exit(exitCode))
    child.kill('SIGTERM')
  }
}
process.on('SIGINT', () => stop(0))
process.on('SIGTERM', () => stop(0))

await Promise.all([...started.values()].map((service) => service.ready))
const ttl = process.env.ACCESS_TOKEN_TTL ?? 30
const every = process.env.JOB_EVERY_SECONDS ?? 10
const grantsKept = process.env.REDIS_URL
  ? 'in Redis, REDIS_URL'
  : process.env.DATABASE_URL
    ? 'in PostgreSQL, DATABASE_URL'
    : 'in memory; set REDIS_URL or DATABASE_URL to keep them in Redis or PostgreSQL'
console.log(`
  Genrefy, three ways, each connected to a local OAuth 2.0 authorization server:

    Express   ${appUrl(ports.express)}
    Koa       ${appUrl(ports.koa)}
    NestJS    ${appUrl(ports.nestjs)}

    Token swap for the mobile app  ${appUrl(ports.mobile)}   POST /swap, POST /refresh: walk it
    with curl as examples/mobile-swap/README.md shows

    Authorization server  ${issuer}   sign in as any name, with any password

  Genrefy on digi.me, connected to a local stand-in for digi.me (not digi.me itself):

    Express   ${appUrl(ports.digime)}

    digi.me stand-in  http://127.0.0.1:${ports.standIn}   consent as any name; its API listens on :${ports.standInAPI}

  Click "Connect", sign in, allow. Access tokens live ${ttl} s: reload to watch "Refreshes so far"
  grow as the background jobs (every ${every} s) read on, or press "Refresh now".
  Each app's /grants page, linked from its home page, shows its grants' health (grants kept
  ${grantsKept}).
  Ctrl-C stops everything.
`)
