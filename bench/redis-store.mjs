// RedisTokenStore under OngoingAccess: the getAccessToken hot path (with and without the
// process-local cache: Redis commands per call, from the server's command statistics, and time per
// call), lock acquisition, and how long a process waiting on another process's refresh takes to
// see the new token (bench/store-bench.mjs, shared with bench/postgres-store.mjs).
// No assertions on time: it prints a table. Needs redis-server on the PATH or REDIS_URL.
//
//   pnpm build && node bench/redis-store.mjs        (BENCH_JSON=1 also prints one JSON line)
import { RedisTokenStore } from '@ongoing/redis'
import { Redis } from 'ioredis'
import { storeBench } from './store-bench.mjs'

/** Every command the server ran so far, `INFO` left out: { total, byCommand }. */
async function commandCount(admin) {
  const info = await admin.info('commandstats')
  let total = 0
  const byCommand = {}
  for (const line of info.split('\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim())
    if (match === null || match[1] === 'info') continue
    byCommand[match[1]] = Number(match[2])
    total += Number(match[2])
  }
  return { total, byCommand }
}

const open = (url, keyPrefix) => new RedisTokenStore({ url, keyPrefix })

await storeBench(import.meta.url, {
  name: 'Redis',
  commands: 'Redis commands',
  // Loaded here only: the waiting process does not need @ongoing/testing (nor its heap).
  start: async () => (await import('@ongoing/testing')).startRedisServer(),
  namespace: (run) => `bench:${run}:`,
  connect: async (url) => {
    const admin = new Redis(url)
    return {
      open: (keyPrefix) => open(url, keyPrefix),
      count: () => commandCount(admin),
      close: async () => admin.disconnect(),
    }
  },
  open,
})
