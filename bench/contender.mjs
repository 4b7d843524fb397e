// One contender of bench/run.mjs: a server in a process of its own, forked by the runner with a
// JSON config as its argument. It answers GET /api with "ok" once the route has (or, for the bare
// and no-op contenders, would have) read the user's access token, tells the runner its port on
// IPC, and stops on { type: 'stop' }. Never logs token material.
//
//   kinds: express-bare | express-noop | express-ours | express-eoc | koa-bare | koa-noop | koa-ours
//          nest-bare | nest-noop | nest-ours | storm (Express + ours with the consent routes)
//          storm-floor (the storm's shape with nothing of ours: per cookie, one upstream wait shared
//          by the requests that arrive during it)
//   config: { kind, als?, param?, store?: 'memory' | 'redis' | 'postgres', redisUrl?, keyPrefix?,
//             databaseUrl?, table?, issuer, client, secret, upstreamMs? (storm-floor, default 5),
//             roundTrip?: 'redis' | 'postgres' (storm-floor: one store round trip before the wait) }
import { AsyncLocalStorage } from 'node:async_hooks'
import { createServer } from 'node:http'
import { PerformanceObserver, performance } from 'node:perf_hooks'
import { OngoingAccess } from '@ongoing/core'
import { OngoingRoutes } from '@ongoing/core/adapter'
import { createNestApp } from './nest-app.mjs'
import { seedGrant } from './offline-access.mjs'

const config = JSON.parse(process.argv[2])
const BODY = 'ok'
const now = () => Number(process.hrtime.bigint()) / 1e6 // CLOCK_MONOTONIC, comparable across processes

let closeStore = async () => {}
let access

/** The shared store of `config.store` (each package loaded only by the contenders that use it). */
async function openStore() {
  if (config.store === 'redis') {
    const { RedisTokenStore } = await import('@ongoing/redis')
    return new RedisTokenStore({ url: config.redisUrl, keyPrefix: config.keyPrefix })
  }
  if (config.store === 'postgres') {
    const { PostgresTokenStore } = await import('@ongoing/postgres')
    // The runner created the table. A pool that keeps 4 connections, opened by ready(): a storm's
    // first store calls do not wait for new ones.
    return new PostgresTokenStore({
      connectionString: config.databaseUrl,
      table: config.table,
      poolConfig: { min: 4 },
    })
  }
  return undefined
}

async function createAccess(port, { storm = false } = {}) {
  const shared = await openStore()
  if (shared !== undefined) closeStore = () => shared.close()
  const store = shared !== undefined && storm && process.env.BENCH_STORM_DETAIL ? timedStore(shared) : shared
  access = new OngoingAccess({
    issuer: config.issuer,
    client: config.client,
    redirectUri: `http://127.0.0.1:${port}/auth/callback`,
    scope: 'offline_access api:read',
    secret: config.secret,
    ...(store === undefined ? {} : { store }),
    ...(storm ? { refreshSkewSeconds: 0, fetch: timedFetch } : {}),
  })
  // After the access subscribed: ready() also waits for the store's change subscription.
  await shared?.ready()
  return access
}

// ------------------------------------------------------------------ refresh storm instrumentation
const tokenCalls = [] // { start, end } of each token endpoint round trip, body read included
// { t0, t1, userKey } of each request whose token was not ready when it arrived; for the floor, also
// `upstream`: how long the upstream wait it waited for took
const waits = []
const refreshes = [] // { userKey, at }: this process refreshed (and saved) the grant of userKey
let servedFromCache = 0

const storeCalls = [] // BENCH_STORM_DETAIL: { op, start, end } of each store call (and GC pause)
function timedStore(inner) {
  const timed = (op, promise) => {
    const start = now()
    return promise.finally(() => storeCalls.push({ op, start, end: now() }))
  }
  return {
    get: (k) => timed('get', inner.get(k)),
    set: (k, v, o) => timed('set', inner.set(k, v, o)),
    delete: (k, v) => timed('delete', inner.delete(k, v)),
    claimOnce: (k, t) => timed('claimOnce', inner.claimOnce(k, t)),
    subscribe: (listener) =>
      inner.subscribe((key) => {
        storeCalls.push({ op: 'notified', start: now(), end: now() })
        listener(key)
      }),
    acquireLock: (k, t) =>
      timed('acquireLock', inner.acquireLock(k, t)).then((lock) =>
        lock === undefined ? lock : { ...lock, release: () => timed('release', lock.release()) },
      ),
  }
}

// BENCH_STORM_DETAIL: the garbage collector's pauses go into the same timeline, as op 'gc'.
function observeGarbageCollection() {
  const offset = now() - performance.now()
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const start = entry.startTime + offset
      storeCalls.push({ op: 'gc', start, end: start + entry.duration })
    }
  }).observe({ entryTypes: ['gc'] })
}

/** First in a storm request's chain: its arrival, and whether the rest of the chain ran in this tick. */
function stamp(req, _res, next) {
  req.benchT0 = now()
  req.benchSync = true
  next()
  req.benchSync = false
}

/** Last in a storm request's chain: counts it as answered from cache or records its wait; answers. */
function answerStorm(req, res, userKey, token) {
  if (req.benchSync) servedFromCache++
  else {
    const wait = { t0: req.benchT0, t1: now(), userKey }
    if (req.benchUpstream !== undefined) wait.upstream = req.benchUpstream
    waits.push(wait)
  }
  res.send(token ? BODY : 'no token')
}

/** Answers the runner's `storm-report`: what happened since the last one. */
function reportStorms() {
  process.on('message', (message) => {
    if (message.type !== 'storm-report') return
    process.send({
      type: 'storm-report',
      tokenCalls: tokenCalls.splice(0),
      waits: waits.splice(0),
      refreshes: refreshes.splice(0),
      storeCalls: storeCalls.splice(0),
      servedFromCache,
    })
    servedFromCache = 0
  })
}

async function timedFetch(input, init) {
  const isToken = new URL(input instanceof Request ? input.url : input).pathname.endsWith('/token')
  const start = now()
  const response = await globalThis.fetch(input, init)
  if (!isToken) return response
  const body = await response.arrayBuffer()
  tokenCalls.push({ start, end: now() })
  return new Response(body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  })
}

// ------------------------------------------------------------------ Express
async function express(port) {
  const { default: createApp } = await import('express')
  const app = createApp()
  app.set('etag', false)
  app.set('x-powered-by', false)
  if (config.als) {
    const als = new AsyncLocalStorage()
    let id = 0
    app.use(function requestContext(_req, _res, next) {
      als.run({ requestId: ++id }, next)
    })
  }
  const answer = (_req, res) => res.send(BODY)
  const answerWithToken = (req, res) => res.send(req.ongoing.accessToken ? BODY : 'no token')
  let cookie
  switch (config.kind) {
    case 'express-bare':
      app.get('/api', answer)
      break
    case 'express-noop':
      app.get(
        '/api',
        async function noop(_req, _res, next) {
          next()
        },
        answer,
      )
      break
    case 'express-ours': {
      const { requireAccessToken } = await import('@ongoing/express')
      const access = await createAccess(port)
      cookie = await seedGrant(access)
      app.get('/api', requireAccessToken(access), answerWithToken)
      break
    }
    case 'express-eoc': {
      const { auth, requiresAuth } = (await import('express-openid-connect')).default
      app.use(
        auth({
          issuerBaseURL: config.issuer,
          baseURL: `http://127.0.0.1:${port}`,
          clientID: config.client.id,
          clientSecret: config.client.secret,
          secret: config.secret,
          authRequired: false,
          idpLogout: false,
          authorizationParams: {
            response_type: 'code',
            response_mode: 'query',
            scope: 'openid offline_access',
          },
        }),
      )
      app.get('/api', requiresAuth(), (req, res) =>
        res.send(req.oidc.accessToken?.access_token ? BODY : 'no token'),
      )
      break
    }
    case 'storm': {
      const { ongoingRouter, requireAccessToken } = await import('@ongoing/express')
      const access = await createAccess(port, { storm: true })
      // Discovery done, as in a process that has served a consent (a fresh process pays it, and
      // the first connection to the AS, on its first refresh).
      await access.metadata()
      const routes = new OngoingRoutes(access)
      access.on('refresh', ({ userKey }) => refreshes.push({ userKey, at: now() }))
      if (process.env.BENCH_STORM_DETAIL) observeGarbageCollection()
      app.use('/auth', ongoingRouter(access))
      app.get('/api', stamp, requireAccessToken(access), (req, res) =>
        answerStorm(req, res, req.ongoing.userKey, req.ongoing.accessToken),
      )
      reportStorms()
      process.on('message', (message) => {
        if (message.type !== 'expiry') return
        // When the cached token of the grant behind this cookie expires (ms epoch), if cached.
        const userKey = routes.userKeyFromCookie({ method: 'GET', url: '/', header: () => message.cookie })
        const expiresAt = userKey === undefined ? undefined : access.getCachedAccessToken(userKey)?.expiresAt
        process.send({ type: 'expiry', expiresAt })
      })
      break
    }
    case 'storm-floor': {
      // The storm's shape with nothing of ours in it: a router at /auth, then /api's chain. Per
      // cookie, the first request starts one upstream wait (a timer of upstreamMs); every request
      // for that cookie that arrives while it runs waits for it, and all are answered when it ends;
      // the next request after that starts a new one. Its start and end are recorded as the
      // storm's token calls are, each waiter's wait as in 'storm'.
      const upstreamMs = config.upstreamMs ?? 5
      // With roundTrip ('redis' | 'postgres'): one round trip to that store (PING, SELECT 1) before
      // the upstream wait, as a refresh asks a shared store for its lock before its token call.
      const roundTrip = await storeRoundTrip()
      const flights = new Map() // cookie → the running upstream wait: a promise of its duration
      if (process.env.BENCH_STORM_DETAIL) observeGarbageCollection()
      app.use('/auth', createApp.Router())
      app.get(
        '/api',
        stamp,
        function upstream(req, _res, next) {
          const cookie = req.headers.cookie ?? ''
          let flight = flights.get(cookie)
          if (flight === undefined) {
            const wait = () => {
              const start = now()
              return new Promise((resolve) =>
                setTimeout(() => {
                  const end = now()
                  tokenCalls.push({ start, end })
                  flights.delete(cookie)
                  resolve(end - start)
                }, upstreamMs),
              )
            }
            flight = roundTrip === undefined ? wait() : roundTrip().then(wait)
            flights.set(cookie, flight)
          }
          flight.then((duration) => {
            req.benchUpstream = duration
            next()
          })
        },
        (req, res) => answerStorm(req, res, req.headers.cookie, true),
      )
      reportStorms()
      break
    }
    default:
      throw new Error(`unknown kind ${config.kind}`)
  }
  return { handler: app, cookie }
}

/** One round trip to the store of `config.roundTrip` (the storm floor's), or `undefined`. */
async function storeRoundTrip() {
  if (config.roundTrip === 'redis') {
    const { Redis } = await import('ioredis')
    const client = new Redis(config.redisUrl)
    await client.ping()
    closeStore = async () => client.disconnect()
    return () => client.ping()
  }
  if (config.roundTrip === 'postgres') {
    const { default: pg } = await import('pg')
    const pool = new pg.Pool({ connectionString: config.databaseUrl, min: 4, max: 10 })
    await Promise.all(Array.from({ length: 4 }, () => pool.query('select 1')))
    closeStore = () => pool.end()
    return () => pool.query('select 1')
  }
  return undefined
}

// ------------------------------------------------------------------ Koa
async function koa(port) {
  const { default: Koa } = await import('koa')
  const app = new Koa()
  let cookie
  const route = (middleware) => (ctx, next) => (ctx.path === '/api' ? middleware(ctx, next) : next())
  switch (config.kind) {
    case 'koa-bare':
      app.use(
        route((ctx) => {
          ctx.body = BODY
        }),
      )
      break
    case 'koa-noop':
      app.use(
        route(async function noop(_ctx, next) {
          await next()
        }),
      )
      app.use((ctx) => {
        ctx.body = BODY
      })
      break
    case 'koa-ours': {
      const { requireAccessToken } = await import('@ongoing/koa')
      const access = await createAccess(port)
      cookie = await seedGrant(access)
      app.use(route(requireAccessToken(access)))
      app.use((ctx) => {
        ctx.body = ctx.state.ongoing.accessToken ? BODY : 'no token'
      })
      break
    }
    default:
      throw new Error(`unknown kind ${config.kind}`)
  }
  return { handler: app.callback(), cookie }
}

// ------------------------------------------------------------------ NestJS (Express platform)
async function nest() {
  const { app, access: injected } = await createNestApp(config.kind, {
    param: config.param === true,
    accessOptions: {
      issuer: config.issuer,
      client: config.client,
      redirectUri: 'http://127.0.0.1/auth/callback',
      scope: 'offline_access api:read',
      secret: config.secret,
    },
  })
  let cookie
  if (injected !== undefined) {
    access = injected
    cookie = await seedGrant(access)
  }
  await app.listen(0, '127.0.0.1')
  return { app, port: app.getHttpServer().address().port, cookie }
}

// ------------------------------------------------------------------ main
async function main() {
  let stop
  let port
  let cookie
  if (config.kind.startsWith('nest-')) {
    const started = await nest()
    port = started.port
    cookie = started.cookie
    stop = () => started.app.close()
  } else {
    const server = createServer({ keepAliveTimeout: 30_000 })
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
    port = server.address().port
    const started = config.kind.startsWith('koa-') ? await koa(port) : await express(port)
    cookie = started.cookie
    server.on('request', started.handler)
    stop = () =>
      new Promise((resolve) => {
        server.close(resolve)
        server.closeAllConnections()
      })
  }
  process.on('message', async (message) => {
    if (message.type === 'cpu') {
      const { user, system } = process.cpuUsage()
      process.send({ type: 'cpu', micros: user + system })
    }
    if (message.type !== 'stop') return
    await stop()
    access?.close()
    await closeStore()
    process.exit(0)
  })
  process.send({ type: 'ready', port, cookie })
}

main().catch((error) => {
  process.send?.({ type: 'failed', message: error instanceof Error ? error.message : String(error) })
  process.exit(1)
})
