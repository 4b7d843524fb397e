import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { PostgresTokenStore, type PostgresTokenStoreOptions } from '../src/index.js'

/** A table name of its own for each test, so tests never see each other's rows or notifications. */
export function uniqueTable(): string {
  return `t_${randomBytes(6).toString('hex')}`
}

/** Drops the three tables of `table` (on a shared DATABASE_URL, tests clean up after themselves). */
export async function dropTables(url: string, table: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 })
  await client.connect()
  try {
    await client.query(`DROP TABLE IF EXISTS "${table}", "${table}_locks", "${table}_claims"`)
  } finally {
    await client.end()
  }
}

/** A store on a fresh table, migrated. */
export async function migratedStore(
  url: string,
  table: string,
  options: Omit<PostgresTokenStoreOptions, 'connectionString' | 'pool' | 'table'> = {},
): Promise<PostgresTokenStore> {
  const store = new PostgresTokenStore({ connectionString: url, table, ...options })
  await store.migrate()
  return store
}
