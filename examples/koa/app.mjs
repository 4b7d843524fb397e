// Genrefy on Koa: the user connects once; from then on the app reads their listening history
// whenever it likes, on their requests and in a background job, with a fresh access token.
//
//   node app.mjs     PORT=3002  ISSUER=http://127.0.0.1:4000  JOB_EVERY_SECONDS=10
import Router from '@koa/router'
import { OngoingAccess } from '@ongoing/core'
import { ongoingRouter, requireAccessToken } from '@ongoing/koa'
import { renderErrorPage, renderGenresPage, renderHomePage } from 'example-genrefy'
import Koa from 'koa'

const port = Number(process.env.PORT ?? 3002)
const issuer = process.env.ISSUER ?? 'http://127.0.0.1:4000'
const jobEverySeconds = Number(process.env.JOB_EVERY_SECONDS ?? 10)
const historyUrl = new URL('/api/me/listening-history', issuer)

// 1. One OngoingAccess for the app: who we are at the authorization server, and what we ask for.
const access = new OngoingAccess({
  issuer,
  client: { id: 'genrefy-koa', secret: process.env.CLIENT_SECRET ?? 'genrefy-koa-dev-secret' },
  redirectUri: `http://localhost:${port}/auth/callback`,
  scope: 'offline_access api:read',
  // Seals the consent transaction and the user-key cookie, and encrypts tokens at rest.
  secret: process.env.ONGOING_SECRET ?? 'genrefy-koa development secret: set ONGOING_SECRET',
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
router.get('/', (ctx) => {
  ctx.body = renderHomePage({ framework: 'Koa', connectUrl })
})

// 3. requireAccessToken: a fresh token in ctx.state.ongoing, refreshed when needed. No grant yet
//    (or a dead one)? The browser is sent to /auth/consent and comes back here.
const connectedUsers = new Set()
router.get('/genres', requireAccessToken(access, options), async (ctx) => {
  const { accessToken, expiresAt, userKey } = ctx.state.ongoing
  connectedUsers.add(userKey)
  const response = await fetch(historyUrl, { headers: { authorization: `Bearer ${accessToken}` } })
  if (!response.ok) throw new Error(`listening history: HTTP ${response.status}`)
  const history = await response.json()
  const status = { expiresAt, refreshes: 0, ...refreshStats.get(userKey), job }
  ctx.body = renderGenresPage({ framework: 'Koa', history, status, refreshUrl: '/auth/refresh' })
})
app.use(router.routes())

// 4. The background job: no user, no request, no session. getAccessToken(userKey) returns a fresh
//    token, refreshing it (once, however many callers) when it is about to expire.
const job = { everySeconds: jobEverySeconds, lastRunAt: undefined, usersRead: 0 }
access.on('consentRequired', ({ userKey }) => connectedUsers.delete(userKey))
setInterval(async function readEveryonesHistory() {
  if (connectedUsers.size === 0) return
  let read = 0
  for (const userKey of connectedUsers) {
    try {
      const token = await access.getAccessToken(userKey)
      const response = await fetch(historyUrl, { headers: { authorization: `Bearer ${token.value}` } })
      if (response.ok) read++
      await response.body?.cancel()
    } catch (error) {
      console.warn(`background job: ${error.code ?? error.message}`) // a code, never a token
    }
  }
  Object.assign(job, { lastRunAt: Date.now(), usersRead: read })
  console.log(`background job: read ${read} of ${connectedUsers.size} connected users' histories`)
}, jobEverySeconds * 1000).unref()

app.listen(port, 'localhost', () => console.log(`koa example: http://localhost:${port}`))
