// Genrefy on Express: the user connects once; from then on the app reads their listening history
// whenever it likes, on their requests and in a background job, with a fresh access token.
//
//   node app.mjs     PORT=3001  ISSUER=http://127.0.0.1:4000  JOB_EVERY_SECONDS=10  REDIS_URL=redis://…
//                    (or DATABASE_URL=postgres://… in place of REDIS_URL)
import { OngoingAccess } from '@ongoing/core'
import { OngoingRoutes } from '@ongoing/core/adapter'
import { getOngoing, ongoingRouter, requireAccessToken } from '@ongoing/express'
import { PostgresTokenStore } from '@ongoing/postgres'
import { RedisTokenStore } from '@ongoing/redis'
import {
  firstGrants,
  renderErrorPage,
  renderGenresPage,
  renderGrantsPage,
  renderHomePage,
} from 'example-genrefy'
import express from 'express'

const port = Number(process.env.PORT ?? 3001)
const issuer = process.env.ISSUER ?? 'http://127.0.0.1:4000'
const jobEverySeconds = Number(process.env.JOB_EVERY_SECONDS ?? 10)
const historyUrl = new URL('/api/me/listening-history', issuer)

// Grants live in this process's memory by default: a restart forgets them. With REDIS_URL they
// live in Redis (under a key prefix of this app's own), with DATABASE_URL in PostgreSQL (in tables
// of this app's own): they outlive restarts, and every instance of the app shares them.
if (process.env.REDIS_URL && process.env.DATABASE_URL) {
  console.error(
    'express example: both REDIS_URL and DATABASE_URL are set; pick one (the grants live in Redis or in PostgreSQL)',
  )
  process.exit(1)
}
const store = process.env.REDIS_URL
  ? new RedisTokenStore({ url: process.env.REDIS_URL, keyPrefix: 'genrefy-express:' })
  : process.env.DATABASE_URL
    ? new PostgresTokenStore({ connectionString: process.env.DATABASE_URL, table: 'genrefy_express_grants' })
    : undefined
// PostgreSQL: create the app's tables when they are missing (idempotent; needs no superuser).
if (store instanceof PostgresTokenStore) await store.migrate()

// 1. One OngoingAccess for the app: who we are at the authorization server, and what we ask for.
const access = new OngoingAccess({
  issuer,
  client: { id: 'genrefy-express', secret: process.env.CLIENT_SECRET ?? 'genrefy-express-dev-secret' },
  redirectUri: `http://localhost:${port}/auth/callback`,
  scope: 'offline_access api:read',
  // Seals the consent transaction and the user-key cookie, and encrypts tokens at rest.
  secret: process.env.ONGOING_SECRET ?? 'genrefy-express development secret: set ONGOING_SECRET',
  store,
})

// Count refreshes per user for the status panel. The events carry no token material.
const refreshStats = new Map()
access.on('refresh', ({ userKey }) => {
  const refreshes = (refreshStats.get(userKey)?.refreshes ?? 0) + 1
  refreshStats.set(userKey, { refreshes, lastRefreshAt: Date.now() })
})

const app = express()
// 2. GET /auth/consent, GET /auth/callback, POST /auth/refresh. With no `userKey` option, the
//    router keeps a random user key in a sealed cookie (named after `cookieName`: the three
//    examples share the host name localhost, and cookies ignore ports).
const options = { cookieName: 'genrefy-express' }
app.use('/auth', ongoingRouter(access, options))

const connectUrl = '/auth/consent?returnTo=/genres'
// The home page shows whether this browser's user is connected: the user key is the one the
// router keeps in its sealed cookie, and inspect() reads the grant's health, never a token.
const userKeys = new OngoingRoutes(access, options)
app.get('/', async (req, res) => {
  const userKey = userKeys.userKeyFromNodeRequest(req)
  const grant = userKey === undefined ? undefined : await access.inspect(userKey)
  res.set('cache-control', 'no-store')
  res.send(renderHomePage({ framework: 'Express', connectUrl, grantsUrl: '/grants', grant }))
})

// 3. requireAccessToken: a fresh token in req.ongoing (read it with getOngoing), refreshed when
//    needed. No grant yet (or a dead one)? The browser is sent to /auth/consent and comes back here.
app.get('/genres', requireAccessToken(access, options), async (req, res) => {
  const { accessToken, expiresAt, userKey } = getOngoing(req)
  const response = await fetch(historyUrl, { headers: { authorization: `Bearer ${accessToken}` } })
  if (!response.ok) throw new Error(`listening history: HTTP ${response.status}`)
  const history = await response.json()
  const status = { expiresAt, refreshes: 0, ...refreshStats.get(userKey), job }
  res.send(renderGenresPage({ framework: 'Express', history, status, refreshUrl: '/auth/refresh' }))
})

// The grants' health, for the operator: every grant in the store with its status, when it is
// refreshed next, its failures and last error, and why it needs the user back; never a token.
// A demo page: a real app serves it behind its admin sign-in, never to its users.
app.get('/grants', async (_req, res) => {
  const { grants, more } = await firstGrants(access.grants(), 100) // the first 100, however many there are
  res.set('cache-control', 'no-store')
  res.send(renderGrantsPage({ framework: 'Express', grants, more, job }))
})

// Errors from @ongoing carry a stable `code` and the HTTP `status` (a cancelled consent: 403).
app.use((err, _req, res, _next) => {
  if ((err.status ?? 500) >= 500) console.error(err) // core errors hold no token material
  res.status(err.status ?? 500).set(err.headers ?? {})
  res.send(renderErrorPage({ framework: 'Express', code: err.code, connectUrl }))
})

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
app.listen(port, 'localhost', (error) => {
  // Express 5 calls back with the listen error: a port in use is one line, not a stack trace.
  if (error?.code === 'EADDRINUSE') {
    console.error(
      `express example: port ${port} is in use: stop what listens there, or start with another PORT`,
    )
    process.exit(1)
  }
  if (error) throw error
  console.log(`express example: http://localhost:${port}`)
})

// Ctrl-C or SIGTERM: close the store's connections, then stop as the signal would have stopped us.
for (const signal of ['SIGINT', 'SIGTERM'])
  process.once(signal, async () => {
    access.close()
    await store?.close()
    process.kill(process.pid, signal)
  })
