import { describe, it } from 'vitest'
import { redisServerAvailability } from './redis-server.js'

/** Options of {@link describeWithRedis}. */
export interface DescribeWithRedisOptions {
  /** The suite starts a `redis-server` of its own (it stops or pauses Redis): `REDIS_URL` is not enough. */
  own?: boolean
}

/** True when `CI` is set to anything but `''`, `0` or `false`. */
export function isCI(): boolean {
  const ci = process.env.CI
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false'
}

/**
 * `describe` for suites that need a real Redis (see {@link startRedisServer}). When none can be
 * had, the suite is not silently dropped: under `CI` it fails with the reason; elsewhere it is
 * reported as skipped, with the reason in its name and a warning on stderr.
 *
 * @example
 * ```ts
 * describeWithRedis('RedisTokenStore', () => {
 *   let redis: RedisServer
 *   beforeAll(async () => { redis = await startRedisServer() })
 *   afterAll(() => redis.close())
 *   it('…', async () => { … })
 * })
 * ```
 */
export function describeWithRedis(
  name: string,
  suite: () => void,
  options: DescribeWithRedisOptions = {},
): void {
  const availability = redisServerAvailability(options)
  if (availability.available) {
    describe(name, suite)
    return
  }
  const reason = `no Redis: ${availability.reason}`
  if (isCI()) {
    describe(name, () => {
      it('has a Redis to run against (required under CI)', () => {
        throw new Error(`${name}: ${reason}. Under CI=true the Redis suites must run.`)
      })
    })
    return
  }
  console.warn(
    `\n[ongoing] SKIPPING "${name}": ${reason}. Set REDIS_URL or install redis-server; under CI=true this fails.\n`,
  )
  describe.skip(`${name} [SKIPPED: ${reason}]`, suite)
}
