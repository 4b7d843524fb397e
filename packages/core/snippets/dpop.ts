// The full form of the DPoP snippet of the README: a consent whose tokens are bound to a key of the
// grant, then an API call that carries the token as `DPoP` with a proof. The user is played by the
// headless consent driver of @ongoing/testing. test/snippets runs it against a local authorization
// server that offers DPoP (ISSUER, CLIENT_ID, CLIENT_SECRET, ONGOING_SECRET and API_URL from the
// environment).
import assert from 'node:assert/strict'
import { OngoingAccess, type OngoingAccessOptions } from '@ongoing/core'
import { driveConsent } from '@ongoing/testing'

const api = process.env.API_URL!
// The headers of the API calls, as they left.
const apiCalls: Headers[] = []
const options: OngoingAccessOptions = {
  fetch: async (input, init) => {
    const request = new Request(input, init)
    if (request.url.startsWith(api)) apiCalls.push(request.headers)
    return fetch(request)
  },
  issuer: process.env.ISSUER!,
  client: { id: process.env.CLIENT_ID!, secret: process.env.CLIENT_SECRET! },
  redirectUri: 'http://localhost:3000/auth/callback',
  scope: 'offline_access api:read',
  secret: process.env.ONGOING_SECRET!,
}
const userKey = 'user-42'

const access = new OngoingAccess({ ...options, dpop: true }) // RFC 9449
// … the user consents (startConsent, then finishConsent on the callback)
const { url, transaction } = await access.startConsent({ userKey })
const callbackUrl = await driveConsent(url, { redirectUriPrefix: 'http://localhost:3000/auth/callback' })
await access.finishConsent({ callbackUrl, transaction })
const res = await access.fetch(userKey, `${api}/me/history`)
// Authorization: DPoP <token>, DPoP: <a proof of this request>

assert.equal(res.status, 200)
assert.equal((await access.getAccessToken(userKey)).tokenType, 'DPoP')
assert.equal(apiCalls.length, 1)
assert.match(apiCalls[0]?.get('authorization') ?? '', /^DPoP /)
assert.match(apiCalls[0]?.get('dpop') ?? '', /^[\w-]+\.[\w-]+\.[\w-]+$/)
access.close()
