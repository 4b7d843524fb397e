// The full form of the events snippet of the README: each listener is registered as in the
// snippet, then a consent, an imported grant refreshed at first use, a grant that does not open
// under this secret, and a disconnect fire them (a failing refresh, for `refreshError`, is left
// out). The user is played by the headless consent driver of @ongoing/testing. test/snippets runs it against a local authorization server (ISSUER,
// CLIENT_ID, CLIENT_SECRET and ONGOING_SECRET from the environment).
// biome-ignore-all lint/correctness/noUnusedFunctionParameters: the listeners name what each event carries, as the README shows
// ../harness.js is test/snippets/harness.ts, written beside this file's folder in the project the test makes.

import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { MemoryTokenStore, OngoingAccess, type OngoingAccessOptions } from '@ongoing/core'
import { driveConsent } from '@ongoing/testing'
import { tokensFromBefore } from '../harness.js'

// The app's logger and metrics, here writing down what they are given.
const lines: { level: string; message: string; fields: object }[] = []
const log = {
  info: (fields: object, message: string) => lines.push({ level: 'info', message, fields }),
  warn: (fields: object, message: string) => lines.push({ level: 'warn', message, fields }),
}
const counted: string[] = []
const metrics = { increment: (name: string) => counted.push(name) }
const notified: string[] = []
const notifyUser = (userKey: string) => notified.push(userKey)

const store = new MemoryTokenStore()
const options: OngoingAccessOptions = {
  issuer: process.env.ISSUER!,
  client: { id: process.env.CLIENT_ID!, secret: process.env.CLIENT_SECRET! },
  redirectUri: 'http://localhost:3000/auth/callback',
  scope: 'offline_access api:read',
  secret: process.env.ONGOING_SECRET!,
  store,
  logger: false,
}
const access = new OngoingAccess(options)

// A grant stored by finishConsent (source 'consent') or restore (source 'restore').
access.on('consent', ({ userKey, source, scope }) => log.info({ userKey, source }, 'connected'))
access.on('refresh', ({ userKey, expiresAt, rotated }) => metrics.increment('token.refresh'))
// The still valid token is served meanwhile; no token call for this grant before nextAttemptAt.
// transient: false for a 4xx other than 429 (say invalid_client): something to fix, not to wait out.
access.on('refreshError', ({ userKey, error, nextAttemptAt, transient }) =>
  log.warn(
    { userKey, code: error.code, outcomeUnknown: error.outcomeUnknown, nextAttemptAt, transient },
    'refresh failed',
  ),
)
access.on('consentRequired', ({ userKey, reason }) => notifyUser(userKey))
access.on('revoke', ({ userKey, revokedAtServer }) => log.info({ userKey, revokedAtServer }, 'disconnected'))
// Once per finishConsent whose grant may not be ongoing (it is stored all the same), and each
// time a stored grant does not open in this process.
access.on('warning', ({ userKey, code, message }) => log.warn({ userKey, code }, message))

// 'consent' (source 'consent').
const { url, transaction } = await access.startConsent({ userKey: 'user-42' })
const callbackUrl = await driveConsent(url, { redirectUriPrefix: 'http://localhost:3000/auth/callback' })
await access.finishConsent({ callbackUrl, transaction })
// 'consent' (source 'restore'), then 'refresh' at first use.
const tokens = await tokensFromBefore()
await access.restore('user-7', {
  accessToken: tokens.access_token,
  refreshToken: tokens.refresh_token,
  expiresIn: 0,
})
await access.getAccessToken('user-7')
// 'warning' and 'consentRequired': a grant written by a process with another secret.
const otherSecret = new OngoingAccess({ ...options, secret: randomBytes(32).toString('base64url') })
await otherSecret.restore('user-9', { accessToken: tokens.access_token, expiresIn: 60 })
otherSecret.close()
await assert.rejects(access.getAccessToken('user-9'), { code: 'ERR_CONSENT_REQUIRED', reason: 'unreadable' })
// 'revoke'.
await access.revoke('user-42')

assert.deepEqual(
  lines.filter((line) => line.message === 'connected').map((line) => line.fields),
  [
    { userKey: 'user-42', source: 'consent' },
    { userKey: 'user-7', source: 'restore' },
  ],
)
assert.deepEqual(counted, ['token.refresh'])
assert.deepEqual(notified, ['user-9'])
// No refresh failed: no 'refreshError' line.
assert.deepEqual(
  lines.filter((line) => line.level === 'warn').map((line) => line.fields),
  [{ userKey: 'user-9', code: 'grant_unreadable' }],
)
assert.deepEqual(
  lines.filter((line) => line.message === 'disconnected').map((line) => line.fields),
  [{ userKey: 'user-42', revokedAtServer: true }],
)
access.close()
