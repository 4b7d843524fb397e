import { redisServerAvailability } from './redis-server.js'
import { describeRequiring } from './requirement.js'

/** Options of {@link describeWithRedis}. */
export interface DescribeWithRedisOptions {
  /** The suite starts a `redis-server` of its own (it stops or pauses Redis): `REDIS_URL` is not enough. */
  own?: boolean
}

/**
 * `describe` for suites that need a real Redis (see {@link startRedisServer}): a
 * {@link describeRequiring} whose problem is why no Redis can be had.
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
  describeRequiring(
    name,
    availability.available
      ? undefined
      : `no Redis: ${availability.reason} (set REDIS_URL or install redis-server)`,
    suite,
  )
}
