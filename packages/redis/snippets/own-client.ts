// The full form of the README's snippet with a client of your own: the store on that client, used
// by two OngoingAccess instances (two processes, say) through one consent, a refresh shared through
// the store, and a disconnect. The user is played by the headless consent driver of
// @ongoing/testing. test/snippets runs it against a local authorization server and a real Redis
// (ISSUER, CLIENT_ID, CLIENT_SECRET, ONGOING_SECRET and REDIS_URL from the environment).
import assert from 'node:assert/strict'
import { OngoingAccess } from '@ongoing/core'
import { RedisTokenStore } from '@ongoing/redis'
import { Redis } from 'ioredis'

const client = new Redis(process.env.REDIS_URL!, {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  commandTimeout: 1000,
})
const store = new RedisTokenStore({ client, keyPrefix: 'myapp:ongoing:' })

await store.ready()
const { driveConsent } = await import('@ongoing/testing')
const options = {
  issuer: process.env.ISSUER!,
  client: { id: process.env.CLIENT_ID!, secret: process.env.CLIENT_SECRET! },
  redirectUri: 'http://localhost:3000/auth/callback',
  scope: 'offline_access api:read',
  secret: process.env.ONGOING_SECRET!,
  store,
}
const one = new OngoingAccess(options)
const other = new OngoingAccess(options)

const { url, transaction } = await one.startConsent({ userKey: 'user-42' })
const callbackUrl = await driveConsent(url, { redirectUriPrefix: 'http://localhost:3000/auth/callback' })
await one.finishConsent({ callbackUrl, transaction })
// The other instance finds the grant in Redis, and its forced refresh is the one both then use.
const token = await other.getAccessToken('user-42')
const refreshed = await other.getAccessToken('user-42', { forceRefresh: true })
assert.equal(refreshed.refreshed, true)
assert.notEqual(refreshed.value, token.value)
const grants: string[] = []
for await (const grant of one.grants()) grants.push(grant.userKey)
assert.deepEqual(grants, ['user-42'])
// Nothing of the token in Redis: the record is sealed.
const keys = await keysOf('myapp:ongoing:*')
assert.ok(keys.length > 0)
for (const key of keys) {
  if ((await client.type(key)) !== 'hash') continue
  assert.ok(!JSON.stringify(await client.hgetall(key)).includes(refreshed.value))
}
const { revokedAtServer } = await one.revoke('user-42')
assert.equal(revokedAtServer, true)
assert.equal(await other.inspect('user-42'), undefined)

one.close()
other.close()
await store.close()
for (const key of await keysOf('myapp:ongoing:*')) await client.del(key)
// The store never closes a client it was given.
assert.equal(client.status, 'ready')
await client.quit()

/** The keys that match `pattern`, by SCAN (never KEYS on a shared Redis). */
async function keysOf(pattern: string): Promise<string[]> {
  const keys: string[] = []
  for await (const batch of client.scanStream({ match: pattern, count: 1000 }))
    keys.push(...(batch as string[]))
  return keys
}
