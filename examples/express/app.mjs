// Genrefy on Express: the user connects once; from then on the app reads their listening history
// whenever it likes, on their requests and in a background job, with a fresh access token.
//
//   node app.mjs     PORT=3001  ISSUER=http://127.0.0.1:4000  JOB_EVERY_SECONDS=10
import { OngoingAccess } from '@ongoing/core'
import { getOngoing, ongoingRouter, requireAccessToken } from '@ongoing/express'
import { renderErrorPage, renderGenresPage, renderHomePage } from 'example-genrefy'
import express from 'express'

const port = Number(process.env.PORT ?? 3001)
const issuer = process.env.ISSUER ?? 'http://127.0.0.1:4000'
const jobEverySeconds = Number(process.env.JOB_EVERY_SECONDS ?? 10)
const historyUrl = new URL('/api/me/listening-history', issuer)

// 1. One OngoingAccess for the app: who we are at the authorization server, and what we ask for.
const access = new OngoingAccess({
  issuer,
  client: { id: 'genrefy-express', secret: process.env.CLIENT_SECRET ?? 'genrefy-express-dev-secret' },
  redirectUri: `http://localhost:${port}/auth/callback`,
  scope: 'offline_access api:read',
  // Seals the consent transaction and the user-key cookie, and encrypts tokens at rest.
  secret: process.env.ONGOING_SECRET ?? 'genrefy-express development secret: set ONGOING_SECRET',
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
app.get('/', (_req, res) => {
  res.send(renderHomePage({ framework: 'Express', connectUrl }))
})

// 3. requireAccessToken: a fresh token in req.ongoing (read it with getOngoing), refreshed when
//    needed. No grant yet (or a dead one)? The browser is sent to /auth/consent and comes back here.
const connectedUsers = new Set()
app.get('/genres', requireAccessToken(access, options), async (req, res) => {
  const { accessToken, expiresAt, userKey } = getOngoing(req)
  connectedUsers.add(userKey)
  const response = await fetch(historyUrl, { headers: { authorization: `Bearer ${accessToken}` } })
  if (!response.ok) throw new Error(`listening history: HTTP ${response.status}`)
  const history = await response.json()
  const status = { expiresAt, refreshes: 0, ...refreshStats.get(userKey), job }
  res.send(renderGenresPage({ framework: 'Express', history, status, refreshUrl: '/auth/refresh' }))
})

// Errors from @ongoing carry a stable `code` and the HTTP `status` (a cancelled consent: 403).
app.use((err, _req, res, _next) => {
  if ((err.status ?? 500) >= 500) console.error(err) // core errors hold no token material
  res.status(err.status ?? 500).set(err.headers ?? {})
  res.send(renderErrorPage({ framework: 'Express', code: err.code, connectUrl }))
})

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

app.listen(port, 'localhost', () => console.log(`express example: http://localhost:${port}`))
