// The full form of the keeper snippet of the README: a grant whose access token has expired is
// refreshed by the keeper's walk, before any request needs it. The grant is imported with tokens
// from a consent made without ongoing (the headless consent driver of @ongoing/testing plays the
// user). test/snippets runs it against a local authorization server (ISSUER, CLIENT_ID,
// CLIENT_SECRET and ONGOING_SECRET from the environment).
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { OngoingAccess } from '@ongoing/core'
import { driveConsent } from '@ongoing/testing'

const access = new OngoingAccess({
  issuer: process.env.ISSUER!,
  client: { id: process.env.CLIENT_ID!, secret: process.env.CLIENT_SECRET! },
  redirectUri: 'http://localhost:3000/auth/callback',
  scope: 'offline_access api:read',
  secret: process.env.ONGOING_SECRET!,
})
const tokens = await consentWithoutOngoing()
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

/** An authorization code grant made by hand (RFC 6749 §4.1, PKCE): tokens ongoing did not get. */
async function consentWithoutOngoing() {
  const issuer = process.env.ISSUER!
  const redirectUri = 'http://127.0.0.1:3000/callback'
  const verifier = randomBytes(32).toString('base64url')
  const authorize = new URL('/auth', issuer)
  authorize.search = new URLSearchParams({
    response_type: 'code',
    client_id: process.env.CLIENT_ID!,
    redirect_uri: redirectUri,
    scope: 'offline_access api:read',
    state: randomBytes(16).toString('base64url'),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  }).toString()
  const callback = await driveConsent(authorize, { redirectUriPrefix: redirectUri })
  const response = await fetch(new URL('/token', issuer), {
    method: 'POST',
    headers: {
      authorization: `Basic ${btoa(`${process.env.CLIENT_ID}:${process.env.CLIENT_SECRET}`)}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: callback.searchParams.get('code')!,
      redirect_uri: redirectUri,
      code_verifier: verifier,
    }),
  })
  assert.equal(response.status, 200)
  return (await response.json()) as { access_token: string; refresh_token: string }
}
