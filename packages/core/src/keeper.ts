import { type AccessToken, keptRefreshAtOf, type RefreshAhead } from './access-token.js'
import { isOngoingAccessError } from './errors.js'
import type { GrantInfo, GrantStatus } from './grant-info.js'
import type { GrantsOptions } from './grant-inventory.js'
import type { Logger } from './logger.js'
import type { GrantCounts } from './metrics.js'
import { positiveNumber } from './options.js'

/** Options of {@link OngoingAccess.keepFresh}. */
export interface KeepFreshOptions {
  /**
   * How often the keeper walks the grants, in seconds (each instance's walks are jittered by up to
   * a tenth of it). Pick it well under your access tokens' lifetime. Default: 60.
   */
  intervalSeconds?: number
  /**
   * How long before an access token expires the keeper refreshes it (at most three quarters of
   * its life). Make it longer than `refreshSkewSeconds` plus one interval, so that the keeper
   * comes first and no request waits for a refresh. Default: `refreshSkewSeconds` + 2 intervals.
   */
  aheadSeconds?: number
  /** How many refreshes this instance runs at once. Default: 4. */
  concurrency?: number
  /**
   * The server drops refresh tokens unused for this long (some do, after N days of inactivity):
   * the keeper refreshes every grant `aheadSeconds` before its refresh token reaches it, however
   * long its access token lives. Default: none.
   */
  refreshTokenIdleSeconds?: number
  /** How many grants are read from the store at a time. Default: 100. */
  pageSize?: number
}

/** What one walk of the keeper did. */
export interface KeeperSweep {
  /** When it started and finished, ms since epoch. */
  startedAt: number
  finishedAt: number
  /** Grants listed. */
  listed: number
  /** Grants due for a refresh. */
  due: number
  /** Grants refreshed here. */
  refreshed: number
  /** Due grants left alone: another instance held the grant's lock, or refreshed it first. */
  skipped: number
  /** Refreshes that failed (a `refreshError` event says how). */
  failed: number
  /** Grants found dead (a `consentRequired` event each). */
  consentRequired: number
}

/**
 * A running keeper (see {@link OngoingAccess.keepFresh}).
 *
 * @example
 * ```ts
 * const keeper = access.keepFresh({ intervalSeconds: 30 })
 * process.once('SIGTERM', async () => {
 *   await keeper.stop()
 * })
 * ```
 */
export interface Keeper {
  /** Stops walking; resolves once the refreshes under way have ended. */
  stop(): Promise<void>
  /** Walks the grants now (joins the walk under way, if any). */
  sweep(): Promise<KeeperSweep>
  /** What the last finished walk did. */
  readonly lastSweep: KeeperSweep | undefined
}

/** What the keeper needs of `OngoingAccess`. */
export interface KeeperHost {
  grants(options: GrantsOptions): AsyncIterable<GrantInfo>
  refresh(userKey: string, ahead: RefreshAhead): Promise<AccessToken>
  skewMs: number
  logger: Logger
  /**
   * Grants by status after a walk: as listed, then as the walk's own refreshes left them;
   * `undefined` once the keeper stops.
   */
  walked(counts: GrantCounts | undefined): void
}

/** A server's `Retry-After` pauses the keeper's new refreshes up to this long. */
const MAX_PAUSE_MS = 10 * 60_000

/** Refreshes grants ahead of need, a bounded number at a time, on a jittered, unref'd timer. */
export class GrantKeeper implements Keeper {
  readonly #host: KeeperHost
  readonly #intervalMs: number
  readonly #ahead: RefreshAhead
  readonly #spreadMs: number
  readonly #concurrency: number
  readonly #pageSize: number
  #timer: ReturnType<typeof setTimeout> | undefined
  #walk: Promise<KeeperSweep> | undefined
  #stopped = false
  #wakeStop: () => void = () => {}
  readonly #stopSignal = new Promise<void>((resolve) => {
    this.#wakeStop = resolve
  })
  /** No new refresh before then: the server asked for a pause (`Retry-After`). */
  #pausedUntil = 0
  lastSweep: KeeperSweep | undefined

  constructor(host: KeeperHost, options: KeepFreshOptions = {}) {
    this.#host = host
    this.#intervalMs = positiveNumber(options.intervalSeconds, 'intervalSeconds', 60) * 1000
    const aheadMs =
      positiveNumber(options.aheadSeconds, 'aheadSeconds', (host.skewMs + 2 * this.#intervalMs) / 1000) * 1000
    const idle = options.refreshTokenIdleSeconds
    const idleMs = idle === undefined ? undefined : positiveNumber(idle, 'refreshTokenIdleSeconds', 0) * 1000
    if (idleMs !== undefined && idleMs <= aheadMs)
      throw new TypeError('ongoing: `refreshTokenIdleSeconds` must be longer than `aheadSeconds`')
    this.#ahead = { aheadMs, idleMs }
    this.#spreadMs = Math.min(this.#intervalMs / 2, aheadMs / 4)
    this.#concurrency = integer(options.concurrency, 'concurrency', 4)
    this.#pageSize = integer(options.pageSize, 'pageSize', 100)
    if (aheadMs < host.skewMs + this.#intervalMs) {
      host.logger(
        'warn',
        'ongoing: keepFresh `aheadSeconds` is shorter than `refreshSkewSeconds` plus one interval: requests may refresh before the keeper does',
        {
          aheadSeconds: aheadMs / 1000,
          intervalSeconds: this.#intervalMs / 1000,
          refreshSkewSeconds: host.skewMs / 1000,
        },
      )
    }
    // The first walk at a random point of the first interval: instances started together spread out.
    this.#schedule(Math.random() * this.#intervalMs)
  }

  sweep(): Promise<KeeperSweep> {
    this.#walk ??= this.#run().finally(() => {
      this.#walk = undefined
    })
    return this.#walk
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    this.#wakeStop()
    this.#host.walked(undefined)
    await this.#walk?.catch(() => {})
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return
    this.#timer = setTimeout(() => {
      this.sweep()
        .catch((err: unknown) => {
          this.#host.logger('warn', 'ongoing: a keeper walk failed; the next one is due in an interval', {
            reason: isOngoingAccessError(err) ? err.code : err instanceof Error ? err.name : typeof err,
          })
        })
        .finally(() => this.#schedule(this.#intervalMs * (0.9 + Math.random() * 0.2)))
    }, delayMs)
    // The keeper never keeps the process alive by itself.
    this.#timer.unref?.()
  }

  async #run(): Promise<KeeperSweep> {
    const sweep: KeeperSweep = {
      startedAt: Date.now(),
      finishedAt: 0,
      listed: 0,
      due: 0,
      refreshed: 0,
      skipped: 0,
      failed: 0,
      consentRequired: 0,
    }
    const counts: GrantCounts = { active: 0, failing: 0, consent_required: 0 }
    const running = new Set<Promise<void>>()
    try {
      for await (const grant of this.#host.grants({ pageSize: this.#pageSize })) {
        if (this.#stopped) break
        sweep.listed++
        counts[grant.status]++
        if (!this.#due(grant)) continue
        sweep.due++
        while (running.size >= this.#concurrency) await Promise.race(running)
        await this.#pause()
        if (this.#stopped) break
        const one: Promise<void> = this.#refresh(grant, sweep, counts).finally(() => running.delete(one))
        running.add(one)
      }
    } finally {
      await Promise.all(running)
      sweep.finishedAt = Date.now()
      this.lastSweep = sweep
    }
    this.#host.logger('debug', 'ongoing: keeper walk done', { ...sweep })
    // A walk cut short by stop() saw only some of the grants.
    if (!this.#stopped) this.#host.walked(counts)
    return sweep
  }

  /**
   * Due now, or a random moment earlier (up to half an interval, and a quarter of `aheadSeconds`):
   * a wave of grants that expire together is spread over the walks, and so are their next expiries.
   */
  #due(grant: GrantInfo): boolean {
    if (grant.status === 'consent_required' || grant.nextRefreshAt === undefined) return false
    if (grant.expiresAt === undefined || grant.lastRefreshedAt === undefined) return false
    const at = keptRefreshAtOf(
      {
        expiresAt: grant.expiresAt,
        obtainedAt: grant.lastRefreshedAt,
        nextAttemptAt: grant.lastError?.nextAttemptAt,
      },
      this.#host.skewMs,
      this.#ahead,
    )
    return Date.now() >= at - Math.random() * this.#spreadMs
  }

  async #refresh(grant: GrantInfo, sweep: KeeperSweep, counts: GrantCounts): Promise<void> {
    const leftAs = (status: GrantStatus) => {
      counts[grant.status]--
      counts[status]++
    }
    try {
      const token = await this.#host.refresh(grant.userKey, this.#ahead)
      if (token.refreshed) {
        sweep.refreshed++
        leftAs('active')
      } else sweep.skipped++
    } catch (err) {
      if (isOngoingAccessError(err) && err.code === 'ERR_CONSENT_REQUIRED') {
        sweep.consentRequired++
        leftAs('consent_required')
        return
      }
      sweep.failed++
      leftAs('failing')
      // The server asked every client to wait: no new refresh of any grant before then.
      const retryAfterMs = isOngoingAccessError(err) ? err.retryAfterMs : undefined
      const status = isOngoingAccessError(err) ? err.status : undefined
      if (retryAfterMs !== undefined && (status === 429 || status === 503))
        this.#pausedUntil = Math.max(this.#pausedUntil, Date.now() + Math.min(retryAfterMs, MAX_PAUSE_MS))
    }
  }

  async #pause(): Promise<void> {
    const waitMs = this.#pausedUntil - Date.now()
    if (waitMs <= 0) return
    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, waitMs)
      }),
      this.#stopSignal,
    ])
    clearTimeout(timer)
  }
}

function integer(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 10_000)
    throw new TypeError(`ongoing: \`${name}\` must be an integer from 1 to 10,000`)
  return value
}
