// One app instance in its own process, for the multi-process tests: an OngoingAccess on a
// RedisTokenStore or a PostgresTokenStore (config.store), driven by its parent over IPC. Imports the built packages (run `pnpm build`).
//
// parent → worker: { type: 'init', config } | { type: 'run', runId, users, calls } | { type: 'proceed' } | { type: 'exit' }
// worker → parent: { type: 'ready' } | { type: 'result', runId, users: { [userKey]: UserResult } }
//                  | { type: 'about-to-write', userKey } | { type: 'late-write', version } | { type: 'failed', message }
//
// Token values never leave the process: results carry a short SHA-256 digest of each value.
import { createHash } from 'node:crypto'
import { OngoingAccess } from '@ongoing/core'
import { RedisTokenStore } from '@ongoing/redis'

let access
let store
const proceedWaiters = []
let refreshEvents = 0

const send = (message) => process.send?.(message)
const digest = (value) => createHash('sha256').update(value).digest('base64url').slice(0, 16)

/**
 * The store, with one test hook: when `interceptLockedWrites` is on, a refresh's write (a write
 * under the lock: the AS has answered, nothing is saved yet) tells the parent and waits for
 * `proceed`. The parent kills or freezes this process there, or lets it go on.
 */
function hookedStore(inner, intercept) {
  return {
    get: (key) => inner.get(key),
    delete: (key, expectedVersion) => inner.delete(key, expectedVersion),
    acquireLock: (key, ttlMs) => inner.acquireLock(key, ttlMs),
    subscribe: (listener) => inner.subscribe(listener),
    claimOnce: (id, ttlMs) => inner.claimOnce(id, ttlMs),
    close: () => inner.close(),
    async set(key, value, options) {
      if (!intercept || options.lock === undefined) return inner.set(key, value, options)
      send({ type: 'about-to-write' })
      await new Promise((resolve) => proceedWaiters.push(resolve))
      const version = await inner.set(key, value, options)
      send({ type: 'late-write', version: version ?? null })
      return version
    },
  }
}

async function openStore(config) {
  if (config.kind === 'redis') return new RedisTokenStore({ url: config.url, keyPrefix: config.keyPrefix })
  if (config.kind === 'postgres') {
    // Only the PostgreSQL runs need the package (and its pg).
    const { PostgresTokenStore } = await import('@ongoing/postgres')
    // A pool that keeps 10 connections, opened by ready(): a burst does not wait for new ones.
    return new PostgresTokenStore({
      connectionString: config.url,
      table: config.table,
      poolConfig: { min: 10 },
    })
  }
  throw new Error(`unknown store kind: ${config.kind}`)
}

async function init(config) {
  store = await openStore(config.store)
  access = new OngoingAccess({
    issuer: config.issuer,
    client: config.client,
    redirectUri: config.redirectUri,
    scope: config.scope,
    secret: config.secret,
    store: hookedStore(store, config.interceptLockedWrites === true),
    ...config.options,
  })
  access.on('refresh', () => {
    refreshEvents++
  })
  await access.metadata()
  await store.ready()
  send({ type: 'ready' })
}

async function run({ runId, users, calls }) {
  const startedAt = Date.now()
  const perUser = {}
  await Promise.all(
    users.map(async (userKey) => {
      const result = { ok: 0, digests: {}, errors: {}, maxMs: 0, minMs: Number.POSITIVE_INFINITY }
      perUser[userKey] = result
      await Promise.all(
        Array.from({ length: calls }, async () => {
          const started = performance.now()
          try {
            const token = await access.getAccessToken(userKey)
            const d = digest(token.value)
            result.ok++
            result.digests[d] = (result.digests[d] ?? 0) + 1
          } catch (err) {
            const name = err?.reason ? `${err.code}/${err.reason}` : (err?.code ?? `uncoded: ${err?.message}`)
            result.errors[name] = (result.errors[name] ?? 0) + 1
          } finally {
            const ms = performance.now() - started
            result.maxMs = Math.max(result.maxMs, ms)
            result.minMs = Math.min(result.minMs, ms)
          }
        }),
      )
    }),
  )
  send({ type: 'result', runId, users: perUser, startedAt, finishedAt: Date.now(), refreshEvents })
}

process.on('message', (message) => {
  switch (message?.type) {
    case 'init':
      init(message.config).catch((err) => send({ type: 'failed', message: String(err?.message ?? err) }))
      break
    case 'run':
      run(message).catch((err) => send({ type: 'failed', message: String(err?.message ?? err) }))
      break
    case 'proceed':
      proceedWaiters.shift()?.()
      break
    case 'exit':
      access?.close()
      Promise.resolve(store?.close()).finally(() => process.exit(0))
      break
  }
})
