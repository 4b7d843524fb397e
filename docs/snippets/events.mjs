// The full form of the checklist's event listeners: each event, caused for real against the
// server. alice consents, is refreshed and disconnects; bob's grant is restored from a refresh
// token the server no longer honours; carol's was sealed by a process with another secret; dave's
// refresh goes out while the network to the server is down (a `fetch` that fails, as an egress
// proxy that is down would).
// test/snippets runs it against a local authorization server (ISSUER, CLIENT_ID, CLIENT_SECRET
// and ONGOING_SECRET from the environment).
import assert from 'node:assert/strict'
import { MemoryTokenStore, OngoingAccess } from '@ongoing/core'
import { driveConsent } from '@ongoing/testing'

const store = new MemoryTokenStore()
let networkDown = false
const options = {
  issuer: process.env.ISSUER,
  client: { id: process.env.CLIENT_ID, secret: process.env.CLIENT_SECRET },
  redirectUri: 'http://localhost:3000/auth/callback',
  scope: 'offline_access api:read',
  store,
  fetch: (input, init) => (networkDown ? Promise.reject(new TypeError('fetch failed')) : fetch(input, init)),
  retry: { attempts: 1 },
}
const access = new OngoingAccess({ ...options, secret: process.env.ONGOING_SECRET })
const lines = []
const log = Object.fromEntries(
  ['debug', 'info', 'warn'].map((level) => [
    level,
    (fields, message) => lines.push({ level, message, ...fields }),
  ]),
)

access.on('refreshError', ({ userKey, error, nextAttemptAt, transient }) => {
  // transient: false is something to fix (invalid_client: the client secret changed at the server).
  log.warn(
    {
      userKey,
      code: error.code,
      status: error.status,
      oauthError: error.oauthError,
      transient,
      nextAttemptAt,
    },
    'refresh failed',
  )
})
access.on('consentRequired', ({ userKey, reason }) => log.info({ userKey, reason }, 'consent required'))
access.on('warning', ({ userKey, code, message }) => log.warn({ userKey, code }, message))
access.on('refresh', ({ userKey, rotated }) => log.debug({ userKey, rotated }, 'refreshed'))
access.on('consent', ({ userKey, source }) => log.info({ userKey, source }, 'connected'))
access.on('revoke', ({ userKey, revokedAtServer }) => log.info({ userKey, revokedAtServer }, 'disconnected'))

const consent = async (userKey) => {
  const { url, transaction } = await access.startConsent({ userKey })
  const callbackUrl = await driveConsent(url, { redirectUriPrefix: options.redirectUri })
  await access.finishConsent({ callbackUrl, transaction })
}
await consent('alice')
await access.getAccessToken('alice', { forceRefresh: true })
await access.revoke('alice')
await access.restore('bob', { accessToken: 'old', refreshToken: 'no-longer-honoured', expiresIn: 0 })
await access.getAccessToken('bob').catch(() => {})
const other = new OngoingAccess({ ...options, secret: `${process.env.ONGOING_SECRET}-other` })
await other.restore('carol', { accessToken: 'c1', refreshToken: 'r1', expiresIn: 3600 })
other.close()
await access.getAccessToken('carol').catch(() => {})
await consent('dave')
networkDown = true
await access.getAccessToken('dave', { forceRefresh: true }).catch(() => {})
networkDown = false

const seen = lines.map(({ level, message, userKey, nextAttemptAt, ...fields }) => ({
  level,
  userKey,
  ...(level === 'warn' && fields.code === 'grant_unreadable' ? {} : { message }),
  ...fields,
}))
assert.deepEqual(seen, [
  { level: 'info', userKey: 'alice', message: 'connected', source: 'consent' },
  { level: 'debug', userKey: 'alice', message: 'refreshed', rotated: true },
  { level: 'info', userKey: 'alice', message: 'disconnected', revokedAtServer: true },
  { level: 'info', userKey: 'bob', message: 'connected', source: 'restore' },
  { level: 'info', userKey: 'bob', message: 'consent required', reason: 'invalid_grant' },
  { level: 'warn', userKey: 'carol', code: 'grant_unreadable' },
  { level: 'info', userKey: 'carol', message: 'consent required', reason: 'unreadable' },
  { level: 'info', userKey: 'dave', message: 'connected', source: 'consent' },
  {
    level: 'warn',
    userKey: 'dave',
    message: 'refresh failed',
    code: 'ERR_NETWORK',
    status: undefined,
    oauthError: undefined,
    transient: true,
  },
])
assert.ok(lines.at(-1).nextAttemptAt > Date.now(), 'a transient failure is tried again later')
// No payload carries token material.
assert.equal(/no-longer-honoured|"(c1|r1|old)"/.test(JSON.stringify(lines)), false)
access.close()
