import type { Grant } from './access-token.js'
import type { Lease } from './lease.js'
import type { RefreshContext } from './refresh.js'

/** What one try of a {@link BackgroundSave} came to. */
export type SaveOutcome = 'saved' | 'failing' | 'stopped'

/** A record the store must take before this process lets go of the grant's lock. */
export interface SaveJob {
  /** The record to write. */
  record: Grant
  /** Whether the stored record is still the one `record` follows (else it is superseded). */
  follows(stored: Grant): boolean
  /** Whether the record is still wanted (not dropped by a revoke, a consent, a restore, or time). */
  wanted(): boolean
  /** After the write. */
  saved(): void
  /** The stored record moved on without it (or is gone). */
  superseded(): void
  /** When it is over, whatever the reason. */
  stopped(): void
}

/**
 * Retries a write the store refused while holding the grant's lease, with backoff, until it is
 * saved, superseded, no longer wanted, or the lease is lost; then releases the lock. Meanwhile no
 * other process can act on the grant without what this process knows: a refreshed grant (whose
 * refresh token replaced the stored one), or a failure whose outcome is unknown. Callers in this
 * process do not wait out the lock: they ask for a try now ({@link now}).
 */
export class BackgroundSave {
  #delayMs = 50
  #timer: ReturnType<typeof setTimeout> | undefined
  #running: Promise<SaveOutcome> | undefined
  #stopped = false

  constructor(
    private readonly ctx: RefreshContext,
    private readonly userKey: string,
    private readonly job: SaveJob,
    private readonly lease: Lease,
  ) {
    this.#schedule()
  }

  /** Tries the write now, or joins the try under way. */
  now(): Promise<SaveOutcome> {
    if (this.#stopped) return Promise.resolve('stopped')
    if (this.#running === undefined) {
      clearTimeout(this.#timer)
      this.#running = this.#attempt().then((outcome) => {
        this.#running = undefined
        if (outcome === 'failing') this.#schedule()
        return outcome
      })
    }
    return this.#running
  }

  #schedule(): void {
    this.#timer = setTimeout(() => void this.now(), this.#delayMs)
    this.#timer.unref?.()
    this.#delayMs = Math.min(this.#delayMs * 2, 2_000)
  }

  async #attempt(): Promise<SaveOutcome> {
    const { ctx, userKey, job, lease } = this
    if (ctx.closed() || !job.wanted()) return this.#stop()
    // A lost lease: what the job holds stays in this process (see saveUnsaved, withLocalFailure).
    if (!(await lease.outlasts(1))) return this.#stop()
    try {
      const current = await ctx.repository.read(userKey)
      if (current?.grant === undefined || !job.follows(current.grant)) {
        job.superseded()
        return this.#stop()
      }
      const version = await ctx.repository.write(userKey, job.record, current.version, lease.lock)
      if (version === undefined) return this.#stop()
      job.saved()
      this.#stop()
      return 'saved'
    } catch {
      return 'failing'
    }
  }

  #stop(): 'stopped' {
    this.#stopped = true
    clearTimeout(this.#timer)
    this.job.stopped()
    this.lease.release().catch(() => {})
    return 'stopped'
  }
}
