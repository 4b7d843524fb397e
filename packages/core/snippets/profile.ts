// The full form of the profile snippet of the README: an access built on the digi.me profile, and
// the constructor refusing the standard profile's options next to a `profile`. It makes no call:
// the profile's default URLs are digi.me's real API (the digi.me README's snippets run against
// the stand-in of @ongoing/testing). ONGOING_SECRET comes from the environment.
// The snippet's imports stand where it has them; imports run first wherever they stand, then the
// statements in order, so the lines above the snippet run before it.
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { OngoingAccess } from '@ongoing/core'

// The contract: its ids, and its RSA key as digi.me's developer console gives it (PKCS#8 PEM).
const applicationId = 'my-application'
const contractId = 'my-contract'
const privateKey = generateKeyPairSync('rsa', { modulusLength: 2048 })
  .privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString()

import { digiMe } from '@ongoing/digime'

const access = new OngoingAccess({
  profile: digiMe({ applicationId, contractId, privateKey }),
  redirectUri: 'https://app.example.com/auth/callback',
  secret: process.env.ONGOING_SECRET!,
})

assert.ok(access instanceof OngoingAccess)
// With a profile, the options that describe a standard server and client are refused.
for (const extra of [
  { issuer: 'https://as.example.com' },
  { client: { id: 'my-app', secret: 'a-secret' } },
  { deadGrantErrors: ['invalid_request'] },
  { dpop: true },
]) {
  assert.throws(
    () =>
      new OngoingAccess({
        profile: digiMe({ applicationId, contractId, privateKey }),
        redirectUri: 'https://app.example.com/auth/callback',
        secret: process.env.ONGOING_SECRET!,
        ...extra,
      }),
    TypeError,
    Object.keys(extra)[0],
  )
}
access.close()
