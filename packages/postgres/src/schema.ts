import { createHash } from 'node:crypto'

/** Where {@link PostgresTokenStore} keeps its tables; see {@link postgresSchemaSql}. */
export interface PostgresTableOptions {
  /**
   * The records table. The lock and claim tables are named after it (`<table>_locks`,
   * `<table>_claims`). Letters, digits and `_`, starting with a letter or `_`, at most 48
   * characters. Default: `'ongoing_grants'`.
   */
  table?: string
  /** The schema of the three tables (it must exist). Same rules as `table`. Default: `'public'`. */
  schema?: string
}

/** The quoted, qualified names of the store's tables and its notification channel. */
export interface PostgresNames {
  readonly records: string
  readonly locks: string
  readonly claims: string
  /** The `LISTEN` channel: a name derived from schema and table, under 63 bytes. */
  readonly channel: string
}

export const DEFAULT_TABLE = 'ongoing_grants'
export const DEFAULT_SCHEMA = 'public'
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,47}$/

/** Validates `table` and `schema` and returns the quoted names the store uses. */
export function postgresNames(options: PostgresTableOptions = {}): PostgresNames {
  const { table = DEFAULT_TABLE, schema = DEFAULT_SCHEMA } = options
  if (typeof table !== 'string' || !IDENTIFIER.test(table))
    throw new TypeError(
      'ongoing: Postgres `table` must be letters, digits and _ (at most 48, not starting with a digit)',
    )
  if (typeof schema !== 'string' || !IDENTIFIER.test(schema))
    throw new TypeError(
      'ongoing: Postgres `schema` must be letters, digits and _ (at most 48, not starting with a digit)',
    )
  const qualified = (name: string) => `"${schema}"."${name}"`
  return {
    records: qualified(table),
    locks: qualified(`${table}_locks`),
    claims: qualified(`${table}_claims`),
    channel: `ongoing_${createHash('sha256').update(`${schema}.${table}`).digest('hex').slice(0, 32)}`,
  }
}

/**
 * The SQL that creates the store's three tables (idempotent: `CREATE TABLE IF NOT EXISTS`), for
 * an app that runs its own migrations (Prisma, Drizzle, Knex, Flyway, plain SQL files).
 * {@link PostgresTokenStore.migrate} runs the same SQL. It needs the `CREATE` privilege on the
 * schema, nothing more (no superuser, no extension).
 *
 * The tables, for the default names:
 * - `ongoing_grants (key text COLLATE "C" PRIMARY KEY, value bytea, version bigint, expires_at timestamptz)`:
 *   one row per record. `value` is what `OngoingAccess` stores (encrypted unless
 *   `encryptTokens: false`), as UTF-8 bytes. `expires_at` is on the database's clock; a row past it
 *   is treated as absent.
 * - `ongoing_grants_locks (key text COLLATE "C" PRIMARY KEY, token text, expires_at timestamptz)`:
 *   the refresh leases: the holder's random token and when the lease ends (database clock).
 * - `ongoing_grants_claims (id text COLLATE "C" PRIMARY KEY, expires_at timestamptz)`: single-use claims.
 *
 * Expired rows are ignored, replaced when their key is written again, and removed by
 * {@link PostgresTokenStore.purgeExpired}.
 *
 * @param options - `table` and `schema`, as given to the store.
 * @throws {TypeError} when a name is not a plain identifier.
 * @example
 * ```ts
 * import { postgresSchemaSql } from '@ongoing/postgres'
 *
 * // Paste the output into a migration file, or run it from one:
 * console.log(postgresSchemaSql({ table: 'ongoing_grants', schema: 'public' }))
 * ```
 */
export function postgresSchemaSql(options: PostgresTableOptions = {}): string {
  const { records, locks, claims } = postgresNames(options)
  const { table = DEFAULT_TABLE } = options
  return `CREATE TABLE IF NOT EXISTS ${records} (
  key text COLLATE "C" PRIMARY KEY,
  value bytea NOT NULL,
  version bigint NOT NULL,
  expires_at timestamptz
);
CREATE INDEX IF NOT EXISTS "${table}_expires_at" ON ${records} (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS ${locks} (
  key text COLLATE "C" PRIMARY KEY,
  token text NOT NULL,
  expires_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS ${claims} (
  id text COLLATE "C" PRIMARY KEY,
  expires_at timestamptz NOT NULL
);
`
}
