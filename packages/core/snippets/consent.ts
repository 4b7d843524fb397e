// The full form of the first snippet of the README: the same code, with the headless consent driver
// of @ongoing/testing in the user's place. test/snippets runs it against a local authorization
// server (ISSUER, CLIENT_ID, CLIENT_SECRET, ONGOING_SECRET and API_URL from the environment).
import assert from 'node:assert/strict'
import { OngoingAccess } from '@ongoing/core'

const access = new OngoingAccess({
  issuer: process.env.ISSUER!, // e.g. https://as.example.com; metadata discovered (RFC 8414, then OpenID Discovery)
  client: { id: process.env.CLIENT_ID!, secret: process.env.CLIENT_SECRET! },
  redirectUri: 'http://localhost:3000/auth/callback',
  scope: 'offline_access api:read',
  secret: process.env.ONGOING_SECRET!, // ≥ 32 chars: seals transactions, encrypts tokens at rest
})

// 0. At startup, before the app listens: discovers the server and checks it supports this client.
await access.ready()

// 1. Send the user to consent (keep `transaction` for the callback, e.g. in an HttpOnly cookie).
const { url, transaction } = await access.startConsent({ userKey: 'user-42', returnTo: '/library' })
// The user, played by the headless consent driver: signs in as "alice" and approves.
const { driveConsent } = await import('@ongoing/testing')
const callbackUrl = await driveConsent(url, { redirectUriPrefix: 'http://localhost:3000/auth/callback' })

// 2. On the callback: checks state and iss, exchanges the code with the PKCE verifier, stores the grant.
const { userKey, returnTo } = await access.finishConsent({ callbackUrl, transaction })

// 3. From now on, anywhere (a request handler, a cron job):
const token = await access.getAccessToken('user-42') // { value, tokenType, expiresAt, scope, refreshed }
const res = await access.fetch('user-42', `${process.env.API_URL}/me/history`) // refresh + retry once on 401

assert.equal(userKey, 'user-42')
assert.equal(returnTo, '/library')
assert.equal(token.refreshed, false)
assert.equal(res.status, 200)
access.close()
