// PostgresTokenStore under OngoingAccess: the getAccessToken hot path (with and without the
// process-local cache: SQL statements per call, counted on the measuring process's pool, and time
// per call), lock acquisition, and how long a process waiting on another process's refresh takes
// to see the new token, through LISTEN/NOTIFY (bench/store-bench.mjs, shared with
// bench/redis-store.mjs). No assertions on time: it prints a table. Needs PostgreSQL's initdb and
// postgres (on the PATH or in /usr/lib/postgresql/*/bin) or DATABASE_URL; a table of its own per run.
//
//   pnpm build && node bench/postgres-store.mjs     (BENCH_JSON=1 also prints one JSON line)
//
// The statements are counted by their first keyword (`select` for a read, `with` for a write and
// its notification, `insert` and `delete` for a lock and its release), on the pool the measured
// stores borrow their connections from; each store's LISTEN connection, which is not the pool's,
// is not counted (it runs LISTEN once and a heartbeat every 10 s).
import { PostgresTokenStore } from '@ongoing/postgres'
import pg from 'pg'
import { storeBench } from './store-bench.mjs'

/** A pool whose connections count the statements they run, by first keyword. */
function countingPool(connectionString) {
  const byCommand = {}
  let total = 0
  class CountingClient extends pg.Client {
    query(query, ...rest) {
      const text = typeof query === 'string' ? query : query?.text
      if (typeof text === 'string') {
        const keyword = (/^\s*(\w+)/.exec(text)?.[1] ?? '?').toLowerCase()
        byCommand[keyword] = (byCommand[keyword] ?? 0) + 1
        total++
      }
      return super.query(query, ...rest)
    }
  }
  // The store's own pool settings (PostgresTokenStore with a connectionString), but our client.
  const pool = new pg.Pool({ connectionString, Client: CountingClient, max: 10, keepAlive: true })
  pool.on('error', () => {})
  return { pool, count: async () => ({ total, byCommand: { ...byCommand } }) }
}

await storeBench(import.meta.url, {
  name: 'PostgreSQL',
  commands: 'PostgreSQL statements',
  // Loaded here only: the waiting process does not need @ongoing/testing (nor its heap).
  start: async () => (await import('@ongoing/testing')).startPostgresServer(),
  namespace: (run) => `bench_${run}_grants`,
  prepare: async (connectionString, table) => {
    const store = new PostgresTokenStore({ connectionString, table })
    await store.migrate()
    await store.close()
  },
  connect: async (connectionString) => {
    const { pool, count } = countingPool(connectionString)
    return {
      open: (table) => new PostgresTokenStore({ pool, table }),
      count,
      close: () => pool.end(),
    }
  },
  open: (connectionString, table) =>
    new PostgresTokenStore({ connectionString, table, poolConfig: { min: 2 } }),
})
