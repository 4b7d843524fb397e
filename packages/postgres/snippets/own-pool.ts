// The full form of the README's snippet with a pool of your own: the store on that pool, in a
// schema of its own, used by two OngoingAccess instances (two processes, say) through one consent,
// a refresh shared through the store, and a disconnect. The user is played by the headless consent
// driver of @ongoing/testing. test/snippets runs it against a local authorization server and a
// real PostgreSQL (ISSUER, CLIENT_ID, CLIENT_SECRET, ONGOING_SECRET and DATABASE_URL from the
// environment).
import assert from 'node:assert/strict'
import { OngoingAccess } from '@ongoing/core'
import { PostgresTokenStore } from '@ongoing/postgres'
import pg from 'pg'

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, connectionTimeoutMillis: 1_000 })
pool.on('error', (err) => console.error('idle connection failed', err.message))
const store = new PostgresTokenStore({ pool, schema: 'auth', table: 'oauth_grants' })
// store.close() leaves `pool` open: end it yourself.

await pool.query('CREATE SCHEMA IF NOT EXISTS auth') // the schema must exist
await store.migrate()
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
// The other instance finds the grant in the table, and its forced refresh is the one both then use.
const token = await other.getAccessToken('user-42')
const refreshed = await other.getAccessToken('user-42', { forceRefresh: true })
assert.equal(refreshed.refreshed, true)
assert.notEqual(refreshed.value, token.value)
const grants: string[] = []
for await (const grant of one.grants()) grants.push(grant.userKey)
assert.deepEqual(grants, ['user-42'])
// Nothing of the token in the table: the record is sealed.
const { rows } = await pool.query('SELECT key, encode(value, $1) AS value FROM auth.oauth_grants', ['escape'])
assert.equal(rows.length, 1)
assert.ok(!JSON.stringify(rows).includes(refreshed.value))
const { revokedAtServer } = await one.revoke('user-42')
assert.equal(revokedAtServer, true)
assert.equal(await other.inspect('user-42'), undefined)

one.close()
other.close()
await store.close()
// The store never ends a pool it was given.
assert.equal((await pool.query('SELECT 1 AS one')).rows[0].one, 1)
await pool.query('DROP SCHEMA auth CASCADE')
await pool.end()
