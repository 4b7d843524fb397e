// Genrefy on Koa: the user connects once; from then on the app reads their listening history
// whenever it likes, on their requests and in a background job, with a fresh access token.
//
//   node app.mjs     PORT=3002  ISSUER=http://127.0.0.1:4000  JOB_EVERY_SECONDS=10  REDIS_URL=redis://…
//                    (or DATABASE_URL=postgres://… in place of REDIS_URL)
import Router from '@koa/router'
import { OngoingAccess } from '@ongoing/core'
import { OngoingRoutes } from '@ongoing/core/adapter'
import { ongoingRouter, requireAccessToken } from '@ongoing/koa'
import { PostgresTokenStore } from '@ongoing/postgres'
import { RedisTokenStore } from '@ongoing/redis'
import {
  firstGrants,
  renderErrorPage,
  renderGenresPage,
  renderGrantsPage,
  renderHomePage,
} from 'example-genrefy'
import Koa from 'koa'

const port = Number(process.env.PORT ?? 3002)
const issuer = process.env.ISSUER ?? 'http://127.0.0.1:4000'
const jobEverySeconds = Number(process.env.JOB_EVERY_SECONDS ?? 10)
const historyUrl = new URL('/api/me/listening-history', issuer)

// Grants live in this process's memory by default: a restart forgets them. With REDIS_URL they
// live in Redis (under a key prefix of this app's own), with DATABASE_URL in PostgreSQL (in tables
// of this app's own): they outlive restarts, and every instance of the app shares them.
if (process.env.REDIS_URL && process.env.DATABASE_URL) {
  console.error(
    'koa example: both REDIS_URL and DATABASE_URL are set; pick one (the grants live in Redis or in PostgreSQL)',
  )
  process.exit(1)
}
const store = process.env.REDIS_URL
  ? new RedisTokenStore({ url: process.env.REDIS_URL, keyPrefix: 'genrefy-koa:' })
  : process.env.DATABASE_URL
    ? new PostgresTokenStore({ connectionString: process.env.DATABASE_URL, table: 'genrefy_koa_grants' })
    : undefined
// PostgreSQL: create the app's tables when they are missing (idempotent; needs no superuser).
if (store instanceof PostgresTokenStore) await store.migrate()

// 1. One OngoingAccess for the app: who we are at the authorization server, and what we ask for.
const access = new OngoingAccess({
  issuer,
  client: { id: 'genrefy-koa', secret: process.env.CLIENT_SECRET ?? 'genrefy-koa-dev-secret' },
  redirectUri: `http://localhost:${port}/auth/callback`,
  scope: 'offline_access api:read',
  // Seals the consent transaction and the user-key cookie, and encrypts tokens at rest.
  secret: process.env.ONGOING_SECRET ?? 'genrefy-koa development secret: set ONGOING_SECRET',
  store,
})

// Count refreshes per user for the status panel. The events carry no token material.
const refreshStats = new Map()
access.on('refresh', ({ userKey }) => {
  const refreshes = (refreshStats.get(userKey)?.refreshes ?? 0) + 1
  refreshStats.set(userKey, { refreshes, lastRefreshAt: Date.now() })
})

const app = new Koa()
const connectUrl = '/auth/consent?returnTo=/genres'
// Errors from @ongoing carry a stable `code` and the HTTP `status` (a cancelled consent: 403).
app.use(async function showErrors(ctx, next) {
  try {
    await next()
  } catch (err) {
    if ((err.status ?? 500) >= 500) console.error(err) // core errors hold no token material
    ctx.status = err.status ?? 500
    ctx.set(err.headers ?? {})
    ctx.body = renderErrorPage({ framework: 'Koa', code: err.code, connectUrl })
  }
})
// 2. GET /auth/consent, GET /auth/callback, POST /auth/refresh. With no `userKey` option, the
//    router keeps a random user key in a sealed cookie (named after `cookieName`: the three
//    examples share the host name localhost, and cookies ignore ports).
const options = { prefix: '/auth', cookieName: 'genrefy-koa' }
app.use(ongoingRouter(access, options))

const router = new Router()
// The home page shows whether this browser's user is connected: the user key is the one the
// router keeps in its sealed cookie, and inspect() reads the grant's health, never a token.
const userKeys = new OngoingRoutes(access, options)
router.get('/', async (ctx) => {
  const userKey = userKeys.userKeyFromNodeRequest(ctx.req)
  const grant = userKey === undefined ? undefined : await access.inspect(userKey)
  ctx.set('cache-control', 'no-store')
  ctx.body = renderHomePage({ framework: 'Koa', connectUrl, grantsUrl: '/grants', grant })
})

// 3. requireAccessToken: a fresh token in ctx.state.ongoing, refreshed when needed. No grant yet
//    (or a dead one)? The browser is sent to /auth/consent and comes back here.
router.get('/genres', requireAccessToken(access, options), async (ctx) => {
  const { accessToken, expiresAt, userKey } = ctx.state.ongoing
  const response = await fetch(historyUrl, { headers: { authorization: `Bearer ${accessToken}` } })
  if (!response.ok) throw new Error(`listening history: HTTP ${response.status}`)
  const history = await response.json()
  const status = { expiresAt, refreshes: 0, ...refreshStats.get(userKey), job }
  ctx.body = renderGenresPage({ framework: 'Koa', history, status, refreshUrl: '/auth/refresh' })
})

// The grants' health, for the operator: every grant in the store with its status, when it is
// refreshed next, its failures and last error, and why it needs the user back; never a token.
// A demo page: a real app serves it behind its admin sign-in, never to its users.
router.get('/grants', async (ctx) => {
  const { grants, more } = await firstGrants(access.grants(), 100) // the first 100, however many there are
  ctx.set('cache-control', 'no-store')
  ctx.body = renderGrantsPage({ framework: 'Koa', grants, more, job })
})
app.use(router.routes())

// 4. The background job: no user, no request, no session. It walks the grants in the store, not a
//    list of its own: every instance sees the same ones, and (in Redis or PostgreSQL) a restart loses none.
//    Grants that need the user back are skipped. access.fetch calls with a fresh token, refreshing
//    it (once, however many callers) when it is about to expire, or once when the API answers 401.
const job = { everySeconds: jobEverySeconds, lastRunAt: undefined, usersRead: 0 }
setInterval(async function readEveryonesHistory() {
  let grants = 0
  let read = 0
  try {
    for await (const { userKey } of access.grants({ status: ['active', 'failing'] })) {
      grants++
      try {
        const response = await access.fetch(userKey, historyUrl)
        if (response.ok) read++
        await response.body?.cancel()
      } catch (error) {
        console.warn(`background job: ${error.code ?? error.message}`) // a code, never a token
      }
    }
  } catch (error) {
    console.warn(`background job: ${error.code ?? error.message}`) // the store failed: next run
  }
  Object.assign(job, { lastRunAt: Date.now(), usersRead: read })
  if (grants > 0) console.log(`background job: read ${read} of ${grants} connected users' histories`)
}, jobEverySeconds * 1000).unref()

await store?.ready() // fail now, not on the first request, when Redis or PostgreSQL is unreachable
app
  .listen(port, 'localhost', () => console.log(`koa example: http://localhost:${port}`))
  .on('error', (error) => {
    // A port in use is one line, not a stack trace.
    if (error.code !== 'EADDRINUSE') throw error
    console.error(`koa example: port ${port} is in use: stop what listens there, or start with another PORT`)
    process.exit(1)
  })

// Ctrl-C or SIGTERM: close the store's connections, then stop as the signal would have stopped us.
for (const signal of ['SIGINT', 'SIGTERM'])
  process.once(signal, async () => {
    access.close()
    await store?.close()
    process.kill(process.pid, signal)
  })
