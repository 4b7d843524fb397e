// The full form of the ID token snippet of the README: a consent with `openid` in the scope, the
// user played by the headless consent driver of @ongoing/testing (who signs in as "alice").
// test/snippets runs it against a local authorization server (ISSUER, CLIENT_ID, CLIENT_SECRET and
// ONGOING_SECRET from the environment).
import assert from 'node:assert/strict'
import { OngoingAccess } from '@ongoing/core'
import { driveConsent } from '@ongoing/testing'

const access = new OngoingAccess({
  issuer: process.env.ISSUER!,
  client: { id: process.env.CLIENT_ID!, secret: process.env.CLIENT_SECRET! },
  redirectUri: 'http://localhost:3000/auth/callback',
  scope: 'openid offline_access api:read',
  secret: process.env.ONGOING_SECRET!,
})
const { url, transaction } = await access.startConsent({ userKey: 'user-42' })
const callbackUrl = await driveConsent(url, { redirectUriPrefix: 'http://localhost:3000/auth/callback' })

const { userKey, claims } = await access.finishConsent({ callbackUrl, transaction })
claims?.sub // the user's stable identifier at the server

assert.equal(userKey, 'user-42')
assert.equal(claims?.sub, 'alice')
assert.equal(claims?.iss, process.env.ISSUER)
assert.equal(claims?.aud, process.env.CLIENT_ID)
access.close()
