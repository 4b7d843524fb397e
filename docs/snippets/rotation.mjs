// The full form of the checklist's steps 3 and 4 of a secret rotation, against a server: two users
// consented under the old secret; under [newSecret, oldSecret], the forced refreshes rewrite both
// grants, and the check under the new secret alone finds none it cannot open. test/snippets runs
// it against a local authorization server (ISSUER, CLIENT_ID, CLIENT_SECRET and ONGOING_SECRET,
// the old secret here, from the environment).
import assert from 'node:assert/strict'
import { MemoryTokenStore, OngoingAccess } from '@ongoing/core'
import { driveConsent } from '@ongoing/testing'

const oldSecret = process.env.ONGOING_SECRET
const newSecret = `${oldSecret}-next`
const store = new MemoryTokenStore()
const options = {
  issuer: process.env.ISSUER,
  client: { id: process.env.CLIENT_ID, secret: process.env.CLIENT_SECRET },
  redirectUri: 'http://localhost:3000/auth/callback',
  scope: 'offline_access api:read',
  store,
}
const before = new OngoingAccess({ ...options, secret: oldSecret })
for (const userKey of ['alice', 'bob']) {
  const { url, transaction } = await before.startConsent({ userKey })
  const callbackUrl = await driveConsent(url, { redirectUriPrefix: options.redirectUri })
  await before.finishConsent({ callbackUrl, transaction })
}
before.close()
const unreadableUnderNewSecret = async () => {
  const alone = new OngoingAccess({ ...options, secret: newSecret })
  const keys = []
  for await (const grant of alone.grants({ status: 'consent_required' }))
    if (grant.consentRequired?.reason === 'unreadable') keys.push(grant.userKey)
  alone.close()
  return keys.sort()
}
assert.deepEqual(await unreadableUnderNewSecret(), ['alice', 'bob'])
const access = new OngoingAccess({ ...options, secret: [newSecret, oldSecret] })
const refreshed = []
access.on('refresh', ({ userKey }) => refreshed.push(userKey))

// access is configured with secret: [newSecret, oldSecret]
for await (const { userKey } of access.grants({ status: ['active', 'failing'] })) {
  await access.getAccessToken(userKey, { forceRefresh: true }).catch(() => {}) // refreshError says why
}

const check = new OngoingAccess({ ...options, secret: newSecret, store }) // same issuer, client, store
let left = 0
for await (const grant of check.grants({ status: 'consent_required' })) {
  if (grant.consentRequired?.reason === 'unreadable') left++
}
check.close()
console.log(`${left} records do not open under the new secret alone`)

assert.deepEqual(refreshed.sort(), ['alice', 'bob'])
assert.equal(left, 0)
access.close()
