// `pnpm demo`: the local authorization server, the three Genrefy apps and the mobile app's token
// swap server; the local digi.me stand-in and Genrefy on digi.me; on fixed ports, with their output
// interleaved. Ctrl-C stops them all. Expects the packages (and the NestJS example) built: the root
// `demo` script does that first. With REDIS_URL the apps keep their grants in Redis, with
// DATABASE_URL in PostgreSQL (each app under a key prefix, or in tables, of its own).
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

if (process.env.REDIS_URL && process.env.DATABASE_URL) {
  console.error(
    'demo: both REDIS_URL and DATABASE_URL are set; pick one (the grants live in Redis or in PostgreSQL)',
  )
  process.exit(1)
}

const services = [
  { name: 'provider', port: 4000, script: 'provider/server.mjs', ready: /^provider: / },
  { name: 'express', port: 3001, script: 'express/app.mjs', ready: /^express example: / },
  { name: 'koa', port: 3002, script: 'koa/app.mjs', ready: /^koa example: / },
  { name: 'nestjs', port: 3003, script: 'nestjs/dist/main.js', ready: /^nestjs example: / },
  { name: 'mobile', port: 3004, script: 'mobile-swap/server.mjs', ready: /^mobile-swap example: / },
  // The stand-in serves its pages on 4001 and the digi.me API on 4002 (API_PORT).
  { name: 'digi.me', port: 4001, script: 'digime-service/server.mjs', ready: /^digime service: / },
  // Reads the contract file the stand-in writes: starts once the stand-in is ready.
  { name: 'digime', port: 3005, script: 'digime/app.mjs', ready: /^digime example: /, after: 'digi.me' },
]
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

function startService({ name, port, script, ready }) {
  const path = fileURLToPath(new URL(script, import.meta.url))
  const child = spawn(process.execPath, [path], {
    cwd: fileURLToPath(new URL(script.slice(0, script.indexOf('/') + 1), import.meta.url)),
    env: { ...process.env, PORT: String(port) },
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

    Express   http://localhost:3001
    Koa       http://localhost:3002
    NestJS    http://localhost:3003

    Token swap for the mobile app  http://localhost:3004   POST /swap, POST /refresh: walk it
    with curl as examples/mobile-swap/README.md shows

    Authorization server  http://127.0.0.1:4000   log in as any name, with any password

  Genrefy on digi.me, connected to a local stand-in for digi.me (not digi.me itself):

    Express   http://localhost:3005

    digi.me stand-in  http://127.0.0.1:4001   consent as any name; its API listens on :4002

  Click "Connect", sign in, approve. Access tokens live ${ttl} s, so watch "Refreshes so far"
  grow as you reload, press "Refresh now", or let the background jobs (every ${every} s) read on.
  Each app's /grants page, linked from its home page, shows its grants' health (grants kept
  ${grantsKept}).
  Ctrl-C stops everything.
`)
