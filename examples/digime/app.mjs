// Genrefy on digi.me, after digi.me's own example app of that name: the user consents once at
// digi.me; from then on the app reads their listening history whenever it likes, on their requests
// and in a background job. Every call is signed with the contract's key around a fresh access token.
//
//   node app.mjs     PORT=3005  JOB_EVERY_SECONDS=10  REDIS_URL=redis://…
//                    (or DATABASE_URL=postgres://… in place of REDIS_URL)
//
// The contract (ids, key, and where the local digi.me stand-in runs) is read from
// DIGIME_CONTRACT_FILE, by default the one examples/digime-service writes: start that first.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { OngoingAccess } from '@ongoing/core'
import { OngoingRoutes } from '@ongoing/core/adapter'
import { digiMe } from '@ongoing/digime'
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

const port = Number(process.env.PORT ?? 3005)
const jobEverySeconds = Number(process.env.JOB_EVERY_SECONDS ?? 10)
const contract = readContract(
  process.env.DIGIME_CONTRACT_FILE ??
    fileURLToPath(new URL('../digime-service/contract.local.json', import.meta.url)),
)

// Grants live in this process's memory by default: a restart forgets them. With REDIS_URL they
// live in Redis (under a key prefix of this app's own), with DATABASE_URL in PostgreSQL (in tables
// of this app's own): they outlive restarts, and every instance of the app shares them.
if (process.env.REDIS_URL && process.env.DATABASE_URL) {
  console.error(
    'digime example: both REDIS_URL and DATABASE_URL are set; pick one (the grants live in Redis or in PostgreSQL)',
  )
  process.exit(1)
}
const store = process.env.REDIS_URL
  ? new RedisTokenStore({ url: process.env.REDIS_URL, keyPrefix: 'genrefy-digime:' })
  : process.env.DATABASE_URL
    ? new PostgresTokenStore({ connectionString: process.env.DATABASE_URL, table: 'genrefy_digime_grants' })
    : undefined
// PostgreSQL: create the app's tables when they are missing (idempotent; needs no superuser).
if (store instanceof PostgresTokenStore) await store.migrate()

// 1. One OngoingAccess for the app, with the digi.me profile: the contract signs every request.
const access = new OngoingAccess({
  profile: digiMe({
    applicationId: contract.applicationId,
    contractId: contract.contractId,
    privateKey: contract.privateKey, // the contract's RSA key (here a demo key made by the stand-in)
    // digi.me's own URLs by default; here, the local stand-in's.
    baseUrl: contract.baseUrl,
    consentUrl: contract.consentUrl,
    keySetUrl: contract.keySetUrl,
  }),
  redirectUri: `http://localhost:${port}/auth/callback`,
  // Seals the consent transaction and the user-key cookie, and encrypts tokens at rest.
  secret: process.env.ONGOING_SECRET ?? 'genrefy-digime development secret: set ONGOING_SECRET',
  // A dead grant (its refresh token expired or revoked): send the browser back through consent,
  // as digi.me's SDKs do with autoRecoverExpiredCredentials.
  onRefreshTokenExpired: 'reconsent',
  store,
})

// Count refreshes per user for the status panel. The events carry no token material.
const refreshStats = new Map()
access.on('refresh', ({ userKey }) => {
  const refreshes = (refreshStats.get(userKey)?.refreshes ?? 0) + 1
  refreshStats.set(userKey, { refreshes, lastRefreshAt: Date.now() })
})

const app = express()
// 2. GET /auth/consent (a pushed pre-authorization, then digi.me's consent page), GET
//    /auth/callback and POST /auth/refresh, with a random user key in a sealed cookie.
const options = { cookieName: 'genrefy-digime' }
app.use('/auth', ongoingRouter(access, options))

const connectUrl = '/auth/consent?returnTo=/genres'
// The home page shows whether this browser's user is connected: the user key is the one the
// router keeps in its sealed cookie, and inspect() reads the grant's health, never a token.
const userKeys = new OngoingRoutes(access, options)
app.get('/', async (req, res) => {
  const userKey = userKeys.userKeyFromNodeRequest(req)
  const grant = userKey === undefined ? undefined : await access.inspect(userKey)
  res.set('cache-control', 'no-store')
  res.send(renderHomePage({ framework: 'digi.me', connectUrl, grantsUrl: '/grants', grant }))
})

// 3. requireAccessToken: a fresh token for this user, refreshed when needed; getOngoing(req).fetch
//    signs a request JWT around it for each call (and on a 401 refreshes once and retries once).
app.get('/genres', requireAccessToken(access, options), async (req, res) => {
  const { expiresAt, userKey, fetch } = getOngoing(req)
  const history = await readListeningHistory(fetch)
  const status = { expiresAt, refreshes: 0, ...refreshStats.get(userKey), job }
  res.send(
    renderGenresPage({
      framework: 'digi.me',
      heading: 'Your top genres',
      history,
      status,
      refreshUrl: '/auth/refresh',
    }),
  )
})

// The grants' health, for the operator: every grant in the store with its status, when it is
// refreshed next, its failures and last error, and why it needs the user back; never a token.
// A demo page: a real app serves it behind its admin sign-in, never to its users.
app.get('/grants', async (_req, res) => {
  const { grants, more } = await firstGrants(access.grants(), 100) // the first 100, however many there are
  res.set('cache-control', 'no-store')
  res.send(renderGrantsPage({ framework: 'digi.me', grants, more, job }))
})

// Errors from @ongoing carry a stable `code` and the HTTP `status` (a cancelled consent: 403).
app.use((err, req, res, _next) => {
  // The grant died during a data call (digi.me answered 401 InvalidToken to the call and to the
  // refresh: the stand-in restarted, say): as requireAccessToken does, consent again and come back.
  if (err.code === 'ERR_CONSENT_REQUIRED' && req.method === 'GET') {
    res.redirect(`/auth/consent?${new URLSearchParams({ returnTo: req.originalUrl })}`)
    return
  }
  if ((err.status ?? 500) >= 500) console.error(err) // core errors hold no token material
  res.status(err.status ?? 500).set(err.headers ?? {})
  res.send(renderErrorPage({ framework: 'digi.me', code: err.code, connectUrl }))
})

// 4. The background job: no user, no request, no session. It walks the grants in the store, not a
//    list of its own: every instance sees the same ones, and (in Redis or PostgreSQL) a restart loses none.
//    Grants that need the user back are skipped. access.fetch(userKey, …) still calls with a fresh
//    token, refreshing it (once, however many callers) when it is about to expire.
const job = { everySeconds: jobEverySeconds, lastRunAt: undefined, usersRead: 0 }
setInterval(async function readEveryonesHistory() {
  let grants = 0
  let read = 0
  try {
    for await (const { userKey } of access.grants({ status: ['active', 'failing'] })) {
      grants++
      try {
        await readListeningHistory((input, init) => access.fetch(userKey, input, init))
        read++
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

/**
 * The user's listening history, the digi.me way: trigger a data session, list its files (polling
 * while digi.me is still gathering), then read each file.
 *
 * @param fetchAsUser - `fetch` for one user's grant: `getOngoing(req).fetch` or `access.fetch`.
 */
async function readListeningHistory(fetchAsUser) {
  const api = (path) => new URL(path, contract.baseUrl)
  const trigger = await fetchAsUser(api('permission-access/trigger'), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ agent: { sdk: { name: 'genrefy-example', version: '1.0.0' } } }),
  })
  const { session } = await readJSON(trigger, 'trigger')
  const query = `permission-access/query/${encodeURIComponent(session.key)}`
  let list = await readJSON(await fetchAsUser(api(query)), 'file list')
  for (let polls = 0; !['completed', 'partial'].includes(list.status?.state); polls++) {
    if (polls === 20) throw new Error('digi.me is still gathering the data; try again shortly')
    await new Promise((resolve) => setTimeout(resolve, 500))
    list = await readJSON(await fetchAsUser(api(query)), 'file list')
  }
  const files = await Promise.all(
    (list.fileList ?? []).map(async ({ name }) =>
      readJSON(await fetchAsUser(api(`${query}/${encodeURIComponent(name)}`)), 'file'),
    ),
  )
  const tracks = files
    .filter((file) => file.fileMetadata?.objectType === 'playhistory')
    .flatMap((file) => file.fileData)
    .map(({ title, artist, genres, playedAt }) => ({ title, artist, genres, playedAt }))
    .sort((a, b) => b.playedAt.localeCompare(a.playedAt))
  return { userId: 'you', tracks }
}

/** The JSON body of a digi.me answer; on an error, its status and digi.me's code (never a token). */
async function readJSON(response, what) {
  if (!response.ok) {
    await response.body?.cancel()
    const code = response.headers.get('x-error-code')
    throw new Error(`digi.me ${what}: HTTP ${response.status}${code ? ` ${code}` : ''}`)
  }
  return response.json()
}

function readContract(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'))
  } catch (error) {
    console.error(
      `genrefy on digi.me: cannot read the contract at ${file} (${error.code ?? error.message}); ` +
        'start the digi.me service first: node examples/digime-service/server.mjs',
    )
    process.exit(1)
  }
}

await store?.ready() // fail now, not on the first request, when Redis or PostgreSQL is unreachable
app.listen(port, 'localhost', (error) => {
  // Express 5 calls back with the listen error: a port in use is one line, not a stack trace.
  if (error?.code === 'EADDRINUSE') {
    console.error(
      `digime example: port ${port} is in use: stop what listens there, or start with another PORT`,
    )
    process.exit(1)
  }
  if (error) throw error
  console.log(`digime example: http://localhost:${port}`)
})

// Ctrl-C or SIGTERM: close the store's connections, then stop as the signal would have stopped us.
for (const signal of ['SIGINT', 'SIGTERM'])
  process.once(signal, async () => {
    access.close()
    await store?.close()
    process.kill(process.pid, signal)
  })
