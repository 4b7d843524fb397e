import { ConsentRequiredError, MemoryTokenStore, type OngoingAccess } from '@ongoing/core'
import { startTestAuthorizationServer, type TestAuthorizationServer } from '@ongoing/testing'
import { type Attributes, metrics } from '@opentelemetry/api'
import {
  AggregationTemporality,
  type DataPoint,
  DataPointType,
  type Histogram,
  MeterProvider,
  type MetricData,
  MetricReader,
} from '@opentelemetry/sdk-metrics'
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { accessFor, consentAs, recordTokenTraffic, type TokenTraffic } from './real-as.js'

// Metrics through OpenTelemetry (packages/core/src/metrics.ts), read back from the SDK against the
// real authorization server. Each case registers a fresh global meter provider: `OngoingAccess`
// records through the global one by default.

/** A reader the test collects from when it wants to. */
class TestReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

/** What the reader holds now, by instrument name. */
async function collect(reader: MetricReader): Promise<Map<string, MetricData>> {
  const { resourceMetrics, errors } = await reader.collect()
  expect(errors).toEqual([])
  const byName = new Map<string, MetricData>()
  for (const scope of resourceMetrics.scopeMetrics) {
    expect(scope.scope.name).toBe('@ongoing/core')
    for (const metric of scope.metrics) byName.set(metric.descriptor.name, metric)
  }
  return byName
}

/** The points of a counter or gauge, by the value of their one attribute `key`. */
function byAttribute(metric: MetricData | undefined, key: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const point of (metric?.dataPoints ?? []) as DataPoint<number>[]) {
    expect(Object.keys(point.attributes)).toEqual([key])
    out[String(point.attributes[key])] = point.value
  }
  return out
}

/** The one point of a histogram without attributes, or of those with `attributes`. */
function histogram(metric: MetricData | undefined, attributes: Attributes = {}): Histogram | undefined {
  if (metric === undefined) return undefined
  expect(metric.dataPointType).toBe(DataPointType.HISTOGRAM)
  const point = (metric.dataPoints as DataPoint<Histogram>[]).find(
    (p) => JSON.stringify(p.attributes) === JSON.stringify(attributes),
  )
  return point?.value
}

const REFRESHES = 'ongoing.refreshes'
const DURATION = 'ongoing.refresh.duration'
const COALESCED = 'ongoing.refresh.coalesced_calls'
const LOCK_WAIT = 'ongoing.refresh.lock.wait_time'
const GRANTS = 'ongoing.grant.count'

describe('metrics through OpenTelemetry, against a real authorization server', () => {
  let as: TestAuthorizationServer
  let reader: TestReader

  beforeAll(async () => {
    as = await startTestAuthorizationServer({ rotateRefreshToken: true })
  })
  afterAll(async () => {
    metrics.disable()
    await as?.close()
  })
  beforeEach(() => {
    reader = new TestReader()
    metrics.disable()
    metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }))
  })

  /** `userKey` consents, then holds that grant with an access token that has expired already. */
  async function expiredGrant(access: OngoingAccess, traffic: TokenTraffic, userKey: string): Promise<void> {
    const { token } = await consentAs(access, userKey)
    const refreshToken = traffic.refreshTokensReceived.at(-1)!
    await access.restore(userKey, { accessToken: token.value, refreshToken, expiresIn: 0 })
  }

  it('counts refreshes by outcome with their duration in seconds; a cached token records nothing', async () => {
    const access = accessFor(as)
    await consentAs(access, 'metrics-alice')
    as.resetStats()
    for (let i = 0; i < 3; i++) await access.getAccessToken('metrics-alice', { forceRefresh: true })
    expect(as.stats().tokenCalls.refresh_token).toBe(3)
    // The hot path: served from the cache, no token call, nothing recorded.
    for (let i = 0; i < 100; i++) await access.getAccessToken('metrics-alice')

    await vi.waitFor(async () => {
      expect(byAttribute((await collect(reader)).get(REFRESHES), 'ongoing.refresh.outcome')).toEqual({
        refreshed: 3,
      })
    })
    const recorded = await collect(reader)
    expect(recorded.get(REFRESHES)?.descriptor).toMatchObject({ unit: '{refresh}' })
    expect(recorded.get(DURATION)?.descriptor).toMatchObject({ unit: 's' })
    const duration = histogram(recorded.get(DURATION), { 'ongoing.refresh.outcome': 'refreshed' })
    expect(duration?.count).toBe(3)
    // Seconds, not milliseconds: three calls to a local server take well under ten seconds.
    expect(duration?.sum).toBeGreaterThan(0)
    expect(duration?.sum).toBeLessThan(10)
    // Nobody joined, nobody waited.
    expect(recorded.has(COALESCED)).toBe(false)
    expect(recorded.has(LOCK_WAIT)).toBe(false)
    expect(recorded.has(GRANTS)).toBe(false)
  })

  it('a grant revoked at the server: consent_required once, however often it is asked for after', async () => {
    const access = accessFor(as)
    await consentAs(access, 'metrics-carol')
    await as.revokeGrantsOf('metrics-carol')
    as.resetStats()
    await expect(access.getAccessToken('metrics-carol', { forceRefresh: true })).rejects.toBeInstanceOf(
      ConsentRequiredError,
    )
    // Later calls fail from the dead grant's record, without a token call: no refresh to count.
    for (let i = 0; i < 3; i++)
      await expect(access.getAccessToken('metrics-carol')).rejects.toMatchObject({
        code: 'ERR_CONSENT_REQUIRED',
      })
    expect(as.stats().tokenCalls.refresh_token).toBe(1)
    await vi.waitFor(async () => {
      expect(byAttribute((await collect(reader)).get(REFRESHES), 'ongoing.refresh.outcome')).toEqual({
        consent_required: 1,
      })
    })
    const duration = histogram((await collect(reader)).get(DURATION), {
      'ongoing.refresh.outcome': 'consent_required',
    })
    expect(duration?.count).toBe(1)
  })

  it('concurrent calls on an expired token: one token call, and every other caller coalesced into it', async () => {
    const traffic = recordTokenTraffic(as)
    const access = accessFor(as, { fetch: traffic.fetch })
    await expiredGrant(access, traffic, 'metrics-bob')
    as.resetStats()
    const callers = 25
    const tokens = await Promise.all(
      Array.from({ length: callers }, () => access.getAccessToken('metrics-bob')),
    )
    expect(as.stats().tokenCalls.refresh_token).toBe(1)
    expect(new Set(tokens.map((t) => t.value)).size).toBe(1)
    await vi.waitFor(async () => {
      const recorded = await collect(reader)
      expect(byAttribute(recorded.get(COALESCED), 'ongoing.coalesced.via')).toEqual({
        in_process: callers - 1,
      })
      expect(byAttribute(recorded.get(REFRESHES), 'ongoing.refresh.outcome')).toEqual({ refreshed: 1 })
    })
    expect((await collect(reader)).get(COALESCED)?.descriptor).toMatchObject({ unit: '{call}' })
  })

  it('two instances sharing a store: the one that waits for the lock records the wait, and adopts the other’s token', async () => {
    const traffic = recordTokenTraffic(as)
    // Token calls take a while, so that the other instance finds the lock held.
    const slow: typeof fetch = async (input, init) => {
      const url = input instanceof Request ? input.url : String(input)
      if (url === `${as.issuer}/token`) await new Promise((resolve) => setTimeout(resolve, 300))
      return traffic.fetch(input, init)
    }
    const store = new MemoryTokenStore()
    const first = accessFor(as, { store, fetch: slow })
    const second = accessFor(as, { store, fetch: slow })
    await expiredGrant(first, traffic, 'metrics-dave')
    as.resetStats()
    const [a, b] = await Promise.all([
      first.getAccessToken('metrics-dave'),
      second.getAccessToken('metrics-dave'),
    ])
    expect(as.stats().tokenCalls.refresh_token).toBe(1)
    expect(a.value).toBe(b.value)
    await vi.waitFor(async () => {
      const recorded = await collect(reader)
      expect(byAttribute(recorded.get(REFRESHES), 'ongoing.refresh.outcome')).toEqual({ refreshed: 1 })
      expect(byAttribute(recorded.get(COALESCED), 'ongoing.coalesced.via')).toEqual({ store_lock: 1 })
      expect(histogram(recorded.get(LOCK_WAIT))?.count).toBe(1)
    })
    const wait = histogram((await collect(reader)).get(LOCK_WAIT))!
    expect((await collect(reader)).get(LOCK_WAIT)?.descriptor).toMatchObject({ unit: 's' })
    // It waited about as long as the other's token call took, in seconds.
    expect(wait.sum).toBeGreaterThan(0.2)
    expect(wait.sum).toBeLessThan(5)
  })

  it('a keeper walk reports grants by status; nothing before the first walk, nor once it is stopped', async () => {
    const traffic = recordTokenTraffic(as)
    const failingRefreshTokens = new Set<string>()
    // The failing grant's token calls meet an unavailable server; the others reach it.
    const fetchImpl: typeof fetch = async (input, init) => {
      const sent = init?.body instanceof URLSearchParams ? init.body.get('refresh_token') : null
      if (sent !== null && failingRefreshTokens.has(sent))
        return Response.json({ error: 'temporarily_unavailable' }, { status: 503 })
      return traffic.fetch(input, init)
    }
    // A delta reader as well: a cumulative one keeps reporting a gauge's last values (SDK behaviour).
    const delta = new TestReader({ aggregationTemporalitySelector: () => AggregationTemporality.DELTA })
    reader = new TestReader()
    metrics.disable()
    metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader, delta] }))
    const access = accessFor(as, { fetch: fetchImpl, retry: { attempts: 1 }, logger: false })
    await expiredGrant(access, traffic, 'metrics-active')
    await expiredGrant(access, traffic, 'metrics-failing')
    failingRefreshTokens.add(traffic.refreshTokensReceived.at(-1)!)
    await expiredGrant(access, traffic, 'metrics-dead')
    // Failing before the walk (the store says so); the dead one is found dead by the walk.
    await expect(access.getAccessToken('metrics-failing')).rejects.toMatchObject({
      code: 'ERR_TOKEN_ENDPOINT',
      status: 503,
    })
    await as.revokeGrantsOf('metrics-dead')

    const keeper = access.keepFresh({ intervalSeconds: 3600 })
    try {
      await vi.waitFor(async () =>
        expect(byAttribute((await collect(reader)).get(REFRESHES), 'ongoing.refresh.outcome')).toEqual({
          failed: 1,
        }),
      )
      expect(byAttribute((await collect(reader)).get(GRANTS), 'ongoing.grant.status')).toEqual({})

      const sweep = await keeper.sweep()
      expect(sweep).toMatchObject({ listed: 3, refreshed: 1, consentRequired: 1 })
      const expected = { active: 1, failing: 1, consent_required: 1 }
      await vi.waitFor(async () =>
        expect(byAttribute((await collect(reader)).get(GRANTS), 'ongoing.grant.status')).toEqual(expected),
      )
      expect((await collect(reader)).get(GRANTS)?.descriptor).toMatchObject({ unit: '{grant}' })
      expect((await collect(reader)).get(GRANTS)?.dataPointType).toBe(DataPointType.GAUGE)

      // The next walk lists the dead grant's record as it is now stored.
      await keeper.sweep()
      await vi.waitFor(async () =>
        expect(byAttribute((await collect(reader)).get(GRANTS), 'ongoing.grant.status')).toEqual(expected),
      )
      expect(byAttribute((await collect(delta)).get(GRANTS), 'ongoing.grant.status')).toEqual(expected)
    } finally {
      await keeper.stop()
    }
    // Stopped: the gauge is observed no more.
    await vi.waitFor(async () => {
      expect(byAttribute((await collect(delta)).get(GRANTS), 'ongoing.grant.status')).toEqual({})
    })
  })

  it('`metrics: { meterProvider }` records there only; `metrics: false` nowhere', async () => {
    const own = new TestReader()
    const withOwn = accessFor(as, { metrics: { meterProvider: new MeterProvider({ readers: [own] }) } })
    const without = accessFor(as, { metrics: false })
    await consentAs(withOwn, 'metrics-erin')
    await consentAs(without, 'metrics-frank')
    await withOwn.getAccessToken('metrics-erin', { forceRefresh: true })
    await without.getAccessToken('metrics-frank', { forceRefresh: true })
    await vi.waitFor(async () =>
      expect(byAttribute((await collect(own)).get(REFRESHES), 'ongoing.refresh.outcome')).toEqual({
        refreshed: 1,
      }),
    )
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect((await collect(reader)).size).toBe(0)
  })

  it('a meter provider registered after the access was made is used from then on', async () => {
    metrics.disable()
    const access = accessFor(as)
    await consentAs(access, 'metrics-gina')
    await access.getAccessToken('metrics-gina', { forceRefresh: true }) // recorded by the API's no-op meter
    await new Promise((resolve) => setTimeout(resolve, 50))
    const late = new TestReader()
    metrics.setGlobalMeterProvider(new MeterProvider({ readers: [late] }))
    await access.getAccessToken('metrics-gina', { forceRefresh: true })
    await vi.waitFor(async () =>
      expect(byAttribute((await collect(late)).get(REFRESHES), 'ongoing.refresh.outcome')).toEqual({
        refreshed: 1,
      }),
    )
  })

  it('refuses an invalid `metrics` option', () => {
    expect(() => accessFor(as, { metrics: 'yes' as never })).toThrow(TypeError)
    expect(() => accessFor(as, { metrics: { meterProvider: {} as never } })).toThrow(/`metrics` must be/)
    expect(() => accessFor(as, { metrics: null as never })).toThrow(TypeError)
  })
})
