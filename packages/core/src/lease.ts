import type { GrantRepository } from './grant-repository.js'
import type { TokenStoreLock } from './token-store.js'

/**
 * A held refresh lock, with the time it is known to last. The time is measured on this process's
 * clock from before the lock was asked for, so it never overestimates what the store granted.
 * While the work under it goes on, the lease is extended every third of its TTL (when the store's
 * lock can be extended); a token call is only started when the lease outlasts it.
 */
export class Lease {
  /** Releases sent by this process and not answered yet, by repository and user key. */
  static readonly #releasing = new WeakMap<GrantRepository, Map<string, Promise<void>>>()

  #validUntil: number
  #heartbeat: ReturnType<typeof setInterval> | undefined
  #released = false

  private constructor(
    private readonly repository: GrantRepository,
    private readonly userKey: string,
    readonly lock: TokenStoreLock,
    private readonly ttlMs: number,
    askedAt: number,
  ) {
    this.#validUntil = askedAt + ttlMs
    if (lock.extend !== undefined) {
      this.#heartbeat = setInterval(
        () => {
          this.extend().catch(() => {})
        },
        Math.max(10, Math.floor(ttlMs / 3)),
      )
      this.#heartbeat.unref?.()
    }
  }

  /** Takes `userKey`'s lock for `ttlMs`, or returns `undefined` when another holder has it. */
  static async acquire(
    repository: GrantRepository,
    userKey: string,
    ttlMs: number,
  ): Promise<Lease | undefined> {
    // A release of ours still on its way would refuse us our own lock: let it land first.
    const releasing = Lease.#releasing.get(repository)?.get(userKey)
    if (releasing !== undefined) await releasing
    const askedAt = Date.now()
    const lock = await repository.acquireLock(userKey, ttlMs)
    return lock === undefined ? undefined : new Lease(repository, userKey, lock, ttlMs, askedAt)
  }

  /** How long the lease still lasts for sure, in ms (0 once lost). */
  remainingMs(): number {
    return this.#released ? 0 : Math.max(0, this.#validUntil - Date.now())
  }

  /** Extends the lease to its TTL from now. Returns whether it is held (`false`: lost, or no `extend`). */
  async extend(): Promise<boolean> {
    if (this.#released || this.lock.extend === undefined) return false
    const askedAt = Date.now()
    const extended = await this.repository.extendLock(this.lock, this.ttlMs)
    if (extended) this.#validUntil = Math.max(this.#validUntil, askedAt + this.ttlMs)
    else this.#validUntil = 0
    return extended
  }

  /** Whether the lease lasts at least `ms` more, extending it first when it would not. */
  async outlasts(ms: number): Promise<boolean> {
    if (this.remainingMs() >= ms) return true
    await this.extend().catch(() => false)
    return this.remainingMs() >= ms
  }

  /**
   * Stops extending and releases the lock (if still held). Until the store answers, this process's
   * own {@link Lease.acquire} of the same grant waits for it, so a caller need not: the refreshed
   * token's waiters are answered while the release is on its way.
   */
  release(): Promise<void> {
    if (this.#released) return Promise.resolve()
    this.#released = true
    clearInterval(this.#heartbeat)
    const inFlight = Lease.#releasing.get(this.repository) ?? new Map<string, Promise<void>>()
    Lease.#releasing.set(this.repository, inFlight)
    const released = this.repository.release(this.lock)
    // Waiters of `acquire` wait for the release to land, whether or not it succeeded.
    const forget = () => {
      if (inFlight.get(this.userKey) === landed) inFlight.delete(this.userKey)
    }
    const landed: Promise<void> = released.then(forget, forget)
    inFlight.set(this.userKey, landed)
    return released
  }
}
