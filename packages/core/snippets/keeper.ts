// The full form of the keeper snippet of the README: a grant whose access token has expired is
// refreshed by the keeper's walk, before any request needs it. The grant is imported with tokens
// from a consent made without ongoing (the headless consent driver of @ongoing/testing plays the
// user). test/snippets runs it against a local authorization server (ISSUER, CLIENT_ID,
// CLIENT_SECRET and ONGOING_SECRET from the environment).
// ../harness.js is test/snippets/harness.ts, written beside this file's folder in the project the test makes.

import assert from 'node:assert/strict'
import { OngoingAccess } from '@ongoing/core'
import { tokensFromBefore } from '../harness.js'

const access = new OngoingAccess({
  issuer: process.env.ISSUER!,
  client: { id: process.env.CLIENT_ID!, secret: process.env.CLIENT_SECRET! },
  redirectUri: 'http://localhost:3000/auth/callback',
  scope: 'offline_access api:read',
  secret: process.env.ONGOING_SECRET!,
})
const tokens = await tokensFromBefore()
await access.restore('user-42', {
  accessToken: tokens.access_token,
  refreshToken: tokens.refresh_token,
  expiresIn: 0,
})

const keeper = access.keepFresh({
  intervalSeconds: 60, // how often it walks the grants (jittered per instance)
  aheadSeconds: 180, // refresh this long before expiry (default: refreshSkewSeconds + 2 intervals)
  concurrency: 4, // refreshes at once, per instance
  refreshTokenIdleSeconds: 30 * 86_400, // the server drops refresh tokens unused for 30 days
})
process.once('SIGTERM', () => keeper.stop())

await keeper.sweep()
assert.equal(keeper.lastSweep?.listed, 1)
assert.equal(keeper.lastSweep?.refreshed, 1)
const info = await access.inspect('user-42')
assert.equal(info?.status, 'active')
assert.ok(info?.lastRefreshedAt !== undefined)
const token = await access.getAccessToken('user-42')
assert.equal(token.refreshed, false) // the keeper did it
assert.notEqual(token.value, tokens.access_token)
keeper.stop()
access.close()
