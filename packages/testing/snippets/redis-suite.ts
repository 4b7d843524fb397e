// The full form of the README's Redis suite: a test in the place the snippet leaves for one, then
// the file runs under Vitest with the Redis that test/snippets starts (REDIS_URL from the
// environment; without it, startRedisServer starts redis-server).
// The snippet's imports stand where it has them; imports run first wherever they stand, then the
// statements in order, so the lines above the snippet run before it.
// ../harness.js is test/snippets/harness.ts, written beside this file's folder in the project the test makes.

import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { RedisTokenStore } from '@ongoing/redis'
import { expect, it } from 'vitest'
import { runUnderVitest } from '../harness.js'

// Run with node, this file runs itself under Vitest (as `vitest run` would) and checks what Vitest
// reported: the one test passed.
const reported = await runUnderVitest(import.meta.url)
if (reported !== undefined) {
  assert.deepEqual(reported, [
    { name: 'my Redis suite > stores a record and reads it back', mode: 'run', state: 'pass' },
  ])
  process.exit(0)
}

import { describeWithRedis, type RedisServer, startRedisServer } from '@ongoing/testing'
import { afterAll, beforeAll } from 'vitest'

describeWithRedis('my Redis suite', () => {
  let redis: RedisServer
  beforeAll(async () => {
    redis = await startRedisServer()
  })
  afterAll(() => redis.close())
  // … new RedisTokenStore({ url: redis.url, keyPrefix: `test:${randomUUID()}:` })
  it('stores a record and reads it back', async () => {
    const keyPrefix = `test:${randomUUID()}:`
    const store = new RedisTokenStore({ url: redis.url, keyPrefix })
    expect(await store.set('user-42', 'sealed', { expectedVersion: 0 })).toBe(1)
    expect(await store.get('user-42')).toEqual({ value: 'sealed', version: 1 })
    await store.close()
    await redis.deleteKeys(keyPrefix)
  })
})
