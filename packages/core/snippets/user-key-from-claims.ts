// The full form of the `userKeyFromClaims` snippet of the README: the grant is stored under the
// user's `sub` at the server, and two consents of the same person are one grant. The user is played
// by the headless consent driver of @ongoing/testing (who signs in as "alice"). test/snippets runs
// it against a local authorization server (ISSUER, CLIENT_ID, CLIENT_SECRET and ONGOING_SECRET from
// the environment).
import assert from 'node:assert/strict'
import { OngoingAccess, type OngoingAccessOptions } from '@ongoing/core'
import { driveConsent } from '@ongoing/testing'

const options: OngoingAccessOptions = {
  issuer: process.env.ISSUER!,
  client: { id: process.env.CLIENT_ID!, secret: process.env.CLIENT_SECRET! },
  redirectUri: 'http://localhost:3000/auth/callback',
  scope: 'offline_access api:read',
  secret: process.env.ONGOING_SECRET!,
}

const access = new OngoingAccess({
  ...options,
  scope: 'openid offline_access api:read',
  userKeyFromClaims: (claims) => claims.sub,
})
const { url, transaction } = await access.startConsent({ returnTo: '/library' }) // no userKey
// … the user consents; the server sends the browser back to callbackUrl
const callbackUrl = await driveConsent(url, { redirectUriPrefix: 'http://localhost:3000/auth/callback' })
const { userKey } = await access.finishConsent({ callbackUrl, transaction }) // 'the-sub'

assert.equal(userKey, 'alice')
// The same person again (another browser): the same key, one grant.
const again = await access.startConsent({ returnTo: '/library' })
const back = await driveConsent(again.url, { redirectUriPrefix: 'http://localhost:3000/auth/callback' })
const second = await access.finishConsent({ callbackUrl: back, transaction: again.transaction })
assert.equal(second.userKey, 'alice')
assert.equal((await access.inspect('alice'))?.status, 'active')
access.close()
