import {
  describeWithPostgres,
  type PostgresServer,
  runTokenStoreConformance,
  startPostgresServer,
} from '@ongoing/testing'
import pg from 'pg'
import { afterAll, beforeAll } from 'vitest'
import { PostgresTokenStore } from '../src/index.js'
import { dropTables, migratedStore, uniqueTable } from './helpers.js'

describeWithPostgres('PostgresTokenStore conformance', () => {
  let postgres: PostgresServer
  beforeAll(async () => {
    postgres = await startPostgresServer()
  }, 60_000)
  afterAll(async () => {
    await postgres?.close()
  })

  // Each test gets tables of its own, so tests never see each other's rows or notifications.
  runTokenStoreConformance(
    'PostgresTokenStore({ connectionString })',
    async () => {
      const table = uniqueTable()
      return {
        store: await migratedStore(postgres.url, table),
        connect: async () => new PostgresTokenStore({ connectionString: postgres.url, table }),
        cleanup: () => dropTables(postgres.url, table),
      }
    },
    { complete: true },
  )

  runTokenStoreConformance(
    'PostgresTokenStore({ pool })',
    async () => {
      const table = uniqueTable()
      const pools = [
        new pg.Pool({ connectionString: postgres.url, max: 4, connectionTimeoutMillis: 1_000 }),
        new pg.Pool({ connectionString: postgres.url, max: 4, connectionTimeoutMillis: 1_000 }),
      ]
      const store = new PostgresTokenStore({ pool: pools[0]!, table })
      await store.migrate()
      return {
        store,
        connect: async () => new PostgresTokenStore({ pool: pools[1]!, table }),
        cleanup: async () => {
          for (const pool of pools) await pool.end()
          await dropTables(postgres.url, table)
        },
      }
    },
    { complete: true },
  )
})
