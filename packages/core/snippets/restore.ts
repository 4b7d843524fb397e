// The full form of the `restore` and `revoke` snippet of the README. The tokens "the app held
// before ongoing" come from a consent made by hand (the headless consent driver of @ongoing/testing
// plays the user), put where the snippet reads them; then the snippet runs as it is. test/snippets
// runs it against a local authorization server (ISSUER, CLIENT_ID, CLIENT_SECRET and ONGOING_SECRET
// from the environment).
// The snippet's imports stand where it has them; imports run first wherever they stand, then the
// statements in order, so the lines above the snippet run before it.
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'

const legacy = await consentWithoutOngoing()
process.env.LEGACY_ACCESS_TOKEN = legacy.access_token
process.env.LEGACY_REFRESH_TOKEN = legacy.refresh_token
// What the snippet prints, kept to be checked.
const printed: unknown[][] = []
const log = console.log
console.log = (...args: unknown[]) => {
  printed.push(args)
  log(...args)
}

import { OngoingAccess } from '@ongoing/core'

const access = new OngoingAccess({
  issuer: process.env.ISSUER!, // e.g. https://as.example.com
  client: { id: process.env.CLIENT_ID!, secret: process.env.CLIENT_SECRET! },
  redirectUri: 'https://app.example.com/auth/callback',
  scope: 'offline_access api:read',
  secret: process.env.ONGOING_SECRET!,
})

// Tokens the app held before ongoing, imported as user-42's grant (no call to the server).
await access.restore('user-42', {
  accessToken: process.env.LEGACY_ACCESS_TOKEN!,
  refreshToken: process.env.LEGACY_REFRESH_TOKEN!,
  expiresIn: 0, // expiry unknown: refreshed at first use
  scope: 'offline_access api:read',
})
console.log(await access.inspect('user-42')) // { userKey: 'user-42', status: 'active', … }

// user-42 disconnects: revoked at the server when it can, forgotten here in any case.
const { revokedAtServer } = await access.revoke('user-42')
console.log(revokedAtServer, await access.inspect('user-42')) // true undefined

assert.equal(printed.length, 2)
const { userKey, status, scope, failures } = (printed[0]?.[0] ?? {}) as Record<string, unknown>
assert.deepEqual(
  { userKey, status, scope, failures },
  {
    userKey: 'user-42',
    status: 'active',
    scope: 'offline_access api:read',
    failures: 0,
  },
)
assert.deepEqual(printed[1], [true, undefined])
// Revoked at the server: the refresh token no longer works there.
const refresh = await fetch(new URL('/token', process.env.ISSUER), {
  method: 'POST',
  headers: {
    authorization: `Basic ${btoa(`${process.env.CLIENT_ID}:${process.env.CLIENT_SECRET}`)}`,
    'content-type': 'application/x-www-form-urlencoded',
  },
  body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: legacy.refresh_token }),
})
assert.equal(refresh.status, 400)
assert.equal(((await refresh.json()) as { error: string }).error, 'invalid_grant')
access.close()

/** An authorization code grant made by hand (RFC 6749 §4.1, PKCE): tokens ongoing did not get. */
async function consentWithoutOngoing() {
  const { driveConsent } = await import('@ongoing/testing')
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
