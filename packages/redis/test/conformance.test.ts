import { randomUUID } from 'node:crypto'
import {
  describeWithRedis,
  type RedisServer,
  runTokenStoreConformance,
  startRedisServer,
} from '@ongoing/testing'
import { Redis } from 'ioredis'
import { afterAll, beforeAll } from 'vitest'
import { RedisTokenStore } from '../src/index.js'

describeWithRedis('RedisTokenStore conformance', () => {
  let redis: RedisServer
  beforeAll(async () => {
    redis = await startRedisServer()
  })
  afterAll(async () => {
    await redis?.close()
  })

  // Each test gets a key space of its own, so tests never see each other's records or messages.
  runTokenStoreConformance(
    'RedisTokenStore({ url })',
    async () => {
      const keyPrefix = `conformance:${randomUUID()}:`
      return {
        store: new RedisTokenStore({ url: redis.url, keyPrefix }),
        connect: async () => new RedisTokenStore({ url: redis.url, keyPrefix }),
        cleanup: async () => {
          await redis.deleteKeys(keyPrefix)
        },
      }
    },
    { complete: true },
  )

  runTokenStoreConformance(
    'RedisTokenStore({ client })',
    async () => {
      const keyPrefix = `conformance:${randomUUID()}:`
      // lazyConnect: the store connects a client it is given on first use.
      const options = {
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        commandTimeout: 1_000,
        lazyConnect: true,
      }
      const clients = [new Redis(redis.url, options), new Redis(redis.url, options)]
      return {
        store: new RedisTokenStore({ client: clients[0]!, keyPrefix }),
        connect: async () => new RedisTokenStore({ client: clients[1]!, keyPrefix }),
        cleanup: async () => {
          for (const client of clients) client.disconnect()
          await redis.deleteKeys(keyPrefix)
        },
      }
    },
    { complete: true },
  )
})
