// The shared stores the example apps switch to with one environment variable: REDIS_URL (Redis, a
// key prefix per app, `genrefy-express:`) or DATABASE_URL (PostgreSQL, tables per app,
// `genrefy_express_grants`). What the examples' HTTP tests need of each: a server, the app's store
// as another instance of the app opens it, and cleaning up after the app.
import type { TokenStore } from '@ongoing/core'
import { Sealer } from '@ongoing/core/adapter'
import { PostgresTokenStore } from '@ongoing/postgres'
import { RedisTokenStore } from '@ongoing/redis'
import {
  describeWithPostgres,
  describeWithRedis,
  startPostgresServer,
  startRedisServer,
} from '@ongoing/testing'
import pg from 'pg'
import { expect } from 'vitest'

/** A running Redis or PostgreSQL for the example apps. */
export interface ExampleStoreServer {
  /** Its URL: `redis://…` or `postgres://…`. */
  readonly url: string
  /** The app's environment for this store: `{ REDIS_URL }` or `{ DATABASE_URL }`. */
  readonly env: Record<string, string>
  /** The store of app `slug` (`express`, `digime`, …), opened as another instance of the app opens it. */
  open(slug: string): TokenStore & { close(): Promise<void> }
  /** Removes what app `slug` stored (its keys, or its tables): a shared Redis or database is left clean. */
  clear(slug: string): Promise<void>
  close(): Promise<void>
}

/** One of the shared stores. */
export interface ExampleStore {
  /** For test names: `Redis`, `PostgreSQL`. */
  readonly name: string
  /** The variable the apps read: `REDIS_URL`, `DATABASE_URL`. */
  readonly variable: 'REDIS_URL' | 'DATABASE_URL'
  /** `describe` that skips (or, under CI, fails) when this store cannot be had here. */
  describe(name: string, suite: () => void): void
  start(): Promise<ExampleStoreServer>
}

/** The tables of app `slug` in PostgreSQL: the records table, its `_locks` and `_claims`. */
export const exampleTable = (slug: string) => `genrefy_${slug}_grants`

export const exampleStores: readonly ExampleStore[] = [
  {
    name: 'Redis',
    variable: 'REDIS_URL',
    describe: describeWithRedis,
    async start() {
      const redis = await startRedisServer()
      const prefix = (slug: string) => `genrefy-${slug}:`
      return {
        url: redis.url,
        env: { REDIS_URL: redis.url },
        open: (slug) => new RedisTokenStore({ url: redis.url, keyPrefix: prefix(slug) }),
        clear: async (slug) => {
          await redis.deleteKeys(prefix(slug))
        },
        close: () => redis.close(),
      }
    },
  },
  {
    name: 'PostgreSQL',
    variable: 'DATABASE_URL',
    describe: describeWithPostgres,
    async start() {
      const postgres = await startPostgresServer()
      return {
        url: postgres.url,
        env: { DATABASE_URL: postgres.url },
        open: (slug) => new PostgresTokenStore({ connectionString: postgres.url, table: exampleTable(slug) }),
        clear: async (slug) => {
          const table = exampleTable(slug)
          await query(postgres.url, `DROP TABLE IF EXISTS "${table}", "${table}_locks", "${table}_claims"`)
        },
        close: () => postgres.close(),
      }
    },
  },
]

/** Runs one statement on its own connection. */
async function query<Row extends pg.QueryResultRow>(url: string, text: string): Promise<Row[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 })
  await client.connect()
  try {
    return (await client.query<Row>(text)).rows
  } finally {
    await client.end()
  }
}

/**
 * Checks app `slug`'s grants at rest in PostgreSQL: its table holds a row for each of `userKeys`'
 * grants (and no other grant), each value sealed with the app's `secret` (it opens, to a record with
 * a refresh token, and is no JSON in clear), and no column of the app's three tables holds any of
 * those tokens, nor any of `tokens`, raw, base64, base64url or hex.
 */
export async function expectGrantsSealedInTable(
  url: string,
  slug: string,
  options: { secret: string; userKeys: readonly string[]; tokens?: readonly string[] },
): Promise<void> {
  const table = exampleTable(slug)
  const rows = await query<{ key: string; value: Buffer }>(
    url,
    `SELECT key, value FROM "${table}" ORDER BY key`,
  )
  const grants = rows.filter((row) => row.key.startsWith('grant:'))
  expect(grants.map((row) => row.key.slice(row.key.lastIndexOf(':') + 1)).sort()).toEqual(
    [...options.userKeys].sort(),
  )

  const sealer = new Sealer([options.secret])
  const tokens = [...(options.tokens ?? [])]
  for (const { key, value } of grants) {
    const sealed = value.toString('utf8')
    expect(sealed.trimStart().startsWith('{'), `the record of ${key} in clear`).toBe(false)
    const opened = sealer.open('token-store', sealed, key)
    expect(opened, `the record of ${key} opens with the app's secret`).toBeDefined()
    const record = JSON.parse(opened!) as { at?: unknown; rt?: unknown }
    expect(typeof record.at).toBe('string')
    expect(typeof record.rt).toBe('string')
    tokens.push(record.at as string, record.rt as string)
  }

  const everything: string[] = []
  for (const suffix of ['', '_locks', '_claims']) {
    for (const row of await query(url, `SELECT * FROM "${table}${suffix}"`))
      for (const column of Object.values(row))
        everything.push(Buffer.isBuffer(column) ? column.toString('latin1') : String(column))
  }
  const stored = everything.join('\n')
  for (const token of tokens) {
    const raw = Buffer.from(token, 'utf8')
    for (const form of [token, raw.toString('base64'), raw.toString('base64url'), raw.toString('hex')])
      expect(stored.includes(form), 'a token in the table').toBe(false)
  }
}
