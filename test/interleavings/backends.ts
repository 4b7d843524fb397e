/**
 * The stores the checker runs against: one `MemoryTokenStore` shared by every instance (a fresh
 * one per run), or a real `redis-server` with one `RedisTokenStore` (own connection, own pub/sub
 * subscriber) per instance, kept for the whole suite (each run uses its own user keys).
 */
import { randomUUID } from 'node:crypto'
import { MemoryTokenStore } from '@ongoing/core'
import { RedisTokenStore } from '@ongoing/redis'
import { type RedisServer, startRedisServer } from '@ongoing/testing'
import type { Backend } from './world.js'

export const memoryBackend: Backend = {
  name: 'MemoryTokenStore',
  realIO: false,
  storesFor: (_run, instances) => {
    const store = new MemoryTokenStore()
    return Array.from({ length: instances }, () => store)
  },
  userKey: (_run, user) => user,
}

export interface RedisBackend extends Backend {
  close(): Promise<void>
}

export async function startRedisBackend(instances: number): Promise<RedisBackend> {
  const redis: RedisServer = await startRedisServer()
  const keyPrefix = `interleavings:${randomUUID()}:`
  const stores = Array.from({ length: instances }, () => new RedisTokenStore({ url: redis.url, keyPrefix }))
  for (const store of stores) {
    // Start each subscriber now, outside any run (its connection is set up on real timers).
    store.subscribe(() => {})
    await store.ready()
  }
  return {
    name: 'RedisTokenStore',
    realIO: true,
    storesFor: (_run, n) => {
      if (n > stores.length) throw new Error(`only ${stores.length} Redis stores were opened`)
      return stores.slice(0, n)
    },
    userKey: (run, user) => `r${run}.${user}`,
    // The lock's release script deletes it only while this holder still has it.
    expireLock: (lock) => lock.release(),
    close: async () => {
      for (const store of stores) await store.close()
      await redis.deleteKeys(keyPrefix)
      await redis.close()
    },
  }
}
