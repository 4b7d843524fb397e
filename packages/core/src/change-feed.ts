import type { ChangeWatch } from './refresh.js'

/** How many users' last change the feed remembers exactly (see {@link ChangeFeed.note}). */
const CHANGES_REMEMBERED = 10_000

/**
 * What this process knows of changes to grants: a sequence number that grows with every change
 * seen (a store notification, a write of ours, a revoke), the last change of each user, and the
 * waiters for a user's next change (a process waiting for another one's refresh).
 *
 * A read takes {@link ChangeFeed.seq} before it starts; if a change of that grant is seen after
 * ({@link ChangeFeed.changedSince}), what it read may be superseded and must not be cached.
 */
export class ChangeFeed {
  #seq = 0
  readonly #changedAt = new Map<string, number>()
  #floor = 0
  readonly #waiters = new Map<string, Set<() => void>>()

  /** The current sequence number: take it before a store read. */
  get seq(): number {
    return this.#seq
  }

  /**
   * Records that `userKey`'s grant changed. Exact for the last {@link CHANGES_REMEMBERED} users;
   * older changes count as happening at the floor, so a read older than that floor is not cached.
   */
  note(userKey: string): void {
    const seq = ++this.#seq
    this.#changedAt.delete(userKey)
    this.#changedAt.set(userKey, seq)
    if (this.#changedAt.size > CHANGES_REMEMBERED) {
      const [oldest, at] = this.#changedAt.entries().next().value as [string, number]
      this.#changedAt.delete(oldest)
      this.#floor = at
    }
  }

  /** Whether a change of `userKey`'s grant was seen after `seq` was taken. */
  changedSince(userKey: string, seq: number): boolean {
    return (this.#changedAt.get(userKey) ?? this.#floor) > seq
  }

  /** Wakes whoever watches `userKey`'s grant (a store notification came). */
  wake(userKey: string): void {
    const listeners = this.#waiters.get(userKey)
    if (listeners !== undefined) for (const listener of [...listeners]) listener()
  }

  /**
   * Starts listening for changes of `userKey`'s grant before the caller asks for the lock, so a
   * change that lands between a refused lock and the wait is not missed.
   */
  watch(userKey: string): ChangeWatch {
    let changed = false
    let wake: (() => void) | undefined
    const listener = () => {
      changed = true
      wake?.()
    }
    let listeners = this.#waiters.get(userKey)
    if (listeners === undefined) {
      listeners = new Set()
      this.#waiters.set(userKey, listeners)
    }
    const own = listeners
    own.add(listener)
    return {
      wait: (ms) => {
        if (changed) {
          changed = false
          return Promise.resolve()
        }
        return new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer)
            wake = undefined
            changed = false
            resolve()
          }
          const timer = setTimeout(done, ms)
          wake = done
        })
      },
      cancel: () => {
        own.delete(listener)
        if (own.size === 0 && this.#waiters.get(userKey) === own) this.#waiters.delete(userKey)
      },
    }
  }
}
