// The full form of the `deadGrantErrors` snippet of the README, against a token endpoint that
// answers every refresh as some servers answer a revoked refresh token: `400 invalid_request`.
// Without the option that is a failed refresh, whose error says what to do; with it, the grant is
// dead and the user must consent again. The endpoint is a local one (the test authorization server
// answers `invalid_grant`, as RFC 6749 says); ONGOING_SECRET comes from the environment.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  ConsentRequiredError,
  isOngoingAccessError,
  OngoingAccess,
  type OngoingAccessOptions,
} from '@ongoing/core'

let tokenCalls = 0
const server = createServer((_req, res) => {
  tokenCalls++
  res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'invalid_request' }))
})
server.listen(0, '127.0.0.1')
await once(server, 'listening')
const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
const options: OngoingAccessOptions = {
  issuer,
  endpoints: { authorization: `${issuer}/authorize`, token: `${issuer}/token` },
  client: { id: 'my-app', secret: 'my-app-secret' },
  redirectUri: 'http://localhost:3000/auth/callback',
  scope: 'offline_access api:read',
  secret: process.env.ONGOING_SECRET!,
}
// A grant whose access token has expired: the next call refreshes it.
const expired = { accessToken: 'an-old-access-token', refreshToken: 'a-refresh-token', expiresIn: 0 }

// Without the option: a failed refresh.
const before = new OngoingAccess(options)
await before.restore('user-42', expired)
const failed = await before.getAccessToken('user-42').then(
  () => assert.fail('getAccessToken resolved'),
  (err: unknown) => err,
)
assert.ok(isOngoingAccessError(failed))
assert.equal(failed.code, 'ERR_TOKEN_ENDPOINT')
assert.ok(!(failed instanceof ConsentRequiredError))
assert.match(failed.message, /add "invalid_request" to the `deadGrantErrors` option/)
assert.equal((await before.inspect('user-42'))?.status, 'failing')
before.close()

const access = new OngoingAccess({ ...options, deadGrantErrors: ['invalid_request'] })

await access.restore('user-42', expired)
const dead = await access.getAccessToken('user-42').then(
  () => assert.fail('getAccessToken resolved'),
  (err: unknown) => err,
)
assert.ok(dead instanceof ConsentRequiredError)
assert.equal(dead.reason, 'invalid_grant')
assert.equal(dead.oauthError, 'invalid_request')
assert.equal((await access.inspect('user-42'))?.status, 'consent_required')
assert.ok(tokenCalls >= 2, `token calls: ${tokenCalls}`)
access.close()
server.close()
