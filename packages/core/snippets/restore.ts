// The full form of the `restore` and `revoke` snippet of the README. The tokens "the app held
// before ongoing" come from a consent made by hand (the headless consent driver of @ongoing/testing
// plays the user), put where the snippet reads them; then the snippet runs as it is. test/snippets
// runs it against a local authorization server (ISSUER, CLIENT_ID, CLIENT_SECRET and ONGOING_SECRET
// from the environment).
// The snippet's imports stand where it has them; imports run first wherever they stand, then the
// statements in order, so the lines above the snippet run before it.
// ../harness.js is test/snippets/harness.ts, written beside this file's folder in the project the test makes.

import assert from 'node:assert/strict'
import { tokensFromBefore } from '../harness.js'

const legacy = await tokensFromBefore()
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
