import { generateRandomToken } from './pkce.js'
import type { TokenStore, TokenStoreEntry, TokenStoreLock, TokenStoreSetOptions } from './token-store.js'

/** Options of {@link MemoryTokenStore}. */
export interface MemoryTokenStoreOptions {
  /**
   * How many grants it keeps at most. Past that the least recently written grant is dropped (that
   * user must consent again), so memory stays flat. Default: 100,000.
   */
  maxEntries?: number
}

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
    if (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value as string
      this.#entries.delete(oldest)
    }
    this.#notify(key)
    return version
  }

  async delete(key: string, expectedVersion?: number): Promise<boolean> {
    const current = this.#current(key)
    if (current === undefined) return false
    if (expectedVersion !== undefined && current.version !== expectedVersion) return false
    this.#entries.delete(key)
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
  }

  #current(key: string): (TokenStoreEntry & { expiresAt: number }) | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= Date.now()) {
      this.#entries.delete(key)
      return undefined
    }
    return entry
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
