import { randomBytes } from 'node:crypto'
import type {
  TokenStore,
  TokenStoreEntry,
  TokenStoreListOptions,
  TokenStoreListPage,
  TokenStoreLock,
  TokenStoreSetOptions,
} from '@ongoing/core'
import { Redis, type RedisOptions } from 'ioredis'
import { DELETE_SCRIPT, EXTEND_SCRIPT, type LuaScript, RELEASE_SCRIPT, SET_SCRIPT } from './scripts.js'

/** Options of {@link RedisTokenStore}: give `url` or `client`, not both. */
export interface RedisTokenStoreOptions {
  /**
   * A Redis URL (`redis://[user:password@]host:port[/db]`, `rediss://` for TLS). The store opens
   * its own connection, set up to fail fast when Redis is unreachable (no offline queue, commands
   * time out after `commandTimeoutMs`, reconnecting every 50–500 ms), and closes it in `close()`.
   */
  url?: string
  /**
   * An ioredis client you own. The store never closes it; it only closes the subscriber connection
   * it creates from it with `client.duplicate()` for change notification. For bounded failures,
   * create it with `{ enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 1000 }`
   * (see {@link RedisTokenStore}); the store refuses to queue commands while the client is not
   * connected whatever its options are.
   */
  client?: Redis
  /** Prefix of every Redis key and of the change channel. Default: `'ongoing:'`. */
  keyPrefix?: string
  /**
   * How long one command may take before it fails. Default: 800 ms, under the 1,000 ms that
   * `OngoingAccess` allows each store call (`storeTimeoutMs`), so the store's own error is the one
   * you see and an unanswered lock request is cleaned up.
   */
  commandTimeoutMs?: number
  /**
   * Further ioredis options for the connection opened from `url` (TLS, `connectionName`, …). The
   * store's fail-fast settings apply unless you override them here.
   */
  redisOptions?: RedisOptions
}

/** A refresh lock held in Redis. */
export interface RedisTokenStoreLock extends TokenStoreLock {
  /**
   * Extends the lock to `ttlMs` from now, if this holder still holds it.
   *
   * @returns `true` when extended, `false` when the lock was lost (expired or taken).
   */
  extend(ttlMs: number): Promise<boolean>
}

const DEFAULT_PREFIX = 'ongoing:'
const DEFAULT_COMMAND_TIMEOUT_MS = 800
/** The largest `SCAN … COUNT` that `list` sends, so that one SCAN stays short however big `limit` is. */
const MAX_SCAN_COUNT = 1_000
/** How many SCANs one `list` call sends at most while its page is still empty. */
const MAX_SCANS_PER_PAGE = 8

/**
 * A token store in Redis, for apps running several processes or machines: compare-and-set writes
 * in a Lua script, a refresh lock (`SET NX PX` with a random token) that only its holder can release
 * or extend and that fences writes, change notification over pub/sub, single-use claims, and
 * listing by key prefix (`SCAN`, never `KEYS`).
 *
 * Every command fails within a bounded time when Redis is unreachable; nothing is queued for later.
 * Connections recover by themselves when Redis comes back.
 *
 * Redis layout, under `keyPrefix` (default `ongoing:`):
 * - `{<key>}`: a hash `{ n: version, v: value }`, expiring with the record's TTL;
 * - `{<key>}:lock`: the refresh lock's holder token, expiring with the lock;
 * - `claim:<id>`: single-use claims;
 * - channel `changes`: one message per write or delete.
 *
 * Only record keys start with `{` and end with `}`, so `list` tells them apart from locks and claims
 * by name alone. Give each app a `keyPrefix` that no other one starts with: a store lists (and
 * reads) whatever lies under its own prefix.
 *
 * @example
 * ```ts
 * import { OngoingAccess } from '@ongoing/core'
 * import { RedisTokenStore } from '@ongoing/redis'
 *
 * const store = new RedisTokenStore({ url: process.env.REDIS_URL })
 * const access = new OngoingAccess({ ...options, store })
 * // … on shutdown:
 * access.close()
 * await store.close()
 * ```
 * @example With a client you own:
 * ```ts
 * import { Redis } from 'ioredis'
 *
 * const client = new Redis(process.env.REDIS_URL, {
 *   enableOfflineQueue: false,
 *   maxRetriesPerRequest: 0,
 *   commandTimeout: 1000,
 * })
 * const store = new RedisTokenStore({ client, keyPrefix: 'myapp:ongoing:' })
 * ```
 * @see https://redis.io/docs/latest/develop/use/patterns/distributed-locks/ (single-instance lock)
 */
export class RedisTokenStore implements TokenStore {
  /** The prefix of every key and of the change channel. */
  readonly keyPrefix: string
  readonly #client: Redis
  readonly #ownsClient: boolean
  readonly #commandTimeoutMs: number
  readonly #boundCommands: boolean
  readonly #channel: string
  readonly #origin = randomBytes(9).toString('base64url')
  readonly #listeners = new Set<(key: string) => void>()
  #subscriber: Redis | undefined
  #subscribed: Promise<void> | undefined
  #closed = false

  /**
   * @param options - `{ url }` or `{ client }`, and optionally `keyPrefix` and `commandTimeoutMs`.
   * @throws {TypeError} when the options are invalid (neither or both of `url` and `client`, a
   *   malformed URL, a bad prefix or timeout).
   */
  constructor(options: RedisTokenStoreOptions) {
    if (typeof options !== 'object' || options === null)
      throw new TypeError('ongoing: RedisTokenStore needs `{ url }` or `{ client }`')
    const { url, client, keyPrefix = DEFAULT_PREFIX, commandTimeoutMs = DEFAULT_COMMAND_TIMEOUT_MS } = options
    if ((url === undefined) === (client === undefined))
      throw new TypeError('ongoing: RedisTokenStore needs exactly one of `url` and `client`')
    if (typeof keyPrefix !== 'string')
      throw new TypeError('ongoing: RedisTokenStore `keyPrefix` must be a string')
    if (typeof commandTimeoutMs !== 'number' || !Number.isFinite(commandTimeoutMs) || commandTimeoutMs <= 0)
      throw new TypeError('ongoing: RedisTokenStore `commandTimeoutMs` must be a positive number')
    this.keyPrefix = keyPrefix
    this.#channel = `${keyPrefix}changes`
    this.#commandTimeoutMs = commandTimeoutMs
    if (url !== undefined) {
      if (typeof url !== 'string' || !/^rediss?:\/\//.test(url) || !URL.canParse(url))
        throw new TypeError('ongoing: RedisTokenStore `url` must be a redis:// or rediss:// URL')
      this.#client = new Redis(url, {
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        autoResendUnfulfilledCommands: false,
        commandTimeout: commandTimeoutMs,
        connectTimeout: Math.max(commandTimeoutMs, 1_000),
        retryStrategy: (attempt) => Math.min(attempt * 50, 500),
        ...options.redisOptions,
      })
      // Connection errors are reported through the failing calls; without a listener ioredis
      // would print each reconnection failure.
      this.#client.on('error', ignore)
      this.#ownsClient = true
    } else {
      if (
        typeof client !== 'object' ||
        client === null ||
        typeof client.evalsha !== 'function' ||
        typeof client.duplicate !== 'function'
      ) {
        throw new TypeError('ongoing: RedisTokenStore `client` must be an ioredis client')
      }
      this.#client = client
      this.#ownsClient = false
    }
    this.#boundCommands = typeof this.#client.options.commandTimeout !== 'number'
  }

  /**
   * The current entry of `key`, in one round trip (`HMGET`).
   *
   * @throws {Error} when Redis is unreachable or does not answer within `commandTimeoutMs`.
   * @example
   * ```ts
   * const entry = await store.get('grant:…:user-42') // { value, version } | undefined
   * ```
   */
  async get(key: string): Promise<TokenStoreEntry | undefined> {
    const [version, value] = await this.#run('get', () => this.#client.hmget(this.#recordKey(key), 'n', 'v'))
    if (version === null || version === undefined || value === null || value === undefined) return undefined
    return { value, version: Number(version) }
  }

  /**
   * Compare-and-set write: stores `value` when the record's version is `expectedVersion` (0 when
   * absent) and, with `lock`, when that lock is still held by its holder (fencing), all in one Lua
   * script that also publishes the change. `ttlMs` sets the record's lifetime (none: it persists).
   *
   * @returns The new version, or `undefined` when the version or the lock did not match.
   * @throws {Error} when Redis is unreachable or does not answer within `commandTimeoutMs`.
   * @example
   * ```ts
   * const version = await store.set(key, sealed, { expectedVersion: entry?.version ?? 0, lock, ttlMs })
   * if (version === undefined) {
   *   // another writer won: read again
   * }
   * ```
   */
  async set(key: string, value: string, options: TokenStoreSetOptions): Promise<number | undefined> {
    const { expectedVersion, lock, ttlMs } = options
    if (!Number.isInteger(expectedVersion) || expectedVersion < 0)
      throw new TypeError('ongoing: `expectedVersion` must be a non-negative integer')
    if (typeof value !== 'string') throw new TypeError('ongoing: a token store value must be a string')
    if (ttlMs !== undefined && (!Number.isFinite(ttlMs) || ttlMs <= 0))
      throw new TypeError('ongoing: `ttlMs` must be a positive number')
    const result = await this.#eval(
      'set',
      SET_SCRIPT,
      [this.#recordKey(key), this.#lockKey(key)],
      [
        String(expectedVersion),
        value,
        ttlMs === undefined ? '' : String(Math.ceil(ttlMs)),
        lock === undefined ? '' : lock.token,
        this.#channel,
        this.#message(key),
      ],
    )
    const version = Number(result)
    if (!(version > 0)) return undefined
    this.#notify(key)
    return version
  }

  /**
   * Deletes `key`; with `expectedVersion`, only when that is still its version.
   *
   * @returns Whether a record was deleted.
   * @throws {Error} when Redis is unreachable or does not answer within `commandTimeoutMs`.
   * @example
   * ```ts
   * await store.delete(key, entry.version)
   * ```
   */
  async delete(key: string, expectedVersion?: number): Promise<boolean> {
    const deleted = await this.#eval(
      'delete',
      DELETE_SCRIPT,
      [this.#recordKey(key)],
      [expectedVersion === undefined ? '' : String(expectedVersion), this.#channel, this.#message(key)],
    )
    if (Number(deleted) !== 1) return false
    this.#notify(key)
    return true
  }

  /**
   * Takes the refresh lock of `key` for `ttlMs` (`SET NX PX` with a random token), or returns
   * `undefined` at once when another holder has it. Only the holder can release or extend it, and
   * writes that pass it fail once it is no longer held.
   *
   * @throws {Error} when Redis is unreachable or does not answer within `commandTimeoutMs`.
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
  async acquireLock(key: string, ttlMs: number): Promise<RedisTokenStoreLock | undefined> {
    if (!Number.isFinite(ttlMs) || ttlMs <= 0)
      throw new TypeError('ongoing: lock `ttlMs` must be a positive number')
    const lockKey = this.#lockKey(key)
    const token = randomBytes(16).toString('base64url')
    let acquired: string | null
    try {
      acquired = await this.#run('acquireLock', () =>
        this.#client.set(lockKey, token, 'PX', Math.ceil(ttlMs), 'NX'),
      )
    } catch (err) {
      // The SET may still reach Redis after we gave up: free the lock nobody will use. Best effort;
      // otherwise it expires after ttlMs.
      if (!this.#closed) this.#eval('release', RELEASE_SCRIPT, [lockKey], [token]).catch(ignore)
      throw err
    }
    if (acquired !== 'OK') return undefined
    return {
      key,
      token,
      release: async () => {
        await this.#eval('release', RELEASE_SCRIPT, [lockKey], [token])
      },
      extend: async (extendMs: number) => {
        if (!Number.isFinite(extendMs) || extendMs <= 0)
          throw new TypeError('ongoing: lock `ttlMs` must be a positive number')
        const extended = await this.#eval(
          'extend',
          EXTEND_SCRIPT,
          [lockKey],
          [token, String(Math.ceil(extendMs))],
        )
        return Number(extended) === 1
      },
    }
  }

  /**
   * Calls `listener(key)` after every successful write or delete of any key under this prefix, by
   * this store at once and by any other process through Redis pub/sub. The subscriber connection
   * is created on the first call (a `duplicate()` of the client) and closed by `close()`. A
   * notification can be missed while Redis is unreachable; `OngoingAccess` also polls.
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
    if (this.#subscriber === undefined && !this.#closed) this.#startSubscriber()
    return () => {
      this.#listeners.delete(listener)
    }
  }

  /**
   * One page of the keys of the records whose key starts with `prefix` (never locks or claims), by
   * `SCAN <cursor> MATCH <keyPrefix>{<prefix>*} COUNT <limit>` with the glob characters of both
   * prefixes escaped. Pass the page's `cursor` back for the next page; the walk is over when it is
   * `undefined`.
   *
   * `SCAN`'s guarantees are the walk's: a record that exists for the whole walk is listed, once,
   * unless the database's key space shrinks meanwhile (Redis resizes its table when most keys are
   * gone: such a record may then be listed twice); a record created or deleted during the walk may
   * or may not be; rewriting a record never lists it again; expired records are not listed.
   *
   * `SCAN` visits the whole database, not only the prefix: a walk takes about (keys in the
   * database) / `limit` calls, each bounded like every other command, and a page under a rare
   * prefix is often empty (a call sends up to 8 SCANs while it has found nothing, then returns the
   * empty page). `COUNT` is a hint: a page may hold somewhat more or fewer than `limit` keys (at
   * most about 1,000 however big `limit` is), never the same key twice. The cursor is Redis's own:
   * it holds no state on the server and never expires.
   *
   * @param prefix - Only keys that start with it (`''`: every record of this store).
   * @param options - `limit`, about how many keys a page holds (a positive integer), and the
   *   previous page's `cursor` (absent for the first page).
   * @throws {TypeError} when `limit` is not a positive integer or `cursor` is not one this store
   *   returned.
   * @throws {Error} when Redis is unreachable or does not answer within `commandTimeoutMs`.
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
    if (cursor !== undefined && (typeof cursor !== 'string' || !/^[0-9]{1,20}$/.test(cursor)))
      throw new TypeError('ongoing: list `cursor` must be one that this store returned')
    // A record key is <keyPrefix>{<key>}; a lock key ends with `}:lock`, a claim key has no `{`.
    // ioredis adds a client's own `keyPrefix` option to keys, but not to SCAN's pattern or replies.
    const start = `${this.#client.options.keyPrefix ?? ''}${this.keyPrefix}{`
    const pattern = `${escapeGlob(start)}${escapeGlob(prefix)}*}`
    const count = Math.min(limit, MAX_SCAN_COUNT)
    return this.#run('list', async () => {
      const started = Date.now()
      const keys = new Set<string>()
      let next = cursor ?? '0'
      for (let scans = 1; ; scans++) {
        const [after, found] = await this.#client.scan(next, 'MATCH', pattern, 'COUNT', count)
        next = after
        for (const key of found)
          if (key.startsWith(start) && key.endsWith('}')) keys.add(key.slice(start.length, -1))
        // While the page is empty, scan on, a few times and for half the command timeout at most.
        if (next === '0' || keys.size > 0 || scans >= MAX_SCANS_PER_PAGE) break
        if (Date.now() - started >= this.#commandTimeoutMs / 2) break
      }
      return { keys: [...keys], cursor: next === '0' ? undefined : next }
    })
  }

  /**
   * Records `id` as used for `ttlMs` (`SET NX PX`): `true` the first time, `false` while it is
   * remembered, across every process.
   *
   * @throws {Error} when Redis is unreachable or does not answer within `commandTimeoutMs`.
   * @example
   * ```ts
   * if (!(await store.claimOnce(transactionId, 600_000))) throw new Error('replayed')
   * ```
   */
  async claimOnce(id: string, ttlMs: number): Promise<boolean> {
    if (!Number.isFinite(ttlMs) || ttlMs <= 0)
      throw new TypeError('ongoing: claim `ttlMs` must be a positive number')
    const claimed = await this.#run('claimOnce', () =>
      this.#client.set(`${this.keyPrefix}claim:${id}`, '1', 'PX', Math.ceil(ttlMs), 'NX'),
    )
    return claimed === 'OK'
  }

  /**
   * Resolves once the connection is ready and, when someone subscribed, the change subscription is
   * active. Optional: every call waits for the first connection by itself. Useful at startup, to
   * fail early when Redis is unreachable.
   *
   * @param timeoutMs - How long to wait. Default: 10,000 ms.
   * @throws {Error} when not ready in time, or closed.
   * @example
   * ```ts
   * await store.ready()
   * ```
   */
  async ready(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    const client = this.#client
    while (client.status !== 'ready') {
      if (this.#closed || client.status === 'end') throw new Error('ongoing: RedisTokenStore is closed')
      if (client.status === 'wait') client.connect().catch(ignore)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error('ongoing: RedisTokenStore was not ready in time')
      await new Promise((resolve) => setTimeout(resolve, Math.min(left, 20)))
    }
    if (this.#subscribed !== undefined) {
      await withTimeout(
        this.#subscribed,
        Math.max(1, deadline - Date.now()),
        'ongoing: RedisTokenStore subscription was not ready in time',
      )
    }
  }

  /**
   * Closes the subscriber connection it created and, when it was given a `url`, its own
   * connection. A client passed as `client` stays open: you own it. Idempotent.
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
    const closing: Promise<void>[] = []
    if (this.#subscriber !== undefined) closing.push(this.#quit(this.#subscriber))
    if (this.#ownsClient) closing.push(this.#quit(this.#client))
    await Promise.all(closing)
  }

  #recordKey(key: string): string {
    return `${this.keyPrefix}{${key}}`
  }

  #lockKey(key: string): string {
    return `${this.keyPrefix}{${key}}:lock`
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

  #startSubscriber(): void {
    const subscriber = this.#client.duplicate({
      // The one command it sends is SUBSCRIBE: queueing it until connected is harmless, and ioredis
      // subscribes again by itself after every reconnection.
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      autoResubscribe: true,
      commandTimeout: undefined,
      lazyConnect: false,
      retryStrategy: (attempt) => Math.min(attempt * 50, 500),
    })
    subscriber.on('error', ignore)
    subscriber.on('message', (channel: string, message: string) => {
      if (channel !== this.#channel) return
      const separator = message.indexOf(':')
      if (separator < 0) return
      // Our own writes were announced when they returned.
      if (message.slice(0, separator) === this.#origin) return
      this.#notify(message.slice(separator + 1))
    })
    this.#subscriber = subscriber
    this.#subscribed = subscriber.subscribe(this.#channel).then(() => undefined)
    // Reported by ready(); otherwise a failed subscription only means polling.
    this.#subscribed.catch(ignore)
  }

  async #quit(connection: Redis): Promise<void> {
    if (connection.status === 'ready') {
      await withTimeout(connection.quit(), this.#commandTimeoutMs, 'QUIT timed out').catch(ignore)
    }
    if (connection.status !== 'end') connection.disconnect()
  }

  async #eval(what: string, lua: LuaScript, keys: string[], args: string[]): Promise<unknown> {
    return this.#run(what, async () => {
      try {
        return await this.#client.evalsha(lua.sha, keys.length, ...keys, ...args)
      } catch (err) {
        if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err
        return this.#client.eval(lua.source, keys.length, ...keys, ...args)
      }
    })
  }

  /**
   * Runs one store operation: only on a ready connection (nothing waits in an offline queue),
   * bounded in time, with errors that carry no command arguments (values may hold tokens).
   */
  async #run<T>(what: string, command: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new Error('ongoing: RedisTokenStore is closed')
    try {
      if (this.#client.status !== 'ready') await waitForReady(this.#client, this.#commandTimeoutMs)
      const running = command()
      return await (this.#boundCommands
        ? withTimeout(running, this.#commandTimeoutMs, 'Command timed out')
        : running)
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err)
      throw new Error(`ongoing: Redis ${what} failed: ${reason.slice(0, 200)}`)
    }
  }
}

function ignore(): void {}

/** `text` as a literal in a Redis glob pattern (`MATCH`): `*`, `?`, `[`, `]` and backslash escaped. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (char) => `\\${char}`)
}

const readyWaiters = new WeakMap<Redis, Promise<void>>()

/**
 * Waits for `client` to be ready. Fails at once when it is between reconnection attempts or was
 * closed, and after `timeoutMs` otherwise: a caller never waits for Redis to come back.
 */
function waitForReady(client: Redis, timeoutMs: number): Promise<void> {
  switch (client.status) {
    case 'ready':
      return Promise.resolve()
    case 'reconnecting':
      return Promise.reject(new Error('Redis is unreachable (reconnecting)'))
    case 'end':
    case 'close':
      return Promise.reject(new Error('the Redis connection is closed'))
    case 'wait':
      client.connect().catch(ignore)
      break
  }
  // One pair of listeners per connection attempt, however many calls wait on it.
  let waiter = readyWaiters.get(client)
  if (waiter === undefined) {
    waiter = new Promise<void>((resolve, reject) => {
      const settle = (err?: Error) => {
        client.off('ready', onReady)
        client.off('close', onClose)
        readyWaiters.delete(client)
        if (err === undefined) resolve()
        else reject(err)
      }
      const onReady = () => settle()
      const onClose = () => settle(new Error('Redis is unreachable (connection closed)'))
      client.once('ready', onReady)
      client.once('close', onClose)
    })
    waiter.catch(ignore)
    readyWaiters.set(client, waiter)
  }
  return withTimeout(waiter, timeoutMs, 'Redis connection not ready in time')
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
