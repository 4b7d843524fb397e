// Metrics through OpenTelemetry, when the app has `@opentelemetry/api` (an optional peer
// dependency): nothing is loaded or recorded otherwise. The API is imported at the first thing to
// record (a refresh, a coalesced call, a keeper walk), never with the package, and never on the hot
// path: a token served from the cache records nothing.
import type {
  Counter,
  Histogram,
  MeterProvider,
  ObservableGauge,
  ObservableResult,
  ValueType,
} from '@opentelemetry/api'
import type { AccessToken } from './access-token.js'
import { isOngoingAccessError } from './errors.js'
import type { GrantStatus } from './grant-info.js'

/**
 * What the `metrics` option accepts as a meter provider: an OpenTelemetry `MeterProvider` (the
 * SDK's, or `metrics.getMeterProvider()` of `@opentelemetry/api`). Described here so that the
 * types of this package do not need `@opentelemetry/api`.
 */
export interface MeterProviderLike {
  getMeter(name: string, version?: string, options?: { schemaUrl?: string }): object
}

/**
 * The `metrics` option of `OngoingAccess`: `true` (the default) records through the global meter
 * provider of `@opentelemetry/api` when the app has it; `{ meterProvider }` through that one;
 * `false` records nothing.
 */
export type MetricsOption = boolean | { meterProvider?: MeterProviderLike | undefined }

/** What a token call (with its retries) and the write after it came to: attribute `ongoing.refresh.outcome`. */
export type RefreshOutcome = 'refreshed' | 'failed' | 'consent_required'

/**
 * How a call was answered by a refresh it did not make (attribute `ongoing.coalesced.via`): it
 * joined a refresh under way in this process, or found, at the store's lock, what another process
 * made of the grant.
 */
export type CoalescedVia = 'in_process' | 'store_lock'

/** Grants by status, as a keeper's walk left them. */
export type GrantCounts = Record<GrantStatus, number>

/** What the refresh machinery reports; each call is cheap and never throws. */
export interface Metrics {
  /** A token call and the write after it took `seconds`, and came to `outcome`. */
  refreshed(outcome: RefreshOutcome, seconds: number): void
  /** A call was answered by another's refresh, without a token call of its own. */
  coalesced(via: CoalescedVia): void
  /** A call waited `seconds` for another holder of the grant's lock in the store. */
  lockWaited(seconds: number): void
  /** The counts of a keeper's last walk; `undefined` once no keeper runs (the gauge then reports nothing). */
  grantsByStatus(counts: GrantCounts | undefined): void
}

/** Records nothing: `metrics: false`. */
export const noMetrics: Metrics = {
  refreshed() {},
  coalesced() {},
  lockWaited() {},
  grantsByStatus() {},
}

/** The instrument names and attributes, as documented in the README ("Metrics (OpenTelemetry)"). */
const METER_NAME = '@ongoing/core'
const REFRESHES = 'ongoing.refreshes'
const REFRESH_DURATION = 'ongoing.refresh.duration'
const COALESCED = 'ongoing.refresh.coalesced_calls'
const LOCK_WAIT = 'ongoing.refresh.lock.wait_time'
const GRANTS = 'ongoing.grant.count'
const OUTCOME = 'ongoing.refresh.outcome'
const VIA = 'ongoing.coalesced.via'
const STATUS = 'ongoing.grant.status'
const STATUSES: readonly GrantStatus[] = ['active', 'failing', 'consent_required']
/** The OpenTelemetry semantic conventions' boundaries for durations in seconds. */
const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]
/** `ValueType.INT` of `@opentelemetry/api`, without importing it. */
const INT = 0 as ValueType.INT

/**
 * The metrics of the `metrics` option.
 *
 * @throws {TypeError} for an invalid option.
 */
export function metricsFrom(option: MetricsOption | undefined): Metrics {
  if (option === false) return noMetrics
  if (option === undefined || option === true) return new OpenTelemetryMetrics(globalMeterProvider)
  if (typeof option === 'object' && option !== null) {
    const { meterProvider } = option
    if (meterProvider === undefined) return new OpenTelemetryMetrics(globalMeterProvider)
    if (typeof meterProvider?.getMeter === 'function') {
      const provider = Promise.resolve(meterProvider as MeterProvider)
      return new OpenTelemetryMetrics(() => provider)
    }
  }
  throw new TypeError(
    'ongoing: `metrics` must be a boolean, or `{ meterProvider }` with an OpenTelemetry MeterProvider',
  )
}

/**
 * Reports the refresh that `outcome` settles: `refreshed` when it resolves to a new token,
 * `consent_required` when the grant turned out dead, `failed` otherwise (a still valid token handed
 * out after a failed call is a failure too), and how long it took since `startedAt`
 * (`performance.now()`).
 */
export async function measureRefresh(
  metrics: Metrics,
  startedAt: number,
  outcome: Promise<AccessToken>,
): Promise<AccessToken> {
  try {
    const token = await outcome
    metrics.refreshed(token.refreshed ? 'refreshed' : 'failed', secondsSince(startedAt))
    return token
  } catch (err) {
    const dead = isOngoingAccessError(err) && err.code === 'ERR_CONSENT_REQUIRED'
    metrics.refreshed(dead ? 'consent_required' : 'failed', secondsSince(startedAt))
    throw err
  }
}

/** Seconds since `startedAt`, a `performance.now()`. */
export function secondsSince(startedAt: number): number {
  return (performance.now() - startedAt) / 1000
}

let loaded: Promise<typeof import('@opentelemetry/api') | undefined> | undefined

/** `@opentelemetry/api`, imported once; `undefined` when the app does not have it. */
function loadOpenTelemetry(): Promise<typeof import('@opentelemetry/api') | undefined> {
  loaded ??= (async () => {
    try {
      return await import('@opentelemetry/api')
    } catch {
      return undefined
    }
  })()
  return loaded
}

/**
 * The global meter provider, looked up at each record: one registered after this access was made
 * is used from then on. (The API's provider is a no-op one until an SDK registers.)
 */
async function globalMeterProvider(): Promise<MeterProvider | undefined> {
  return (await loadOpenTelemetry())?.metrics.getMeterProvider()
}

/** The instruments made on one meter provider. */
interface Instruments {
  provider: MeterProvider
  refreshes: Counter
  refreshDuration: Histogram
  coalesced: Counter
  lockWait: Histogram
  grants: ObservableGauge
  /** Whether the gauge's callback is registered: only while a keeper reports counts. */
  observing: boolean
}

class OpenTelemetryMetrics implements Metrics {
  readonly #provider: () => Promise<MeterProvider | undefined>
  #instruments: Instruments | undefined
  #grants: GrantCounts | undefined

  constructor(provider: () => Promise<MeterProvider | undefined>) {
    this.#provider = provider
  }

  refreshed(outcome: RefreshOutcome, seconds: number): void {
    this.#record((instruments) => {
      const attributes = { [OUTCOME]: outcome }
      instruments.refreshes.add(1, attributes)
      instruments.refreshDuration.record(seconds, attributes)
    })
  }

  coalesced(via: CoalescedVia): void {
    this.#record((instruments) => instruments.coalesced.add(1, { [VIA]: via }))
  }

  lockWaited(seconds: number): void {
    this.#record((instruments) => instruments.lockWait.record(seconds))
  }

  grantsByStatus(counts: GrantCounts | undefined): void {
    this.#grants = counts === undefined ? undefined : { ...counts }
    this.#record((instruments) => this.#observe(instruments, this.#grants !== undefined))
  }

  /** Records once the provider is known (the API loaded); a meter that throws changes nothing. */
  #record(write: (instruments: Instruments) => void): void {
    this.#provider()
      .then((provider) => {
        if (provider !== undefined) write(this.#instrumentsOf(provider))
      })
      .catch(() => {})
  }

  #instrumentsOf(provider: MeterProvider): Instruments {
    const current = this.#instruments
    if (current?.provider === provider) return current
    // A provider registered (or replaced) since: instruments of its own, the gauge moved over.
    if (current !== undefined) this.#observe(current, false)
    const meter = provider.getMeter(METER_NAME)
    const instruments: Instruments = {
      provider,
      refreshes: meter.createCounter(REFRESHES, {
        description: 'Refreshes of grants this process made at the token endpoint, by outcome',
        unit: '{refresh}',
        valueType: INT,
      }),
      refreshDuration: meter.createHistogram(REFRESH_DURATION, {
        description: 'How long a refresh took, from the token call (with its retries) through the save',
        unit: 's',
        advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
      }),
      coalesced: meter.createCounter(COALESCED, {
        description: "Calls answered by another caller's refresh, without a token call of their own",
        unit: '{call}',
        valueType: INT,
      }),
      lockWait: meter.createHistogram(LOCK_WAIT, {
        description: "Time spent waiting for another holder of a grant's refresh lock in the store",
        unit: 's',
        advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
      }),
      grants: meter.createObservableGauge(GRANTS, {
        description: "Grants by status, as the last walk of this process's keeper found them",
        unit: '{grant}',
        valueType: INT,
      }),
      observing: false,
    }
    this.#instruments = instruments
    this.#observe(instruments, this.#grants !== undefined)
    return instruments
  }

  /** Registers the gauge's callback while there are counts to report, and removes it after. */
  #observe(instruments: Instruments, observing: boolean): void {
    if (instruments.observing === observing) return
    instruments.observing = observing
    if (observing) instruments.grants.addCallback(this.#report)
    else instruments.grants.removeCallback(this.#report)
  }

  readonly #report = (result: ObservableResult): void => {
    const counts = this.#grants
    if (counts === undefined) return
    for (const status of STATUSES) result.observe(counts[status], { [STATUS]: status })
  }
}
