import { generateRandomToken } from './pkce.js'
import type {
  TokenStore,
  TokenStoreEntry,
  TokenStoreListOptions,
  TokenStoreListPage,
  TokenStoreLock,
  TokenStoreSetOptions,
} from './token-store.js'

/** Options of {@link MemoryTokenStore}. */
export interface MemoryTokenStoreOptions {
  /**
   * How many grants it keeps at most. Past that the least recently written grant is dropped (that
   * user must consent again), so memory stays flat. Default: 100,000.
   */
  maxEntries?: number
}

/** A walk of `list` under way: a live iterator over the keys in the order they were created. */
interface MemoryCursor {
  prefix: string
  keys: Iterator<string>
  usedAt: number
}

/** How many walks may be under way at once, and how long an idle one is kept. */
const MAX_CURSORS = 1_000
const CURSOR_IDLE_MS = 10 * 60_000

interface MemoryLock {
  token: string
  expiresAt: number
}

/**
 * The default token store: grants in this process's memory, bounded, with versioned
 * compare-and-set, a fenced refresh lock and change notification. Grants are lost when the process
 * exits; apps with several processes use `RedisTokenStore` from `@ongoing/redis`.
 *
 * @example
 * ```ts
 * const access = new OngoingAccess({ ...options, store: new MemoryTokenStore({ maxEntries: 10_000 }) })
 * ```
 */
export class MemoryTokenStore implements TokenStore {
  readonly #entries = new Map<string, TokenStoreEntry & { expiresAt: number }>()
  /** Every key, in the order it was created: rewrites do not move it, so a walk lists it once. */
  readonly #created = new Set<string>()
  readonly #cursors = new Map<string, MemoryCursor>()
  readonly #locks = new Map<string, MemoryLock>()
  readonly #claims = new Map<string, number>()
  readonly #listeners = new Set<(key: string) => void>()
  readonly #maxEntries: number

  constructor(options: MemoryTokenStoreOptions = {}) {
    const { maxEntries = 100_000 } = options
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new TypeError('ongoing: MemoryTokenStore `maxEntries` must be a positive integer')
    }
    this.#maxEntries = maxEntries
  }

  /** How many grants it holds now. */
  get size(): number {
    return this.#entries.size
  }

  async get(key: string): Promise<TokenStoreEntry | undefined> {
    const entry = this.#current(key)
    return entry === undefined ? undefined : { value: entry.value, version: entry.version }
  }

  async set(key: string, value: string, options: TokenStoreSetOptions): Promise<number | undefined> {
    // No await between the version check and the write: that is what makes it compare-and-set.
    const current = this.#current(key)
    if ((current?.version ?? 0) !== options.expectedVersion) return undefined
    if (options.lock !== undefined && !this.#holds(options.lock)) return undefined
    const version = options.expectedVersion + 1
    const expiresAt = options.ttlMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + options.ttlMs
    // Re-inserting moves the key to the end: the map's order is the order of last writes.
    this.#entries.delete(key)
    this.#entries.set(key, { value, version, expiresAt })
    this.#created.add(key)
    if (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value as string
      this.#forget(oldest)
    }
    this.#notify(key)
    return version
  }

  async delete(key: string, expectedVersion?: number): Promise<boolean> {
    const current = this.#current(key)
    if (current === undefined) return false
    if (expectedVersion !== undefined && current.version !== expectedVersion) return false
    this.#forget(key)
    this.#notify(key)
    return true
  }

  async acquireLock(key: string, ttlMs: number): Promise<TokenStoreLock | undefined> {
    const now = Date.now()
    const held = this.#locks.get(key)
    if (held !== undefined && held.expiresAt > now) return undefined
    const token = generateRandomToken(16)
    this.#locks.set(key, { token, expiresAt: now + ttlMs })
    return {
      key,
      token,
      release: async () => {
        if (this.#locks.get(key)?.token === token) this.#locks.delete(key)
      },
      extend: async (ttl: number) => {
        const lock = this.#locks.get(key)
        if (lock === undefined || lock.token !== token || lock.expiresAt <= Date.now()) return false
        lock.expiresAt = Date.now() + ttl
        return true
      },
    }
  }

  /**
   * One page of the keys under `prefix`, in the order they were created. A walk holds a live
   * iterator (no copy of the keys): up to 1,000 walks at once, each dropped after 10 idle minutes.
   *
   * @throws {Error} for a cursor this store does not know (finished, dropped, or from elsewhere).
   */
  async list(prefix: string, options: TokenStoreListOptions): Promise<TokenStoreListPage> {
    if (!Number.isInteger(options?.limit) || options.limit < 1)
      throw new TypeError('MemoryTokenStore: list `limit` must be a positive integer')
    const now = Date.now()
    let id = options.cursor
    let cursor: MemoryCursor | undefined
    if (id === undefined) {
      for (const [old, walk] of this.#cursors)
        if (now - walk.usedAt > CURSOR_IDLE_MS) this.#cursors.delete(old)
      if (this.#cursors.size >= MAX_CURSORS) this.#cursors.delete(this.#cursors.keys().next().value as string)
      id = generateRandomToken(12)
      cursor = { prefix, keys: this.#created.values(), usedAt: now }
      this.#cursors.set(id, cursor)
    } else {
      cursor = this.#cursors.get(id)
      if (cursor === undefined || cursor.prefix !== prefix)
        throw new Error(
          'MemoryTokenStore: unknown list cursor (the walk ended, was idle too long, or is not from this store)',
        )
    }
    cursor.usedAt = now
    const keys: string[] = []
    // Looks at a bounded number of keys per page, so a page under a rare prefix stays quick.
    for (let looked = 0; keys.length < options.limit && looked < options.limit * 10; looked++) {
      const next = cursor.keys.next()
      if (next.done === true) {
        this.#cursors.delete(id)
        return { keys, cursor: undefined }
      }
      if (next.value.startsWith(prefix) && this.#current(next.value) !== undefined) keys.push(next.value)
    }
    return { keys, cursor: id }
  }

  subscribe(listener: (key: string) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  async claimOnce(id: string, ttlMs: number): Promise<boolean> {
    const now = Date.now()
    if (this.#claims.size >= this.#maxEntries) {
      for (const [claimed, expiresAt] of this.#claims) if (expiresAt <= now) this.#claims.delete(claimed)
      // Still full of live claims: drop the oldest, so memory stays bounded under a flood.
      if (this.#claims.size >= this.#maxEntries)
        this.#claims.delete(this.#claims.keys().next().value as string)
    }
    const expiresAt = this.#claims.get(id)
    if (expiresAt !== undefined && expiresAt > now) return false
    this.#claims.set(id, now + ttlMs)
    return true
  }

  async close(): Promise<void> {
    this.#listeners.clear()
    this.#cursors.clear()
  }

  #current(key: string): (TokenStoreEntry & { expiresAt: number }) | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= Date.now()) {
      this.#forget(key)
      return undefined
    }
    return entry
  }

  #forget(key: string): void {
    this.#entries.delete(key)
    this.#created.delete(key)
  }

  #holds(lock: TokenStoreLock): boolean {
    const held = this.#locks.get(lock.key)
    return held !== undefined && held.token === lock.token && held.expiresAt > Date.now()
  }

  #notify(key: string): void {
    for (const listener of this.#listeners) {
      try {
        listener(key)
      } catch {
        // A listener's failure must not fail the write that already happened.
      }
    }
  }
}
