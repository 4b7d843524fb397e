// The full form of "Reading an error": an app whose client secret the authorization server does
// not accept (rotated there, say) and a grant that needs a refresh, so getAccessToken fails at the
// token endpoint. test/snippets runs it against a local authorization server (ISSUER, CLIENT_ID
// and ONGOING_SECRET from the environment).
import assert from 'node:assert/strict'
import { OngoingAccess } from '@ongoing/core'

const access = new OngoingAccess({
  issuer: process.env.ISSUER,
  client: { id: process.env.CLIENT_ID, secret: 'not-the-secret-the-server-knows' },
  redirectUri: 'http://localhost:3000/auth/callback',
  scope: 'offline_access api:read',
  secret: process.env.ONGOING_SECRET,
})
const userKey = 'user-42'
await access.restore(userKey, { accessToken: 'expired', refreshToken: 'some-refresh-token', expiresIn: 0 })
let caught

import { ConsentRequiredError, isOngoingAccessError } from '@ongoing/core'

try {
  await access.getAccessToken(userKey)
} catch (err) {
  if (!isOngoingAccessError(err)) throw err
  err.code // 'ERR_TOKEN_ENDPOINT', …: branch on this, never on the message
  if (err instanceof ConsentRequiredError) err.reason // 'no_grant', 'unreadable', 'invalid_grant', 'no_refresh_token'
  err.status // the authorization server's HTTP status, when its answer caused the error
  err.oauthError // its RFC 6749 `error`, e.g. 'invalid_client'
  err.oauthErrorDescription // its `error_description`: untrusted text, escape it before showing it
  err.retryAfterMs // its Retry-After, in ms
  err.outcomeUnknown // true when the request may have been processed though no usable answer came back
  err.cause // the underlying network or store error
  // …
  caught = err
}

assert.equal(caught.code, 'ERR_TOKEN_ENDPOINT')
assert.equal(caught instanceof ConsentRequiredError, false)
assert.equal(caught.status, 401)
assert.equal(caught.oauthError, 'invalid_client')
assert.equal(caught.outcomeUnknown, false)
// Logged whole, it holds no secret and no token.
const logged = JSON.stringify({ ...caught, message: caught.message, stack: caught.stack })
for (const secret of ['not-the-secret-the-server-knows', 'some-refresh-token', process.env.ONGOING_SECRET]) {
  assert.equal(logged.includes(secret), false)
}
access.close()
