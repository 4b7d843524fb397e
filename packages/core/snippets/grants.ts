// The full form of the inventory snippet of the README: two users consent, a job walks their
// grants and calls the API for each, and `inspect` describes one. The users are played by the
// headless consent driver of @ongoing/testing. test/snippets runs it against a local authorization
// server (ISSUER, CLIENT_ID, CLIENT_SECRET, ONGOING_SECRET and API_URL from the environment).
import assert from 'node:assert/strict'
import { OngoingAccess } from '@ongoing/core'
import { driveConsent } from '@ongoing/testing'

const api = process.env.API_URL!
const access = new OngoingAccess({
  issuer: process.env.ISSUER!,
  client: { id: process.env.CLIENT_ID!, secret: process.env.CLIENT_SECRET! },
  redirectUri: 'http://localhost:3000/auth/callback',
  scope: 'offline_access api:read',
  secret: process.env.ONGOING_SECRET!,
})
for (const key of ['user-41', 'user-42']) {
  const { url, transaction } = await access.startConsent({ userKey: key })
  const callbackUrl = await driveConsent(url, { redirectUriPrefix: 'http://localhost:3000/auth/callback' })
  await access.finishConsent({ callbackUrl, transaction })
}
const userKey = 'user-42'
const walked: string[] = []

// Every grant of this issuer and client, 100 at a time (memory stays flat with 10,000 or 1,000,000).
for await (const grant of access.grants({ status: ['active', 'failing'] })) {
  const res = await access.fetch(grant.userKey, `${api}/me/history`)
  // …
  assert.equal(res.status, 200)
  walked.push(grant.userKey)
}

const info = await access.inspect(userKey) // undefined when nothing is stored for the user
// {
//   userKey, status: 'active' | 'failing' | 'consent_required', scope,
//   expiresAt, refreshExpiresAt?, lastRefreshedAt?, nextRefreshAt?,
//   failures,                     // failed refreshes since the last success
//   lastError?: { code, status?, oauthError?, at?, nextAttemptAt? },
//   consentRequired?: { reason, at, oauthError?, status? },
// }

assert.deepEqual(walked.sort(), ['user-41', 'user-42'])
assert.equal(info?.userKey, 'user-42')
assert.equal(info?.status, 'active')
assert.equal(info?.failures, 0)
assert.ok((info?.expiresAt ?? 0) > Date.now())
assert.equal(await access.inspect('user-43'), undefined)
access.close()
