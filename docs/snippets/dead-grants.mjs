// The full form of the guide's "Tell the users whose grant died": two users whose grants die at
// the authorization server (restored from tokens it no longer honours, as after the user revoked
// the app), one before the banner and the mail, one while the event listens. test/snippets runs it
// against a local authorization server (ISSUER, CLIENT_ID, CLIENT_SECRET and ONGOING_SECRET from
// the environment).
import assert from 'node:assert/strict'
import { ConsentRequiredError, OngoingAccess } from '@ongoing/core'

const access = new OngoingAccess({
  issuer: process.env.ISSUER,
  client: { id: process.env.CLIENT_ID, secret: process.env.CLIENT_SECRET },
  redirectUri: 'http://localhost:3000/auth/callback',
  scope: 'offline_access api:read',
  secret: process.env.ONGOING_SECRET,
})
// A refresh token the server does not know: its answer is invalid_grant, and the grant dies.
const dies = async (userKey) => {
  await access.restore(userKey, { accessToken: 'revoked', refreshToken: 'revoked', expiresIn: 0 })
  await assert.rejects(access.getAccessToken(userKey), ConsentRequiredError)
}
await dies('user-1')
const userKey = 'user-1'
const banners = []
const showBanner = (text) => banners.push(text)
const mailed = []
const mailOnce = async (userKey, since) => mailed.push({ userKey, since })
const logged = []
const log = { info: (fields, message) => logged.push({ ...fields, message }) }

// In the web app: say it on the user's next visit.
const info = await access.inspect(userKey)
if (info?.status === 'consent_required') {
  // info.consentRequired: { reason: 'invalid_grant', at, oauthError?, status? }
  showBanner('Your music account was disconnected. Connect it again to keep your library in sync.')
}

// Or in the worker: mail them, once per dead grant.
for await (const grant of access.grants({ status: 'consent_required' })) {
  await mailOnce(grant.userKey, grant.consentRequired.at)
}

// Or as it happens (in the process that found it dead).
access.on('consentRequired', ({ userKey, reason }) => log.info({ userKey, reason }, 'reconnect needed'))

assert.equal(info.consentRequired.reason, 'invalid_grant')
assert.equal(banners.length, 1)
assert.deepEqual(mailed, [{ userKey: 'user-1', since: info.consentRequired.at }])
await dies('user-2')
assert.deepEqual(logged, [{ userKey: 'user-2', reason: 'invalid_grant', message: 'reconnect needed' }])
access.close()
