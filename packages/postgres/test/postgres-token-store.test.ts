import { randomUUID } from 'node:crypto'
import { connect, createServer, type Socket } from 'node:net'
import { describeWithPostgres, type PostgresServer, startPostgresServer } from '@ongoing/testing'
import pg from 'pg'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { PostgresTokenStore, type PostgresTokenStoreOptions, postgresSchemaSql } from '../src/index.js'
import { dropTables, uniqueTable } from './helpers.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function failsWithin(promise: Promise<unknown>): Promise<{ error: Error; ms: number }> {
  const started = performance.now()
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err as Error,
  )
  expect(error).toBeInstanceOf(Error)
  return { error: error!, ms: performance.now() - started }
}

async function eventually<T>(attempt: () => Promise<T>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      return await attempt()
    } catch (err) {
      if (Date.now() > deadline) throw err
      await sleep(25)
    }
  }
}

/**
 * A TCP proxy to the database whose `freeze()` makes every connection open so far go silent
 * without closing (as a network partition does); connections opened later pass.
 */
async function freezingProxy(target: URL) {
  const pairs: [Socket, Socket][] = []
  const every: Socket[] = []
  const server = createServer((inbound) => {
    const outbound = connect({ host: target.hostname, port: Number(target.port || 5432) })
    inbound.pipe(outbound).pipe(inbound)
    inbound.on('error', () => outbound.destroy())
    outbound.on('error', () => inbound.destroy())
    pairs.push([inbound, outbound])
    every.push(inbound, outbound)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address() as { port: number }
  const url = new URL(target.href)
  url.hostname = '127.0.0.1'
  url.port = String(address.port)
  return {
    url: url.href,
    freeze() {
      for (const [inbound, outbound] of pairs.splice(0)) {
        inbound.unpipe(outbound)
        outbound.unpipe(inbound)
        inbound.pause()
        outbound.pause()
      }
    },
    async close() {
      for (const socket of every) socket.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

describe('PostgresTokenStore options', () => {
  it('refuses bad options at construction with a TypeError', () => {
    const pool = new pg.Pool({ connectionString: 'postgres://127.0.0.1:1/x' })
    for (const options of [
      undefined,
      {},
      { connectionString: 'postgres://127.0.0.1:1/x', pool },
      { connectionString: 'http://127.0.0.1:5432/x' },
      { connectionString: 'postgres://127.0.0.1:1/x', table: 'a-b' },
      { connectionString: 'postgres://127.0.0.1:1/x', table: '"; DROP TABLE x; --' },
      { connectionString: 'postgres://127.0.0.1:1/x', schema: '1abc' },
      { connectionString: 'postgres://127.0.0.1:1/x', table: 'x'.repeat(49) },
      { connectionString: 'postgres://127.0.0.1:1/x', commandTimeoutMs: 0 },
      { connectionString: 'postgres://127.0.0.1:1/x', commandTimeoutMs: Number.NaN },
      { connectionString: 'postgres://127.0.0.1:1/x', listenHeartbeatMs: 0 },
      { pool: { query() {} } },
    ]) {
      expect(() => new PostgresTokenStore(options as never)).toThrow(TypeError)
    }
    void pool.end()
  })

  it('gives the schema SQL for the table and schema names, idempotent and without superuser rights', () => {
    const sql = postgresSchemaSql({ schema: 'auth', table: 'oauth_grants' })
    expect(sql).toContain('CREATE TABLE IF NOT EXISTS "auth"."oauth_grants" (')
    expect(sql).toContain('CREATE TABLE IF NOT EXISTS "auth"."oauth_grants_locks" (')
    expect(sql).toContain('CREATE TABLE IF NOT EXISTS "auth"."oauth_grants_claims" (')
    expect(sql).not.toMatch(/EXTENSION|SUPERUSER|ALTER SYSTEM/i)
    expect(postgresSchemaSql()).toContain('"public"."ongoing_grants"')
    expect(() => postgresSchemaSql({ table: 'x; DROP' })).toThrow(TypeError)
  })
})

describeWithPostgres('PostgresTokenStore against PostgreSQL', () => {
  let postgres: PostgresServer
  let admin: pg.Pool
  const tables: string[] = []
  const stores: PostgresTokenStore[] = []
  const table = () => {
    const name = uniqueTable()
    tables.push(name)
    return name
  }
  const open = (options: PostgresTokenStoreOptions) => {
    const store = new PostgresTokenStore(options)
    stores.push(store)
    return store
  }

  beforeAll(async () => {
    postgres = await startPostgresServer()
    admin = new pg.Pool({ connectionString: postgres.url, max: 2 })
  }, 60_000)
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()))
    for (const name of tables.splice(0)) await dropTables(postgres.url, name)
  })
  afterAll(async () => {
    await admin?.end()
    await postgres?.close()
  })

  it('migrate() creates the tables, is idempotent and safe from several processes at once', async () => {
    const name = table()
    const one = open({ connectionString: postgres.url, table: name })
    const two = open({ connectionString: postgres.url, table: name })
    await Promise.all([one.migrate(), two.migrate(), one.migrate()])
    await one.migrate()
    const { rows } = await admin.query(
      `SELECT table_name FROM information_schema.tables WHERE table_name LIKE $1 ORDER BY table_name`,
      [`${name}%`],
    )
    expect(rows.map((row) => row.table_name)).toEqual([name, `${name}_claims`, `${name}_locks`])
    expect(await one.set('k', 'v', { expectedVersion: 0 })).toBe(1)
  })

  it('works on tables made by the exported SQL, in another schema, by a role that is not a superuser', async () => {
    const schema = `s_${randomUUID().replaceAll('-', '')}`
    const role = `r_${randomUUID().replaceAll('-', '')}`
    const name = table()
    await admin.query(`CREATE ROLE ${role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE`)
    await admin.query(`CREATE SCHEMA ${schema} AUTHORIZATION ${role}`)
    const url = new URL(postgres.url)
    url.username = role
    try {
      // The app's migration tool runs the SQL as the app's role.
      const client = new pg.Client({ connectionString: url.href })
      await client.connect()
      await client.query(postgresSchemaSql({ schema, table: name }))
      await client.end()
      const store = open({ connectionString: url.href, schema, table: name })
      await store.migrate()
      expect(await store.set('k', 'v', { expectedVersion: 0 })).toBe(1)
      expect(await store.get('k')).toEqual({ value: 'v', version: 1 })
    } finally {
      await Promise.all(stores.splice(0).map((store) => store.close()))
      await admin.query(`DROP SCHEMA ${schema} CASCADE`)
      await admin.query(`DROP ROLE ${role}`)
    }
  })

  it('fails with an error naming migrate() and the schema SQL when the table is missing', async () => {
    const store = open({ connectionString: postgres.url, table: table() })
    const results = await Promise.all(
      [
        store.get('k'),
        store.set('k', 'v', { expectedVersion: 0 }),
        store.acquireLock('k', 1_000),
        store.claimOnce('tx', 1_000),
        store.list('', { limit: 10 }),
        store.ready(),
      ].map(failsWithin),
    )
    for (const { error } of results) {
      expect(error.message).toMatch(/does not exist; run store\.migrate\(\) or apply postgresSchemaSql\(\)/)
    }
  })

  it('keeps TTLs on the database clock: records, leases and claims', async () => {
    const name = table()
    const store = open({ connectionString: postgres.url, table: name })
    await store.migrate()
    await store.set('k', 'v', { expectedVersion: 0, ttlMs: 60_000 })
    await store.acquireLock('k', 5_000)
    await store.claimOnce('tx', 30_000)
    const left = async (sql: string) =>
      Number((await admin.query(`SELECT extract(epoch FROM (${sql}) - now()) * 1000 AS ms`)).rows[0].ms)
    const record = await left(`SELECT expires_at FROM "${name}" WHERE key = 'k'`)
    expect(record).toBeGreaterThan(55_000)
    expect(record).toBeLessThanOrEqual(60_000)
    const lease = await left(`SELECT expires_at FROM "${name}_locks" WHERE key = 'k'`)
    expect(lease).toBeGreaterThan(4_000)
    expect(lease).toBeLessThanOrEqual(5_000)
    const claim = await left(`SELECT expires_at FROM "${name}_claims" WHERE id = 'tx'`)
    expect(claim).toBeGreaterThan(25_000)
    expect(claim).toBeLessThanOrEqual(30_000)
    // Rewritten without ttlMs: it persists.
    await store.set('k', 'v2', { expectedVersion: 1 })
    expect(
      (await admin.query(`SELECT expires_at FROM "${name}" WHERE key = 'k'`)).rows[0].expires_at,
    ).toBeNull()
  })

  it('fences a holder that stalled past its lease: its write fails even at the right version, the next holder writes', async () => {
    const name = table()
    const store = open({ connectionString: postgres.url, table: name })
    const other = open({ connectionString: postgres.url, table: name })
    await store.migrate()
    await store.set('k', 'v1', { expectedVersion: 0 })
    const stalled = await store.acquireLock('k', 200)
    expect(stalled).toBeDefined()
    // The lease ends on the database's clock: the holder's own clock has no say.
    await admin.query('SELECT pg_sleep(0.4)')
    expect(await stalled!.extend(10_000)).toBe(false)
    const next = await other.acquireLock('k', 10_000)
    expect(next).toBeDefined()
    expect(await store.set('k', 'stale', { expectedVersion: 1, lock: stalled })).toBeUndefined()
    await stalled!.release()
    expect(await store.acquireLock('k', 10_000)).toBeUndefined()
    expect(await other.set('k', 'fresh', { expectedVersion: 1, lock: next })).toBe(2)
    expect(await store.get('k')).toEqual({ value: 'fresh', version: 2 })
    // A write whose lease was released fails too.
    await next!.release()
    expect(await other.set('k', 'late', { expectedVersion: 2, lock: next })).toBeUndefined()
  })

  it('hears writes of another process through NOTIFY, and its own at once and only once', async () => {
    const name = table()
    const writer = open({ connectionString: postgres.url, table: name })
    const reader = open({ connectionString: postgres.url, table: name })
    await writer.migrate()
    const heardByWriter: string[] = []
    const heardByReader: string[] = []
    writer.subscribe((key) => heardByWriter.push(key))
    reader.subscribe((key) => heardByReader.push(key))
    await Promise.all([writer.ready(), reader.ready()])
    const writing = writer.set('k', 'v', { expectedVersion: 0 })
    await writing
    // Before the write resolved to its caller; and not again when the database echoes it.
    expect(heardByWriter).toEqual(['k'])
    await eventually(async () => expect(heardByReader).toEqual(['k']))
    await writer.delete('k')
    await eventually(async () => expect(heardByReader).toEqual(['k', 'k']))
    await sleep(100)
    expect(heardByWriter).toEqual(['k', 'k'])
    // A failed compare-and-set announces nothing.
    expect(await writer.set('k', 'v', { expectedVersion: 7 })).toBeUndefined()
    await sleep(100)
    expect(heardByReader).toEqual(['k', 'k'])
  })

  it('replaces a LISTEN connection that went silent (a partition): notifications resume', async () => {
    const name = table()
    const proxy = await freezingProxy(new URL(postgres.url))
    try {
      const listener = open({
        connectionString: postgres.url,
        table: name,
        listenConnection: { connectionString: proxy.url },
        listenHeartbeatMs: 200,
        commandTimeoutMs: 300,
      })
      const writer = open({ connectionString: postgres.url, table: name })
      await listener.migrate()
      const heard: string[] = []
      listener.subscribe((key) => heard.push(key))
      await listener.ready()
      await writer.set('before', 'v', { expectedVersion: 0 })
      await eventually(async () => expect(heard).toEqual(['before']))
      proxy.freeze()
      await writer.set('during', 'v', { expectedVersion: 0 })
      // The heartbeat finds the silent connection and a new one LISTENs; later writes are heard.
      await eventually(async () => {
        const key = `after-${randomUUID()}`
        await writer.set(key, 'v', { expectedVersion: 0 })
        await sleep(100)
        expect(heard).toContain(key)
      }, 10_000)
    } finally {
      await Promise.all(stores.splice(0).map((store) => store.close()))
      await proxy.close()
    }
  })

  it('keeps stores on different tables apart: records, leases, claims and notifications', async () => {
    const one = open({ connectionString: postgres.url, table: table() })
    const two = open({ connectionString: postgres.url, table: table() })
    await Promise.all([one.migrate(), two.migrate()])
    const heardByTwo: string[] = []
    two.subscribe((key) => heardByTwo.push(key))
    await two.ready()
    await one.set('k', 'one', { expectedVersion: 0 })
    expect(await two.get('k')).toBeUndefined()
    expect(await two.set('k', 'two', { expectedVersion: 0 })).toBe(1)
    expect(await one.acquireLock('k', 10_000)).toBeDefined()
    expect(await two.acquireLock('k', 10_000)).toBeDefined()
    expect(await one.claimOnce('tx', 10_000)).toBe(true)
    expect(await two.claimOnce('tx', 10_000)).toBe(true)
    await sleep(100)
    expect(heardByTwo).toEqual(['k'])
  })

  it("closes what it opened (its pool, its LISTEN connection) and never the app's pool", async () => {
    const name = table()
    const app = `ongoing-test-${randomUUID()}`
    const connections = async () =>
      Number(
        (await admin.query('SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1', [app]))
          .rows[0].n,
      )
    const owned = open({ connectionString: postgres.url, table: name, poolConfig: { application_name: app } })
    await owned.migrate()
    owned.subscribe(() => {})
    await owned.ready()
    expect(await connections()).toBeGreaterThanOrEqual(2)
    await owned.close()
    await eventually(async () => expect(await connections()).toBe(0))
    await expect(owned.get('k')).rejects.toThrow(/closed/)

    const pool = new pg.Pool({ connectionString: postgres.url, application_name: app, max: 3 })
    try {
      const borrowed = open({ pool, table: name })
      borrowed.subscribe(() => {})
      await borrowed.ready()
      await borrowed.set('k', 'v', { expectedVersion: 0 })
      await borrowed.close()
      await borrowed.close()
      expect(pool.ended).toBe(false)
      expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }])
      // Only the app's pooled connections are left: the LISTEN connection is gone.
      await eventually(async () => expect(await connections()).toBe(pool.totalCount))
    } finally {
      await pool.end()
    }
  })

  it("ready() opens the pool's min connections at once, so a first burst waits for none", async () => {
    const name = table()
    const pool = new pg.Pool({ connectionString: postgres.url, min: 4, max: 6 })
    try {
      const store = open({ pool, table: name })
      await store.migrate()
      await store.ready()
      expect(pool.totalCount).toBe(4)
      expect(pool.idleCount).toBe(4)
      await store.ready() // already warm: nothing more opened
      expect(pool.totalCount).toBe(4)
    } finally {
      await Promise.all(stores.splice(0).map((store) => store.close()))
      await pool.end()
    }
  })

  it('does not starve a small app pool: LISTEN has a connection of its own', async () => {
    const name = table()
    const pool = new pg.Pool({ connectionString: postgres.url, max: 1, connectionTimeoutMillis: 1_000 })
    try {
      const store = open({ pool, table: name })
      const other = open({ connectionString: postgres.url, table: name })
      await store.migrate()
      const heard: string[] = []
      store.subscribe((key) => heard.push(key))
      await store.ready()
      expect(pool.totalCount).toBeLessThanOrEqual(1)
      // 30 calls at once through one pooled connection: they queue for it and all succeed.
      const results = await Promise.all(
        Array.from({ length: 30 }, (_, i) => store.set(`k${i}`, 'v', { expectedVersion: 0 })),
      )
      expect(results).toEqual(Array.from({ length: 30 }, () => 1))
      // The app still gets its connection, and another process's writes are still heard.
      expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }])
      await other.set('from-other', 'v', { expectedVersion: 0 })
      await eventually(async () => expect(heard).toContain('from-other'))
    } finally {
      await Promise.all(stores.splice(0).map((store) => store.close()))
      await pool.end()
    }
  })

  it('lists with %, _ and \\ in the prefix taken literally, in pages, expired records left out', async () => {
    const store = open({ connectionString: postgres.url, table: table() })
    await store.migrate()
    const keys = ['a%b:1', 'a%b:2', 'axb:3', 'a_c:4', 'abc:5', 'a\\d:6', 'a\\\\d:7', 'a%b:gone']
    for (const key of keys)
      await store.set(key, 'v', { expectedVersion: 0, ...(key.endsWith('gone') ? { ttlMs: 1 } : {}) })
    await sleep(20)
    const walk = async (prefix: string, limit: number) => {
      const found: string[] = []
      let cursor: string | undefined
      do {
        const page = await store.list(prefix, { cursor, limit })
        expect(page.keys.length).toBeLessThanOrEqual(limit)
        found.push(...page.keys)
        cursor = page.cursor
      } while (cursor !== undefined)
      return found
    }
    expect(await walk('a%b', 1)).toEqual(['a%b:1', 'a%b:2'])
    expect(await walk('a_', 1)).toEqual(['a_c:4'])
    expect(await walk('a\\d', 1)).toEqual(['a\\d:6'])
    expect((await walk('', 3)).length).toBe(7)
    for (const cursor of ['', 'not base64!', 5]) {
      await expect(store.list('', { limit: 1, cursor } as never)).rejects.toThrow(TypeError)
    }
  })

  it('puts no values into its errors, even when the server quotes them', async () => {
    const name = table()
    const store = open({ connectionString: postgres.url, table: name })
    await store.migrate()
    // A trigger that fails with the value in its message.
    await admin.query(`CREATE FUNCTION "${name}_boom"() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'rejected %', convert_from(NEW.value, 'UTF8'); END $$`)
    await admin.query(
      `CREATE TRIGGER boom BEFORE INSERT OR UPDATE ON "${name}" FOR EACH ROW EXECUTE FUNCTION "${name}_boom"()`,
    )
    try {
      const secret = `value-${randomUUID()}`
      const { error } = await failsWithin(store.set('k', secret, { expectedVersion: 0 }))
      expect(error.message).toMatch(/ongoing: Postgres set failed \(SQLSTATE P0001\): rejected \[redacted\]/)
      expect(JSON.stringify(error, Object.getOwnPropertyNames(error))).not.toContain(secret)
      expect(error.cause).toBeUndefined()
    } finally {
      await admin.query(`DROP TABLE "${name}"; DROP FUNCTION "${name}_boom"()`)
    }
  })

  it('a connection that dies while a call holds it fails that call, does not end the process (no unhandled error event) and is not reused', async () => {
    const name = table()
    const store = open({ connectionString: postgres.url, table: name, commandTimeoutMs: 5_000 })
    await store.migrate()
    // The call's connection waits on a lock; its backend is then terminated, as a server crash
    // or a broken network would end it, while the store holds that connection from the pool.
    const blocker = await admin.connect()
    try {
      await blocker.query('BEGIN')
      await blocker.query(`LOCK TABLE "${name}" IN ACCESS EXCLUSIVE MODE`)
      const pending = store.get('k').then(
        () => undefined,
        (err: Error) => err,
      )
      let terminated = 0
      for (let i = 0; i < 50 && terminated === 0; i++) {
        await sleep(20)
        const { rows } = await admin.query(
          `SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity
            WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid() AND query LIKE $1`,
          [`%${name}%`],
        )
        terminated = rows.filter((row) => row.done === true).length
      }
      expect(terminated).toBe(1)
      const error = await pending
      expect(error).toBeInstanceOf(Error)
      expect(error!.message).toMatch(/^ongoing: Postgres get failed/)
      // An unhandled 'error' event on the pooled client would have ended the process (vitest
      // reports it as an unhandled error).
      await blocker.query('ROLLBACK')
      // The terminated connection was not handed back to the pool as usable: the next call,
      // right away, gets a working one.
      expect(await store.get('k')).toBeUndefined()
    } finally {
      blocker.release()
    }
  })

  it('purgeExpired() deletes expired records, leases and claims only', async () => {
    const name = table()
    const store = open({ connectionString: postgres.url, table: name })
    await store.migrate()
    await store.set('short', 'v', { expectedVersion: 0, ttlMs: 1 })
    await store.set('long', 'v', { expectedVersion: 0, ttlMs: 60_000 })
    await store.set('forever', 'v', { expectedVersion: 0 })
    await store.acquireLock('short', 1)
    await store.acquireLock('long', 60_000)
    await store.claimOnce('short', 1)
    await sleep(20)
    expect(await store.purgeExpired()).toBe(3)
    expect(await store.purgeExpired()).toBe(0)
    const count = async (suffix: string) =>
      Number((await admin.query(`SELECT count(*) AS n FROM "${name}${suffix}"`)).rows[0].n)
    expect([await count(''), await count('_locks'), await count('_claims')]).toEqual([2, 1, 0])
  })
})

describeWithPostgres(
  'PostgresTokenStore when PostgreSQL fails',
  () => {
    let postgres: PostgresServer
    const stores: PostgresTokenStore[] = []
    let name: string

    beforeAll(async () => {
      postgres = await startPostgresServer({ own: true })
      name = uniqueTable()
      const store = new PostgresTokenStore({ connectionString: postgres.url, table: name })
      await store.migrate()
      await store.close()
    }, 60_000)
    afterEach(async () => {
      if (postgres.pid === undefined) await postgres.restart()
      await Promise.all(stores.splice(0).map((store) => store.close()))
    })
    afterAll(async () => {
      await postgres?.close()
    })

    const open = (options: Partial<PostgresTokenStoreOptions> = {}) => {
      const store = new PostgresTokenStore({ connectionString: postgres.url, table: name, ...options })
      stores.push(store)
      return store
    }

    it('fails every kind of call within the bound while PostgreSQL is stalled (SIGSTOP), and recovers after SIGCONT', async () => {
      const store = open()
      const other = open()
      store.subscribe(() => {})
      await Promise.all([store.ready(), other.ready()])
      await store.set('paused', 'v1', { expectedVersion: 0 })
      const lock = await store.acquireLock('held', 60_000)

      postgres.pause()
      try {
        const calls = [
          store.get('paused'),
          store.set('paused', 'v2', { expectedVersion: 1 }),
          store.delete('paused'),
          store.acquireLock('paused', 60_000),
          lock!.extend(60_000),
          lock!.release(),
          store.claimOnce('tx', 1_000),
          store.list('', { limit: 10 }),
          // A store opened while the database is stalled: its first connection cannot complete.
          open().get('paused'),
        ]
        const results = await Promise.all(calls.map(failsWithin))
        for (const { error, ms } of results) {
          expect(error.message).toMatch(/^ongoing: Postgres \w+ failed/)
          expect(ms).toBeLessThan(1_000)
        }
      } finally {
        postgres.resume()
      }
      // Service resumes on fresh connections; the write that timed out did not happen twice.
      const entry = await eventually(() => store.get('paused'))
      expect(entry === undefined || entry.version <= 2).toBe(true)
      // The lease asked for while stalled was freed behind it (or never taken).
      await eventually(async () => {
        const next = await other.acquireLock('paused', 10_000)
        if (next === undefined) throw new Error('still locked')
      }, 3_000)
      expect(await other.claimOnce(`after-${randomUUID()}`, 1_000)).toBe(true)
    })

    it('while PostgreSQL is down, calls fail at once; after a restart, LISTEN reconnects and notifications resume', async () => {
      const store = open()
      const other = open()
      const heard: string[] = []
      store.subscribe((key) => heard.push(key))
      await Promise.all([store.ready(), other.ready()])
      await other.set('restart', 'v1', { expectedVersion: 0 })
      await eventually(async () => expect(heard).toContain('restart'))

      await postgres.stop('SIGKILL')
      const results = await Promise.all(
        [
          store.get('restart'),
          other.set('restart', 'v2', { expectedVersion: 1 }),
          store.acquireLock('restart', 1_000),
          store.list('', { limit: 10 }),
        ].map(failsWithin),
      )
      for (const { ms } of results) expect(ms).toBeLessThan(1_000)

      await postgres.restart()
      expect(await eventually(() => store.get('restart'))).toEqual({ value: 'v1', version: 1 })
      heard.length = 0
      // The LISTEN connection came back by itself: another process's write is heard again.
      await eventually(async () => {
        const version = (await other.get('restart'))!.version
        await other.set('restart', `v${version + 1}`, { expectedVersion: version })
        expect(heard).toContain('restart')
      }, 10_000)
    })
  },
  { own: true },
)
