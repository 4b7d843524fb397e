import { randomBytes } from 'node:crypto'
import type {
  TokenStore,
  TokenStoreEntry,
  TokenStoreListOptions,
  TokenStoreListPage,
  TokenStoreLock,
  TokenStoreSetOptions,
} from '@ongoing/core'
import pg from 'pg'
import { type PostgresNames, type PostgresTableOptions, postgresNames, postgresSchemaSql } from './schema.js'

/** Options of {@link PostgresTokenStore}: give `connectionString` or `pool`, not both. */
export interface PostgresTokenStoreOptions extends PostgresTableOptions {
  /**
   * A connection string (`postgres://user:password@host:5432/db`). The store opens a pool of its
   * own (at most `max` connections), set up to fail fast: connecting times out after
   * `commandTimeoutMs` (at least 1 s), every statement after `commandTimeoutMs`
   * (`statement_timeout` on the server and a timer on the client). `close()` ends it.
   */
  connectionString?: string
  /**
   * A `pg.Pool` you own. The store borrows one connection per call and never ends the pool. It
   * opens one connection of its own for `LISTEN`, with the pool's connection settings (see
   * `listenConnection`), so notifications never hold one of your pool's connections. Every call is
   * bounded by the store's own timer whatever the pool's options; also give the pool
   * `connectionTimeoutMillis` so a waiting call does not hold a slot for long.
   */
  pool?: pg.Pool
  /**
   * Further settings of the pool opened from `connectionString` (`ssl`, `max`, …). Default `max`: 10.
   */
  poolConfig?: Omit<pg.PoolConfig, 'connectionString'>
  /**
   * Settings of the dedicated `LISTEN` connection. Default: those of the pool (its
   * `connectionString`, or the pool's own options when you give `pool`). `false`: no `LISTEN`
   * connection; listeners then hear only this store object's writes, and other processes' writes
   * are found by `OngoingAccess`'s polling.
   */
  listenConnection?: pg.ClientConfig | false
  /**
   * How often the `LISTEN` connection is checked with `SELECT 1`; one that does not answer within
   * `max(commandTimeoutMs, 1000)` ms is replaced. A socket whose peer vanished (a network partition,
   * a failover) may never report an error by itself. Default: 10,000 ms.
   */
  listenHeartbeatMs?: number
  /**
   * How long one call may take before it fails. Default: 800 ms, under the 1,000 ms that
   * `OngoingAccess` allows each store call (`storeTimeoutMs`), so the store's own error is the one
   * you see.
   */
  commandTimeoutMs?: number
}

/** A refresh lease held in PostgreSQL. */
export interface PostgresTokenStoreLock extends TokenStoreLock {
  /**
   * Extends the lease to `ttlMs` from now (database clock), if this holder still holds it.
   *
   * @returns `true` when extended, `false` when the lease was lost (expired or taken).
   */
  extend(ttlMs: number): Promise<boolean>
}

const DEFAULT_COMMAND_TIMEOUT_MS = 800
const MAX_LIST_LIMIT = 1_000
/** `pg_notify`'s payload must be under 8,000 bytes: the origin and separator take 13. */
const MAX_KEY_BYTES = 7_900
const LISTEN_BACKOFF_MIN_MS = 50
const LISTEN_BACKOFF_MAX_MS = 2_000
const DEFAULT_LISTEN_HEARTBEAT_MS = 10_000

type Queryable = Pick<pg.PoolClient, 'query' | 'release'>

/**
 * A token store in PostgreSQL, for apps that already run it: compare-and-set writes on a version
 * column, a fenced refresh lease (a row with a random token and an expiry on the database's clock)
 * that only its holder can release or extend and that every write under it checks in the same
 * statement, change notification with `LISTEN/NOTIFY` (each write notifies in its own statement, so
 * a listener never hears of a write it cannot read yet), single-use claims, and listing by key
 * prefix (keyset pagination on the primary key).
 *
 * Every call fails within `commandTimeoutMs` when the database is unreachable or stalled, with an
 * error that names the operation and never a value; nothing is retried or queued for later. No
 * session state is used (no advisory locks, no prepared transactions), so any pool, PgBouncer in
 * transaction mode included, can serve the calls. The `LISTEN` connection is the store's own: it
 * reconnects by itself with backoff, and while it is down `OngoingAccess` finds changes by polling.
 *
 * Create the tables first with {@link PostgresTokenStore.migrate} or, in your own migrations, with
 * the SQL of {@link postgresSchemaSql}. A call on a missing table fails with an error saying so.
 *
 * @example
 * ```ts
 * import { OngoingAccess } from '@ongoing/core'
 * import { PostgresTokenStore } from '@ongoing/postgres'
 *
 * const store = new PostgresTokenStore({ connectionString: process.env.DATABASE_URL })
 * await store.migrate()
 * const access = new OngoingAccess({ ...options, store })
 * // … on shutdown:
 * access.close()
 * await store.close()
 * ```
 * @example With the app's own pool:
 * ```ts
 * import pg from 'pg'
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, connectionTimeoutMillis: 1_000 })
 * const store = new PostgresTokenStore({ pool, schema: 'auth', table: 'oauth_grants' })
 * // store.close() leaves `pool` open: the app ends it.
 * ```
 */
export class PostgresTokenStore implements TokenStore {
  /** The quoted table names and the notification channel. */
  readonly names: PostgresNames
  readonly #options: PostgresTableOptions
  readonly #pool: pg.Pool
  readonly #ownsPool: boolean
  readonly #commandTimeoutMs: number
  readonly #listenConfig: pg.ClientConfig | false
  readonly #listenHeartbeatMs: number
  readonly #origin = randomBytes(9).toString('base64url')
  readonly #listeners = new Set<(key: string) => void>()
  #listener: pg.Client | undefined
  #listening: Promise<void> | undefined
  #listenAttempt = 0
  #reconnectTimer: NodeJS.Timeout | undefined
  #heartbeat: NodeJS.Timeout | undefined
  #listenStarted = false
  #closed = false

  /**
   * @param options - `{ connectionString }` or `{ pool }`, and optionally `table`, `schema`,
   *   `commandTimeoutMs`, `poolConfig`, `listenConnection`, `listenHeartbeatMs`.
   * @throws {TypeError} when the options are invalid (neither or both of `connectionString` and
   *   `pool`, a table or schema that is not a plain identifier, a bad timeout).
   */
  constructor(options: PostgresTokenStoreOptions) {
    if (typeof options !== 'object' || options === null)
      throw new TypeError('ongoing: PostgresTokenStore needs `{ connectionString }` or `{ pool }`')
    const {
      connectionString,
      pool,
      commandTimeoutMs = DEFAULT_COMMAND_TIMEOUT_MS,
      listenHeartbeatMs = DEFAULT_LISTEN_HEARTBEAT_MS,
    } = options
    if ((connectionString === undefined) === (pool === undefined))
      throw new TypeError('ongoing: PostgresTokenStore needs exactly one of `connectionString` and `pool`')
    if (typeof commandTimeoutMs !== 'number' || !Number.isFinite(commandTimeoutMs) || commandTimeoutMs <= 0)
      throw new TypeError('ongoing: PostgresTokenStore `commandTimeoutMs` must be a positive number')
    if (
      typeof listenHeartbeatMs !== 'number' ||
      !Number.isFinite(listenHeartbeatMs) ||
      listenHeartbeatMs <= 0
    )
      throw new TypeError('ongoing: PostgresTokenStore `listenHeartbeatMs` must be a positive number')
    this.#listenHeartbeatMs = listenHeartbeatMs
    this.names = postgresNames(options)
    this.#options = { table: options.table, schema: options.schema }
    this.#commandTimeoutMs = commandTimeoutMs
    const connectTimeout = Math.max(Math.ceil(commandTimeoutMs), 1_000)
    if (connectionString !== undefined) {
      if (typeof connectionString !== 'string' || !/^postgres(ql)?:\/\//.test(connectionString))
        throw new TypeError('ongoing: PostgresTokenStore `connectionString` must be a postgres:// URL')
      const config: pg.PoolConfig = {
        max: 10,
        idleTimeoutMillis: 30_000,
        keepAlive: true,
        ...options.poolConfig,
        connectionString,
        connectionTimeoutMillis: options.poolConfig?.connectionTimeoutMillis ?? connectTimeout,
        statement_timeout: options.poolConfig?.statement_timeout ?? Math.ceil(commandTimeoutMs),
        query_timeout: options.poolConfig?.query_timeout ?? Math.ceil(commandTimeoutMs),
      }
      this.#pool = new pg.Pool(config)
      // An idle connection that breaks is reported here; the calls report their own failures.
      this.#pool.on('error', ignore)
      this.#ownsPool = true
    } else {
      if (typeof pool !== 'object' || pool === null || typeof pool.connect !== 'function')
        throw new TypeError('ongoing: PostgresTokenStore `pool` must be a pg.Pool')
      this.#pool = pool
      this.#ownsPool = false
    }
    const listen = options.listenConnection
    if (listen === false) this.#listenConfig = false
    else {
      const base: pg.ClientConfig = listen ?? { ...(this.#pool.options as pg.ClientConfig) }
      this.#listenConfig = {
        ...base,
        keepAlive: true,
        connectionTimeoutMillis: base.connectionTimeoutMillis || connectTimeout,
        // LISTEN waits for as long as it likes; only the LISTEN command itself is bounded below.
        statement_timeout: undefined,
        query_timeout: undefined,
      }
    }
  }

  /**
   * Creates the store's tables when they do not exist (the SQL of {@link postgresSchemaSql}).
   * Needs the `CREATE` privilege on the schema, no superuser. Safe to run at every start and from
   * several processes at once.
   *
   * @throws {Error} when the database is unreachable or refuses (no privilege, no such schema).
   * @example
   * ```ts
   * await store.migrate()
   * ```
   */
  async migrate(): Promise<void> {
    await this.#run(
      'migrate',
      [],
      async (client) => {
        await client.query({ text: 'BEGIN' })
        try {
          // CREATE … IF NOT EXISTS races with itself in concurrent transactions: serialize them
          // (a transaction-level lock, released at COMMIT; no session state).
          await client.query({ text: "SELECT pg_advisory_xact_lock(hashtext('ongoing:migrate'))" })
          await client.query({ text: postgresSchemaSql(this.#options) })
          await client.query({ text: 'COMMIT' })
        } catch (err) {
          await client.query({ text: 'ROLLBACK' }).catch(ignore)
          throw err
        }
      },
      10_000,
    )
  }

  /**
   * The current entry of `key`, or `undefined` when there is none or it expired.
   *
   * @throws {Error} when the database is unreachable or does not answer within `commandTimeoutMs`.
   * @example
   * ```ts
   * const entry = await store.get('grant:…:user-42') // { value, version } | undefined
   * ```
   */
  async get(key: string): Promise<TokenStoreEntry | undefined> {
    checkKey(key)
    const { records } = this.names
    const result = await this.#query<{ value: Buffer; version: string }>(
      'get',
      `SELECT value, version FROM ${records} WHERE key = $1 AND (expires_at IS NULL OR expires_at > now())`,
      [key],
    )
    const row = result.rows[0]
    if (row === undefined) return undefined
    return { value: row.value.toString('utf8'), version: Number(row.version) }
  }

  /**
   * Compare-and-set write, in one statement: stores `value` when the record's version is
   * `expectedVersion` (0: absent or expired) and, with `lock`, when that lease is still held by its
   * holder and unexpired on the database's clock (fencing); the same statement sends the change
   * notification. `ttlMs` sets the record's lifetime from the database's `now()` (none: it persists).
   *
   * @returns The new version, or `undefined` when the version or the lease did not match.
   * @throws {Error} when the database is unreachable or does not answer within `commandTimeoutMs`.
   * @example
   * ```ts
   * const version = await store.set(key, sealed, { expectedVersion: entry?.version ?? 0, lock, ttlMs })
   * if (version === undefined) {
   *   // another writer won, or the lease was lost: read again
   * }
   * ```
   */
  async set(key: string, value: string, options: TokenStoreSetOptions): Promise<number | undefined> {
    checkKey(key)
    const { expectedVersion, lock, ttlMs } = options
    if (!Number.isInteger(expectedVersion) || expectedVersion < 0)
      throw new TypeError('ongoing: `expectedVersion` must be a non-negative integer')
    if (typeof value !== 'string') throw new TypeError('ongoing: a token store value must be a string')
    if (ttlMs !== undefined && (!Number.isFinite(ttlMs) || ttlMs <= 0))
      throw new TypeError('ongoing: `ttlMs` must be a positive number')
    const { records, locks, channel } = this.names
    const fence = `($4::text IS NULL OR EXISTS (SELECT 1 FROM ${locks} l WHERE l.key = $1 AND l.token = $4 AND l.expires_at > now() FOR SHARE))`
    const expires = `CASE WHEN $3::bigint IS NULL THEN NULL ELSE now() + $3::bigint * interval '1 millisecond' END`
    const write =
      expectedVersion === 0
        ? `INSERT INTO ${records} AS r (key, value, version, expires_at)
             SELECT $1, $2, 1, ${expires} WHERE ${fence}
           ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, version = 1, expires_at = EXCLUDED.expires_at
             WHERE r.expires_at IS NOT NULL AND r.expires_at <= now()
           RETURNING version`
        : `UPDATE ${records} SET value = $2, version = version + 1, expires_at = ${expires}
           WHERE key = $1 AND version = $6 AND (expires_at IS NULL OR expires_at > now()) AND ${fence}
           RETURNING version`
    const values: unknown[] = [
      key,
      Buffer.from(value, 'utf8'),
      ttlMs === undefined ? null : Math.ceil(ttlMs),
      lock === undefined ? null : lock.token,
      this.#message(key),
    ]
    if (expectedVersion !== 0) values.push(expectedVersion)
    const result = await this.#query<{ version: string }>(
      'set',
      `WITH w AS (${write}) SELECT w.version, pg_notify('${channel}', $5) FROM w`,
      values,
    )
    const row = result.rows[0]
    if (row === undefined) return undefined
    this.#notify(key)
    return Number(row.version)
  }

  /**
   * Deletes `key`; with `expectedVersion`, only when that is still its version. The same statement
   * sends the change notification.
   *
   * @returns Whether a live record was deleted.
   * @throws {Error} when the database is unreachable or does not answer within `commandTimeoutMs`.
   * @example
   * ```ts
   * await store.delete(key, entry.version)
   * ```
   */
  async delete(key: string, expectedVersion?: number): Promise<boolean> {
    checkKey(key)
    if (expectedVersion !== undefined && (!Number.isInteger(expectedVersion) || expectedVersion < 0))
      throw new TypeError('ongoing: `expectedVersion` must be a non-negative integer')
    const { records, channel } = this.names
    const result = await this.#query(
      'delete',
      `WITH d AS (
         DELETE FROM ${records} WHERE key = $1 AND ($2::bigint IS NULL OR version = $2::bigint)
           AND (expires_at IS NULL OR expires_at > now())
         RETURNING 1
       ) SELECT pg_notify('${channel}', $3) FROM d`,
      [key, expectedVersion ?? null, this.#message(key)],
    )
    if (result.rows.length === 0) return false
    this.#notify(key)
    return true
  }

  /**
   * Takes the refresh lease of `key` for `ttlMs` (a row with a random token, ending at the
   * database's `now() + ttlMs`), or returns `undefined` at once when another holder's lease is
   * still running. Only the holder can release or extend it, and writes that pass it fail once it
   * is no longer held.
   *
   * @throws {Error} when the database is unreachable or does not answer within `commandTimeoutMs`.
   * @example
   * ```ts
   * const lock = await store.acquireLock(key, 5_000)
   * if (lock) {
   *   try {
   *     await store.set(key, value, { expectedVersion, lock })
   *   } finally {
   *     await lock.release()
   *   }
   * }
   * ```
   */
  async acquireLock(key: string, ttlMs: number): Promise<PostgresTokenStoreLock | undefined> {
    checkKey(key)
    if (!Number.isFinite(ttlMs) || ttlMs <= 0)
      throw new TypeError('ongoing: lock `ttlMs` must be a positive number')
    const { locks } = this.names
    const token = randomBytes(16).toString('base64url')
    let acquired: boolean
    try {
      const result = await this.#query(
        'acquireLock',
        `INSERT INTO ${locks} AS l (key, token, expires_at) VALUES ($1, $2, now() + $3::bigint * interval '1 millisecond')
         ON CONFLICT (key) DO UPDATE SET token = EXCLUDED.token, expires_at = EXCLUDED.expires_at
           WHERE l.expires_at <= now()
         RETURNING 1`,
        [key, token, Math.ceil(ttlMs)],
      )
      acquired = result.rows.length === 1
    } catch (err) {
      // The statement may still commit after we gave up: free the lease nobody will use. Best
      // effort; otherwise it expires after ttlMs.
      if (!this.#closed) this.#release(key, token).catch(ignore)
      throw err
    }
    if (!acquired) return undefined
    return {
      key,
      token,
      release: () => this.#release(key, token),
      extend: async (extendMs: number) => {
        if (!Number.isFinite(extendMs) || extendMs <= 0)
          throw new TypeError('ongoing: lock `ttlMs` must be a positive number')
        const result = await this.#query(
          'extend',
          `UPDATE ${locks} SET expires_at = now() + $3::bigint * interval '1 millisecond'
           WHERE key = $1 AND token = $2 AND expires_at > now() RETURNING 1`,
          [key, token, Math.ceil(extendMs)],
        )
        return result.rows.length === 1
      },
    }
  }

  /**
   * Calls `listener(key)` after every successful write or delete of any key in this store's table:
   * this store object's own at once (before the write's promise resolves), other processes'
   * through `LISTEN/NOTIFY`. The `LISTEN` connection is opened on the first call, reconnects with
   * backoff when it breaks, and is closed by `close()`. A notification can be missed while it is
   * down; `OngoingAccess` also polls.
   *
   * @returns A function that removes the listener.
   * @example
   * ```ts
   * const unsubscribe = store.subscribe((key) => cache.delete(key))
   * ```
   */
  subscribe(listener: (key: string) => void): () => void {
    if (typeof listener !== 'function') throw new TypeError('ongoing: listener must be a function')
    this.#listeners.add(listener)
    if (!this.#listenStarted && !this.#closed && this.#listenConfig !== false) {
      this.#listenStarted = true
      this.#connectListener()
    }
    return () => {
      this.#listeners.delete(listener)
    }
  }

  /**
   * One page of the keys of the live records whose key starts with `prefix` (never leases or
   * claims, which live in their own tables), in key order (bytewise: the key column is
   * `COLLATE "C"`), by keyset pagination: `WHERE key LIKE '<prefix>%' AND key > <last key> ORDER
   * BY key LIMIT <limit>` on the primary key, `%`, `_` and `\` of the prefix taken literally. The
   * cursor is the page's last key (base64url): it holds nothing on the server and never expires.
   *
   * A record that exists for the whole walk is listed exactly once; one created or deleted during
   * the walk may or may not be; rewriting a record never lists it again; expired records are not
   * listed. A page holds at most `min(limit, 1000)` keys.
   *
   * @param prefix - Only keys that start with it (`''`: every record of this store).
   * @param options - `limit` (a positive integer) and the previous page's `cursor`.
   * @throws {TypeError} when `limit` is not a positive integer or `cursor` is not one this store
   *   returned.
   * @throws {Error} when the database is unreachable or does not answer within `commandTimeoutMs`.
   * @example
   * ```ts
   * let cursor: string | undefined
   * do {
   *   const page = await store.list('grant:', { cursor, limit: 100 })
   *   for (const key of page.keys) console.log(key)
   *   cursor = page.cursor
   * } while (cursor !== undefined)
   * ```
   */
  async list(prefix: string, options: TokenStoreListOptions): Promise<TokenStoreListPage> {
    if (typeof prefix !== 'string') throw new TypeError('ongoing: list `prefix` must be a string')
    const limit = options?.limit
    if (!Number.isInteger(limit) || limit < 1)
      throw new TypeError('ongoing: list `limit` must be a positive integer')
    const { cursor } = options
    let after: string | null = null
    if (cursor !== undefined) {
      if (typeof cursor !== 'string' || !/^[A-Za-z0-9_-]+$/.test(cursor))
        throw new TypeError('ongoing: list `cursor` must be one that this store returned')
      after = Buffer.from(cursor, 'base64url').toString('utf8')
    }
    const size = Math.min(limit, MAX_LIST_LIMIT)
    const { records } = this.names
    const result = await this.#query<{ key: string }>(
      'list',
      `SELECT key FROM ${records}
       WHERE key LIKE $1 ESCAPE '\\' AND ($2::text IS NULL OR key > $2::text)
         AND (expires_at IS NULL OR expires_at > now())
       ORDER BY key LIMIT $3`,
      [`${escapeLike(prefix)}%`, after, size],
    )
    const keys = result.rows.map((row) => row.key)
    const last = keys[keys.length - 1]
    return {
      keys,
      cursor:
        keys.length === size && last !== undefined
          ? Buffer.from(last, 'utf8').toString('base64url')
          : undefined,
    }
  }

  /**
   * Records `id` as used for `ttlMs` (database clock): `true` the first time, `false` while it is
   * remembered, across every process.
   *
   * @throws {Error} when the database is unreachable or does not answer within `commandTimeoutMs`.
   * @example
   * ```ts
   * if (!(await store.claimOnce(transactionId, 600_000))) throw new Error('replayed')
   * ```
   */
  async claimOnce(id: string, ttlMs: number): Promise<boolean> {
    checkKey(id)
    if (!Number.isFinite(ttlMs) || ttlMs <= 0)
      throw new TypeError('ongoing: claim `ttlMs` must be a positive number')
    const { claims } = this.names
    const result = await this.#query(
      'claimOnce',
      `INSERT INTO ${claims} AS c (id, expires_at) VALUES ($1, now() + $2::bigint * interval '1 millisecond')
       ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE c.expires_at <= now()
       RETURNING 1`,
      [id, Math.ceil(ttlMs)],
    )
    return result.rows.length === 1
  }

  /**
   * Deletes expired records, leases and claims, at most `limit` of each per call (expired rows are
   * already ignored: this only frees space). Run it now and then, from one process (a cron job, the
   * keeper's schedule), or not at all for small tables.
   *
   * @param limit - At most this many rows of each table. Default: 1,000.
   * @returns How many rows were deleted.
   * @throws {Error} when the database is unreachable or does not answer within `commandTimeoutMs`.
   * @example
   * ```ts
   * setInterval(() => store.purgeExpired().catch(console.error), 60 * 60_000).unref()
   * ```
   */
  async purgeExpired(limit = 1_000): Promise<number> {
    if (!Number.isInteger(limit) || limit < 1)
      throw new TypeError('ongoing: `limit` must be a positive integer')
    const { records, locks, claims } = this.names
    const purge = (table: string, id: string) =>
      `DELETE FROM ${table} WHERE ${id} IN (SELECT ${id} FROM ${table} WHERE expires_at <= now() LIMIT $1)`
    const result = await this.#query<{ n: string }>(
      'purgeExpired',
      `WITH a AS (${purge(records, 'key')} RETURNING 1), b AS (${purge(locks, 'key')} RETURNING 1),
            c AS (${purge(claims, 'id')} RETURNING 1)
       SELECT (SELECT count(*) FROM a) + (SELECT count(*) FROM b) + (SELECT count(*) FROM c) AS n`,
      [limit],
    )
    return Number(result.rows[0]?.n ?? 0)
  }

  /**
   * Resolves once a query runs, the pool holds its `min` connections (`poolConfig: { min }`, or your
   * pool's), and, when someone subscribed, the `LISTEN` connection is listening. Optional: useful
   * at startup, to fail early when the database is unreachable or the tables are missing, and so
   * that the first burst of requests after a start does not wait for new connections (each call's
   * bound, `commandTimeoutMs`, includes getting a connection).
   *
   * @param timeoutMs - How long to wait for the `LISTEN` connection. Default: 10,000 ms.
   * @throws {Error} when the database does not answer, the tables are missing, or the store is closed.
   * @example
   * ```ts
   * await store.ready()
   * ```
   */
  async ready(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    await this.#query('ready', `SELECT 1 FROM ${this.names.records} LIMIT 0`, [])
    await this.#warm(deadline)
    while (this.#listenStarted && this.#listening === undefined) {
      if (this.#closed) throw new Error('ongoing: PostgresTokenStore is closed')
      if (Date.now() > deadline) throw new Error('ongoing: PostgresTokenStore LISTEN was not ready in time')
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    if (this.#listening !== undefined)
      await withTimeout(
        this.#listening,
        Math.max(1, deadline - Date.now()),
        'ongoing: PostgresTokenStore LISTEN was not ready in time',
      )
  }

  /**
   * Closes the `LISTEN` connection and, when it was given a `connectionString`, its own pool. A
   * pool passed as `pool` stays open: you own it. Idempotent.
   *
   * @example
   * ```ts
   * process.once('SIGTERM', async () => {
   *   access.close()
   *   await store.close()
   * })
   * ```
   */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#listeners.clear()
    clearTimeout(this.#reconnectTimer)
    clearInterval(this.#heartbeat)
    const closing: Promise<unknown>[] = []
    const listener = this.#listener
    this.#listener = undefined
    if (listener !== undefined) closing.push(endClient(listener, this.#commandTimeoutMs))
    if (this.#ownsPool)
      closing.push(
        withTimeout(this.#pool.end(), Math.max(this.#commandTimeoutMs, 1_000), 'end').catch(ignore),
      )
    await Promise.all(closing)
  }

  /**
   * Opens the pool's `min` connections at once (pg-pool keeps `min` idle connections, but opens
   * them one call at a time), holding each until all are open so that none is reused meanwhile.
   */
  async #warm(deadline: number): Promise<void> {
    const { min = 0, max = 10 } = this.#pool.options as { min?: number; max?: number }
    // Held at once: the idle ones are taken again, the rest are opened.
    const wanted = Math.min(min, max) - (this.#pool.totalCount - this.#pool.idleCount)
    if (!(wanted > 0) || this.#pool.idleCount >= Math.min(min, max)) return
    const opening = Array.from({ length: wanted }, () =>
      this.#pool.connect().then((client) => {
        client.on('error', ignore)
        return client
      }),
    )
    try {
      await withTimeout(
        Promise.all(opening),
        Math.max(1, deadline - Date.now()),
        'ongoing: PostgresTokenStore could not open its connections in time',
      )
    } finally {
      // Back to the pool as each one opens, late ones included.
      for (const client of opening) client.then((open) => open.release(), ignore)
    }
  }

  #message(key: string): string {
    return `${this.#origin}:${key}`
  }

  #notify(key: string): void {
    for (const listener of this.#listeners) {
      try {
        listener(key)
      } catch {
        // A listener's failure must not fail a write that already happened.
      }
    }
  }

  #release(key: string, token: string): Promise<void> {
    return this.#query('release', `DELETE FROM ${this.names.locks} WHERE key = $1 AND token = $2`, [
      key,
      token,
    ]).then(() => undefined)
  }

  #connectListener(): void {
    if (this.#closed || this.#listenConfig === false) return
    const client = new pg.Client(this.#listenConfig)
    this.#listener = client
    let failed = false
    const fail = () => {
      if (failed) return
      failed = true
      clearInterval(this.#heartbeat)
      if (this.#listener !== client) return
      this.#listener = undefined
      this.#listening = undefined
      endClient(client, this.#commandTimeoutMs).catch(ignore)
      if (this.#closed) return
      const attempt = this.#listenAttempt++
      const delay = Math.min(LISTEN_BACKOFF_MAX_MS, LISTEN_BACKOFF_MIN_MS * 2 ** attempt)
      this.#reconnectTimer = setTimeout(() => this.#connectListener(), delay * (0.5 + Math.random() / 2))
      this.#reconnectTimer.unref()
    }
    client.on('error', fail)
    client.on('end', fail)
    client.on('notification', (message) => {
      if (message.channel !== this.names.channel || message.payload === undefined) return
      const separator = message.payload.indexOf(':')
      if (separator < 0) return
      // Our own writes were announced when they returned.
      if (message.payload.slice(0, separator) === this.#origin) return
      this.#notify(message.payload.slice(separator + 1))
    })
    const listening = (async () => {
      await client.connect()
      await withTimeout(
        client.query(`LISTEN "${this.names.channel}"`),
        Math.max(this.#commandTimeoutMs, 1_000),
        'LISTEN timed out',
      )
      if (this.#closed) {
        await client.end().catch(ignore)
        return
      }
      this.#listenAttempt = 0
      // A connection whose peer vanished (a network partition) may never report an error: check it.
      let checking = false
      this.#heartbeat = setInterval(() => {
        if (checking || failed) return
        checking = true
        withTimeout(
          client.query('SELECT 1'),
          Math.max(this.#commandTimeoutMs, 1_000),
          'heartbeat timed out',
        ).then(() => {
          checking = false
        }, fail)
      }, this.#listenHeartbeatMs)
      this.#heartbeat.unref()
    })()
    this.#listening = listening
    listening.catch(fail)
  }

  async #query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    what: string,
    text: string,
    values: unknown[],
  ): Promise<pg.QueryResult<R>> {
    return this.#run(what, values, (client) =>
      client.query<R>({ text, values, query_timeout: Math.ceil(this.#commandTimeoutMs) } as pg.QueryConfig),
    )
  }

  /**
   * Runs one operation on a pooled connection, bounded in time (waiting for the connection
   * included), with errors that carry no values. A connection that timed out or broke is
   * destroyed, never returned to the pool; a connection that arrives after the caller gave up is
   * returned unused, so a call that failed never runs later.
   */
  async #run<T>(
    what: string,
    values: unknown[],
    operation: (client: Queryable) => Promise<T>,
    timeoutMs = this.#commandTimeoutMs,
  ): Promise<T> {
    if (this.#closed) throw new Error('ongoing: PostgresTokenStore is closed')
    let timedOut = false
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true
        reject(new Error(`no answer within ${timeoutMs} ms`))
      }, timeoutMs)
    })
    const work = (async () => {
      const client = await this.#pool.connect()
      guardClient(client)
      if (timedOut) {
        client.release()
        throw new Error('gave up')
      }
      try {
        const result = await operation(client)
        client.release()
        return result
      } catch (err) {
        // A server error (SQLSTATE) leaves the connection usable, unless the server is ending the
        // session (FATAL, e.g. 57P01 on a shutdown or pg_terminate_backend); anything else may not.
        client.release(isServerError(err) && !endsSession(err) ? undefined : (err as Error))
        throw err
      }
    })()
    work.catch(ignore)
    try {
      return await Promise.race([work, deadline])
    } catch (err) {
      throw this.#error(what, err, values)
    } finally {
      clearTimeout(timer)
    }
  }

  #error(what: string, err: unknown, values: unknown[]): Error {
    if (isServerError(err) && err.code === '42P01')
      return new Error(
        `ongoing: Postgres ${what} failed: the table ${this.names.records} (or its _locks/_claims table) does not exist; run store.migrate() or apply postgresSchemaSql() in your migrations`,
      )
    let reason = err instanceof Error ? err.message : String(err)
    // Server messages can quote input: never let a value through.
    for (const value of values) {
      const text = Buffer.isBuffer(value) ? value.toString('utf8') : typeof value === 'string' ? value : ''
      if (text.length >= 4) reason = reason.split(text).join('[redacted]')
    }
    const code = isServerError(err) ? ` (SQLSTATE ${err.code})` : ''
    return new Error(`ongoing: Postgres ${what} failed${code}: ${reason.slice(0, 200)}`)
  }
}

function ignore(): void {}

function isServerError(err: unknown): err is Error & { code: string } {
  const code = err instanceof Error ? (err as { code?: unknown }).code : undefined
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)
}

/** A server error after which the server closes the connection (severity FATAL or PANIC, class 57P). */
function endsSession(err: Error & { code: string }): boolean {
  const severity = (err as { severity?: unknown }).severity
  return severity === 'FATAL' || severity === 'PANIC' || err.code.startsWith('57P')
}

function checkKey(key: string): void {
  if (typeof key !== 'string') throw new TypeError('ongoing: a token store key must be a string')
  if (key.includes('\u0000')) throw new TypeError('ongoing: a Postgres token store key cannot hold U+0000')
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES)
    throw new TypeError(`ongoing: a Postgres token store key must be at most ${MAX_KEY_BYTES} bytes`)
}

/** `text` as a literal in a `LIKE … ESCAPE '\'` pattern. */
function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (char) => `\\${char}`)
}

const guardedClients = new WeakSet<object>()

/**
 * pg-pool removes its own 'error' listener from a client while it is checked out: a connection
 * that dies then (the server crashed or was restarted, the network broke) would emit an 'error'
 * event nobody listens to, and end the process. The call in flight fails on its own (its query
 * rejects) and the client is destroyed on release; this listener only keeps the process alive.
 */
function guardClient(client: pg.PoolClient): void {
  if (guardedClients.has(client)) return
  guardedClients.add(client)
  client.on('error', ignore)
}

async function endClient(client: pg.Client, timeoutMs: number): Promise<void> {
  client.removeAllListeners('end')
  client.removeAllListeners('error')
  client.on('error', ignore)
  await withTimeout(client.end(), Math.max(timeoutMs, 1_000), 'end').catch(() => {
    // A stalled server never answers Terminate: drop the socket.
    ;(client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy()
  })
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(message)), ms)
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (err: unknown) => {
        clearTimeout(timer)
        reject(err)
      },
    )
  })
}
