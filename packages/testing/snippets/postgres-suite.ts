// The full form of the README's PostgreSQL suite: a test in the place the snippet leaves for one,
// then the file runs under Vitest with the PostgreSQL that test/snippets starts (DATABASE_URL from
// the environment; without it, startPostgresServer creates a throwaway cluster).
// The snippet's imports stand where it has them; imports run first wherever they stand, then the
// statements in order, so the lines above the snippet run before it.
// ../harness.js is test/snippets/harness.ts, written beside this file's folder in the project the test makes.

import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { PostgresTokenStore } from '@ongoing/postgres'
import pg from 'pg'
import { expect, it } from 'vitest'
import { runUnderVitest } from '../harness.js'

// Run with node, this file runs itself under Vitest (as `vitest run` would) and checks what Vitest
// reported: the one test passed.
const reported = await runUnderVitest(import.meta.url)
if (reported !== undefined) {
  assert.deepEqual(reported, [
    { name: 'my PostgreSQL suite > stores a record and reads it back', mode: 'run', state: 'pass' },
  ])
  process.exit(0)
}

const suffix = randomBytes(6).toString('hex')

import { describeWithPostgres, type PostgresServer, startPostgresServer } from '@ongoing/testing'
import { afterAll, beforeAll } from 'vitest'

describeWithPostgres('my PostgreSQL suite', () => {
  let postgres: PostgresServer
  beforeAll(async () => {
    postgres = await startPostgresServer()
  })
  afterAll(() => postgres.close())
  // … new PostgresTokenStore({ connectionString: postgres.url, table: `t_${suffix}` })
  it('stores a record and reads it back', async () => {
    const store = new PostgresTokenStore({ connectionString: postgres.url, table: `t_${suffix}` })
    await store.migrate()
    expect(await store.set('user-42', 'sealed', { expectedVersion: 0 })).toBe(1)
    expect(await store.get('user-42')).toEqual({ value: 'sealed', version: 1 })
    await store.close()
    const client = new pg.Client({ connectionString: postgres.url })
    await client.connect()
    await client.query(`DROP TABLE "t_${suffix}", "t_${suffix}_locks", "t_${suffix}_claims"`)
    await client.end()
  })
})
