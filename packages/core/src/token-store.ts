/**
 * The token-store contract. A store keeps one opaque string per key, with a version number that
 * every successful write increments. `OngoingAccess` encrypts each record before it hands it over
 * (unless `encryptTokens: false`), so a store never sees token material in clear.
 *
 * What a store must guarantee (checked by `runTokenStoreConformance` in `@ongoing/testing`):
 * - `set` is compare-and-set on the version: a write whose `expectedVersion` is not the current
 *   version (0 for "absent") changes nothing and returns `undefined`; a stale writer never wins.
 * - When a `lock` is passed, `set` also fails unless that lock is still held by its owner (fencing):
 *   a holder that stalled past the lock's TTL cannot write.
 * - Every call settles; `OngoingAccess` bounds each call with its own timeout (`storeTimeoutMs`).
 *
 * Optional capabilities, used when present:
 * - `acquireLock`: a refresh lock shared by every process using the store, so one grant is refreshed
 *   by one caller at a time across processes. Without it, refresh is single-flight per process only.
 * - `subscribe`: change notification, so waiters wake as soon as a grant is written. Without it,
 *   waiters poll with backoff.
 * - `claimOnce`: a shared single-use register, so a consent transaction is accepted once across
 *   processes. Without it, single use is enforced per process.
 * - `list`: the keys under a prefix, a page at a time, so `access.grants()` and the keeper can walk
 *   every stored grant. Without it, those two throw `ERR_CONFIGURATION` saying so.
 *
 * @example
 * ```ts
 * class MyStore implements TokenStore {
 *   async get(key) { ... }
 *   async set(key, value, { expectedVersion, lock, ttlMs }) { ... }
 *   async delete(key, expectedVersion) { ... }
 *   async list(prefix, { cursor, limit }) { ... } // optional: for access.grants() and the keeper
 * }
 * const access = new OngoingAccess({ ...options, store: new MyStore() })
 * ```
 */
export interface TokenStore {
  /** The current entry for `key`, or `undefined` when there is none. */
  get(key: string): Promise<TokenStoreEntry | undefined>
  /**
   * Writes `value` when the current version is `options.expectedVersion` (0 when absent) and, if
   * `options.lock` is given, that lock is still held. Returns the new version, or `undefined` when
   * the compare-and-set lost (nothing was written).
   */
  set(key: string, value: string, options: TokenStoreSetOptions): Promise<number | undefined>
  /**
   * Deletes `key`. With `expectedVersion`, only when it is still the current version.
   * Returns whether an entry was deleted.
   */
  delete(key: string, expectedVersion?: number): Promise<boolean>
  /**
   * Takes the refresh lock of `key` for `ttlMs`, or returns `undefined` at once when another owner
   * holds it. The lock expires by itself after `ttlMs` so a crashed holder cannot block others.
   */
  acquireLock?(key: string, ttlMs: number): Promise<TokenStoreLock | undefined>
  /**
   * Calls `listener(key)` after every successful `set` or `delete` of any key, by any writer. A
   * write made through this store object is heard by its listeners before that `set` or `delete`
   * resolves (so a writer can tell its own write from another's). Returns an unsubscribe function.
   */
  subscribe?(listener: (key: string) => void): () => void
  /**
   * One page of the keys of live records that start with `prefix` (never lock or claim keys).
   * Pass the page's `cursor` back for the next page; the walk is over when `cursor` is `undefined`.
   *
   * A key whose record exists from the first call of a walk to its last is listed, once (Redis may
   * list such a key twice while its key space shrinks: `SCAN`'s own guarantee); a key created or
   * deleted meanwhile may or may not be. Writes to a listed key do not list it again. A page holds about `limit` keys, possibly fewer
   * (even none) before the walk is over. Cursors are opaque; one from another store means nothing.
   */
  list?(prefix: string, options: TokenStoreListOptions): Promise<TokenStoreListPage>
  /** Records `id` as used for `ttlMs`. Resolves `true` the first time, `false` for every repeat. */
  claimOnce?(id: string, ttlMs: number): Promise<boolean>
  /** Releases what the store opened (connections, timers). */
  close?(): Promise<void>
}

/** One stored entry: an opaque (usually encrypted) string and its version. */
export interface TokenStoreEntry {
  /** The record, as `OngoingAccess` wrote it. */
  readonly value: string
  /** Starts at 1 and grows by one with every write. */
  readonly version: number
}

/** Options of {@link TokenStore.set}. */
export interface TokenStoreSetOptions {
  /** The version the writer read; 0 when it read nothing. */
  expectedVersion: number
  /** The refresh lock the writer holds, if any: the write fails when it is no longer held (fencing). */
  lock?: TokenStoreLock | undefined
  /** How long the record may live (the refresh token's lifetime, when known). */
  ttlMs?: number | undefined
}

/** Options of {@link TokenStore.list}. */
export interface TokenStoreListOptions {
  /** The `cursor` of the previous page; absent for the first page. */
  cursor?: string | undefined
  /** About how many keys a page holds (a positive integer). */
  limit: number
}

/** One page of {@link TokenStore.list}. */
export interface TokenStoreListPage {
  /** Full store keys (with the prefix). */
  keys: string[]
  /** Where the next page starts; `undefined` when the walk is over. */
  cursor: string | undefined
}

/** A held refresh lock. */
export interface TokenStoreLock {
  /** The key the lock is for. */
  readonly key: string
  /** A random value that identifies this holder (the fencing token). */
  readonly token: string
  /** Releases the lock if this holder still holds it. */
  release(): Promise<void>
  /**
   * Extends the lock to `ttlMs` from now, if this holder still holds it. Optional: with it, a
   * holder keeps its lease for as long as its work goes on (a refresh, a write that must be retried);
   * without it, the lock's first TTL must cover all of that work.
   *
   * @returns `true` when extended, `false` when the lock was lost (expired or taken).
   */
  extend?(ttlMs: number): Promise<boolean>
}
