import { type AccessToken, accessTokenOf, type Grant, refreshAtOf } from './access-token.js'
import type { ChangeFeed } from './change-feed.js'

interface CacheEntry {
  token: AccessToken
  refreshAt: number
}

/**
 * The process-local cache of fresh access tokens, by user key: the hot path's one lookup. Bounded
 * (the oldest entry goes first), and bounded in time by each token's own refresh time. A grant read
 * before a change of it was seen is not cached (see {@link ChangeFeed}).
 */
export class TokenCache {
  readonly #entries = new Map<string, CacheEntry>()
  readonly #max: number
  readonly #skewMs: number
  readonly #feed: ChangeFeed

  constructor(max: number, skewMs: number, feed: ChangeFeed) {
    this.#max = max
    this.#skewMs = skewMs
    this.#feed = feed
  }

  /** The cached token of `userKey` while it is fresh; otherwise `undefined`. No allocation. */
  fresh(userKey: string): AccessToken | undefined {
    const entry = this.#entries.get(userKey)
    return entry !== undefined && Date.now() < entry.refreshAt ? entry.token : undefined
  }

  /** Whether `userKey`'s token is cached and has come due (a refresh is most likely needed). */
  due(userKey: string): boolean {
    const entry = this.#entries.get(userKey)
    return entry !== undefined && Date.now() >= entry.refreshAt
  }

  /** Caches `grant`'s token, unless a change of the grant was seen since `since` or it is due already. */
  remember(userKey: string, grant: Grant, since: number): void {
    if (this.#max === 0) return
    // Read (or written) before a change of this grant was seen: it may be the superseded grant.
    if (this.#feed.changedSince(userKey, since)) return
    const refreshAt = refreshAtOf(grant, this.#skewMs)
    if (refreshAt <= Date.now()) return
    this.#entries.delete(userKey)
    if (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value as string)
    this.#entries.set(userKey, { token: accessTokenOf(grant, false), refreshAt })
  }

  forget(userKey: string): void {
    this.#entries.delete(userKey)
  }

  clear(): void {
    this.#entries.clear()
  }
}
