import { randomUUID } from 'node:crypto'
import { describeWithRedis, type RedisServer, startRedisServer } from '@ongoing/testing'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { RedisTokenStore } from '../src/index.js'

const prefixes: string[] = []
const prefix = () => {
  const keyPrefix = `test:${randomUUID()}:`
  prefixes.push(keyPrefix)
  return keyPrefix
}

async function failsWithin(promise: Promise<unknown>): Promise<{ error: Error; ms: number }> {
  const started = performance.now()
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err as Error,
  )
  expect(error).toBeInstanceOf(Error)
  return { error: error!, ms: performance.now() - started }
}

/** Every key of a walk of `prefix` on `store`, in the order listed, and how many pages it took. */
async function walk(
  store: RedisTokenStore,
  prefix: string,
  limit: number,
): Promise<{ keys: string[]; pages: number }> {
  const keys: string[] = []
  let cursor: string | undefined
  let pages = 0
  do {
    const page = await store.list(prefix, { cursor, limit })
    keys.push(...page.keys)
    cursor = page.cursor
    pages++
  } while (cursor !== undefined)
  return { keys, pages }
}

async function eventually<T>(attempt: () => Promise<T>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      return await attempt()
    } catch (err) {
      if (Date.now() > deadline) throw err
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  }
}

describe('RedisTokenStore options', () => {
  it('refuses bad options at construction with a TypeError', () => {
    const client = new Redis({ lazyConnect: true })
    for (const options of [
      undefined,
      {},
      { url: 'redis://127.0.0.1:1', client },
      { url: 'http://127.0.0.1:6379' },
      { url: 'not a url' },
      { url: 'redis://127.0.0.1:1', keyPrefix: 5 },
      { url: 'redis://127.0.0.1:1', commandTimeoutMs: 0 },
      { url: 'redis://127.0.0.1:1', commandTimeoutMs: Number.NaN },
      { client: { get() {} } },
    ]) {
      expect(() => new RedisTokenStore(options as never)).toThrow(TypeError)
    }
    client.disconnect()
  })
})

describeWithRedis('RedisTokenStore against Redis', () => {
  let redis: RedisServer
  let admin: Redis
  const stores: RedisTokenStore[] = []
  const open = (options: ConstructorParameters<typeof RedisTokenStore>[0]) => {
    const store = new RedisTokenStore(options)
    stores.push(store)
    return store
  }

  beforeAll(async () => {
    redis = await startRedisServer()
    admin = new Redis(redis.url)
  })
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()))
    for (const keyPrefix of prefixes.splice(0)) await redis.deleteKeys(keyPrefix)
  })
  afterAll(async () => {
    admin?.disconnect()
    await redis?.close()
  })

  it('keeps records under the prefix, with the record TTL and the lock TTL it was given', async () => {
    const keyPrefix = prefix()
    const store = open({ url: redis.url, keyPrefix })
    await store.set('grant:a', 'sealed', { expectedVersion: 0, ttlMs: 60_000 })
    await store.acquireLock('grant:a', 5_000)
    expect(await admin.hgetall(`${keyPrefix}{grant:a}`)).toEqual({ n: '1', v: 'sealed' })
    const recordTtl = await admin.pttl(`${keyPrefix}{grant:a}`)
    expect(recordTtl).toBeGreaterThan(55_000)
    expect(recordTtl).toBeLessThanOrEqual(60_000)
    const lockTtl = await admin.pttl(`${keyPrefix}{grant:a}:lock`)
    expect(lockTtl).toBeGreaterThan(4_000)
    expect(lockTtl).toBeLessThanOrEqual(5_000)
    await store.set('grant:a', 'sealed 2', { expectedVersion: 1 })
    expect(await admin.pttl(`${keyPrefix}{grant:a}`)).toBe(-1)
  })

  it('keeps stores with different prefixes apart: records, locks, claims and notifications', async () => {
    const one = open({ url: redis.url, keyPrefix: prefix() })
    const two = open({ url: redis.url, keyPrefix: prefix() })
    const heardByTwo: string[] = []
    two.subscribe((key) => heardByTwo.push(key))
    await two.ready()
    await one.set('k', 'one', { expectedVersion: 0 })
    expect(await two.get('k')).toBeUndefined()
    expect(await two.set('k', 'two', { expectedVersion: 0 })).toBe(1)
    expect(await one.acquireLock('k', 10_000)).toBeDefined()
    expect(await two.acquireLock('k', 10_000)).toBeDefined()
    expect(await one.claimOnce('tx', 10_000)).toBe(true)
    expect(await two.claimOnce('tx', 10_000)).toBe(true)
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(heardByTwo).toEqual(['k'])
  })

  it('extends a lock only for its holder', async () => {
    const store = open({ url: redis.url, keyPrefix: prefix() })
    const lock = await store.acquireLock('k', 500)
    expect(await lock!.extend(10_000)).toBe(true)
    await new Promise((resolve) => setTimeout(resolve, 800))
    expect(await store.acquireLock('k', 10_000)).toBeUndefined()
    await lock!.release()
    const next = await store.acquireLock('k', 10_000)
    expect(next).toBeDefined()
    expect(await lock!.extend(10_000)).toBe(false)
    await lock!.release()
    expect(await store.acquireLock('k', 10_000)).toBeUndefined()
  })

  it('hears writes of another process through pub/sub, and its own at once', async () => {
    const keyPrefix = prefix()
    const writer = open({ url: redis.url, keyPrefix })
    const reader = open({ url: redis.url, keyPrefix })
    const heardByWriter: string[] = []
    const heardByReader: string[] = []
    writer.subscribe((key) => heardByWriter.push(key))
    reader.subscribe((key) => heardByReader.push(key))
    await Promise.all([writer.ready(), reader.ready()])
    await writer.set('k', 'v', { expectedVersion: 0 })
    // Synchronously, before any message could come back: and exactly once, not again from Redis.
    expect(heardByWriter).toEqual(['k'])
    await eventually(async () => expect(heardByReader).toEqual(['k']))
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(heardByWriter).toEqual(['k'])
  })

  it('closes the connections it opened, and only those', async () => {
    const name = `ongoing-test-${randomUUID()}`
    const connections = async () =>
      String(await admin.client('LIST'))
        .split('\n')
        .filter((line) => line.includes(`name=${name}`)).length
    const owned = open({ url: redis.url, keyPrefix: prefix(), redisOptions: { connectionName: name } })
    owned.subscribe(() => {})
    await owned.ready()
    expect(await connections()).toBe(2)
    await owned.close()
    await eventually(async () => expect(await connections()).toBe(0))
    await expect(owned.get('k')).rejects.toThrow(/closed/)

    const client = new Redis(redis.url, { connectionName: name })
    const borrowed = open({ client, keyPrefix: prefix() })
    borrowed.subscribe(() => {})
    await borrowed.ready()
    expect(await connections()).toBe(2)
    await borrowed.close()
    await borrowed.close()
    await eventually(async () => expect(await connections()).toBe(1))
    expect(client.status).toBe('ready')
    expect(await client.ping()).toBe('PONG')
    client.disconnect()
  })

  it('the test helper deletes exactly the keys under a prefix, glob characters taken literally', async () => {
    const keyPrefix = `${prefix()}[*]?:`
    await admin.set(`${keyPrefix}a`, '1')
    await admin.set(`${keyPrefix}b`, '1')
    await admin.set(`${keyPrefix.replace('[*]?', 'x*]?')}c`, 'kept')
    await admin.set(`${keyPrefix.slice(0, -1)}d`, 'kept')
    expect(await redis.deleteKeys(keyPrefix)).toBe(2)
    expect(await admin.exists(`${keyPrefix}a`, `${keyPrefix}b`)).toBe(0)
    expect(await admin.exists(`${keyPrefix.replace('[*]?', 'x*]?')}c`, `${keyPrefix.slice(0, -1)}d`)).toBe(2)
    await admin.del(`${keyPrefix.replace('[*]?', 'x*]?')}c`, `${keyPrefix.slice(0, -1)}d`)
  })

  it('lists its records only, glob characters in its own prefix taken literally', async () => {
    const base = prefix()
    const store = open({ url: redis.url, keyPrefix: `${base}[*]?\\:` })
    // Matched by the prefix's glob pattern if it were not escaped.
    const lookalike = open({ url: redis.url, keyPrefix: `${base}*x:` })
    await store.set('a', 'v', { expectedVersion: 0 })
    await store.set('b', 'v', { expectedVersion: 0, ttlMs: 60_000 })
    await lookalike.set('c', 'v', { expectedVersion: 0 })
    await store.acquireLock('a', 60_000)
    await store.acquireLock('no record', 60_000)
    await store.claimOnce('{d}', 60_000)
    // Keys under the prefix that are not records of this layout.
    await admin.set(`${store.keyPrefix}{e`, 'x')
    await admin.set(`${store.keyPrefix}f}`, 'x')
    await admin.set(`${store.keyPrefix}changes`, 'x')
    expect(new Set((await walk(store, '', 100)).keys)).toEqual(new Set(['a', 'b']))
    expect(new Set((await walk(lookalike, '', 100)).keys)).toEqual(new Set(['c']))
  })

  it("lists through a client that has ioredis's own keyPrefix option", async () => {
    const keyPrefix = prefix()
    const client = new Redis(redis.url, { keyPrefix: `${keyPrefix}io:` })
    try {
      const store = open({ client, keyPrefix: 'ongoing:' })
      await store.set('a', 'v', { expectedVersion: 0 })
      await store.set('b', 'v', { expectedVersion: 0 })
      expect(await admin.exists(`${keyPrefix}io:ongoing:{a}`)).toBe(1)
      expect(new Set((await walk(store, '', 100)).keys)).toEqual(new Set(['a', 'b']))
    } finally {
      client.disconnect()
    }
  })

  it('refuses a bad limit or cursor with a TypeError, before any command', async () => {
    const store = open({ url: redis.url, keyPrefix: prefix() })
    for (const options of [
      undefined,
      {},
      { limit: 0 },
      { limit: -1 },
      { limit: 1.5 },
      { limit: Number.NaN },
      { limit: '10' },
      { limit: 10, cursor: 'abc' },
      { limit: 10, cursor: '-1' },
      { limit: 10, cursor: 5 },
    ]) {
      await expect(store.list('', options as never)).rejects.toThrow(TypeError)
    }
    await expect(store.list(5 as never, { limit: 10 })).rejects.toThrow(TypeError)
  })

  it('walks a rare prefix in a big database to its end, through pages that may be empty', async () => {
    const store = open({ url: redis.url, keyPrefix: prefix() })
    const pipeline = admin.pipeline()
    for (let i = 0; i < 3_000; i++) pipeline.hset(`${store.keyPrefix}{noise:${i}}`, 'n', '1', 'v', 'x')
    await pipeline.exec()
    for (const key of ['rare:1', 'rare:2', 'rare:3']) await store.set(key, 'v', { expectedVersion: 0 })
    // SCAN visits the whole database: several calls, each of a bounded number of SCANs, and pages
    // that may hold none of the prefix's keys before the walk ends.
    const { keys, pages } = await walk(store, 'rare:', 10)
    expect(new Set(keys)).toEqual(new Set(['rare:1', 'rare:2', 'rare:3']))
    expect(pages).toBeGreaterThan(3)
    // COUNT is only a hint: pages hold about `limit` keys, never many more.
    let cursor: string | undefined
    do {
      const page = await store.list('noise:', { cursor, limit: 50 })
      expect(page.keys.length).toBeLessThan(200)
      expect(new Set(page.keys).size).toBe(page.keys.length)
      cursor = page.cursor
    } while (cursor !== undefined)
  })

  it('puts no command arguments (record values) into its errors', async () => {
    const store = open({ url: redis.url, keyPrefix: prefix() })
    // A key of the wrong type makes Redis answer every script call with an error.
    await admin.set(`${store.keyPrefix}{k}`, 'a string, not a hash')
    const secret = `value-${randomUUID()}`
    const { error } = await failsWithin(store.set('k', secret, { expectedVersion: 0 }))
    expect(error.message).toMatch(/ongoing: Redis set failed: .*WRONGTYPE/)
    expect(JSON.stringify(error, Object.getOwnPropertyNames(error))).not.toContain(secret)
    expect(error).not.toHaveProperty('command')
    expect(error.cause).toBeUndefined()
  })
})

describeWithRedis(
  'RedisTokenStore when Redis fails',
  () => {
    let redis: RedisServer
    const stores: RedisTokenStore[] = []
    const clients: Redis[] = []

    beforeAll(async () => {
      redis = await startRedisServer({ own: true, persistent: true })
    })
    afterEach(async () => {
      if (redis.pid === undefined) await redis.restart()
      await Promise.all(stores.splice(0).map((store) => store.close()))
      for (const client of clients.splice(0)) client.disconnect()
    })
    afterAll(async () => {
      await redis?.close()
    })

    it('fails every kind of call at once while Redis is down, and works again when it returns', async () => {
      const keyPrefix = prefix()
      const store = new RedisTokenStore({ url: redis.url, keyPrefix })
      const other = new RedisTokenStore({ url: redis.url, keyPrefix })
      stores.push(store, other)
      const heard: string[] = []
      store.subscribe((key) => heard.push(key))
      await Promise.all([store.ready(), other.ready()])
      await store.set('k', 'v1', { expectedVersion: 0 })

      await redis.stop('SIGKILL')
      const calls = [
        store.get('k'),
        store.set('k', 'v2', { expectedVersion: 1 }),
        store.delete('k'),
        store.acquireLock('k', 1_000),
        store.claimOnce('tx', 1_000),
        store.list('', { limit: 10 }),
      ]
      for (const call of calls) {
        const { ms } = await failsWithin(call)
        expect(ms).toBeLessThan(1_000)
      }

      await redis.restart()
      // The append-only file kept the record; the connections come back by themselves.
      expect(await eventually(() => store.get('k'))).toEqual({ value: 'v1', version: 1 })
      await eventually(() => other.get('k'))
      // The subscriber subscribed again: another client's write is heard.
      await eventually(async () => {
        const version = (await other.get('k'))!.version
        await other.set('k', 'again', { expectedVersion: version })
        expect(heard).toContain('k')
      })
    })

    it('fails within commandTimeoutMs when Redis hangs, and a lock request that timed out is freed', async () => {
      const keyPrefix = prefix()
      const store = new RedisTokenStore({ url: redis.url, keyPrefix, commandTimeoutMs: 300 })
      const other = new RedisTokenStore({ url: redis.url, keyPrefix })
      stores.push(store, other)
      await Promise.all([store.ready(), other.ready()])

      redis.pause()
      try {
        const read = await failsWithin(store.get('k'))
        expect(read.ms).toBeGreaterThanOrEqual(250)
        expect(read.ms).toBeLessThan(800)
        const listing = await failsWithin(store.list('', { limit: 10 }))
        expect(listing.error.message).toMatch(/ongoing: Redis list failed/)
        expect(listing.ms).toBeLessThan(800)
        const lock = await failsWithin(store.acquireLock('k', 60_000))
        expect(lock.ms).toBeLessThan(800)
      } finally {
        redis.resume()
      }
      // The SET NX reached Redis after we gave up on it; the release sent behind it freed the lock.
      const lock = await eventually(async () => {
        const acquired = await other.acquireLock('k', 10_000)
        if (acquired === undefined) throw new Error('still locked')
        return acquired
      }, 2_000)
      expect(lock).toBeDefined()
    })

    it('queues nothing on a client with an offline queue: calls fail at once while it is disconnected', async () => {
      // ioredis defaults: offline queue on, 20 retries per request.
      const client = new Redis(redis.url)
      client.on('error', () => {})
      clients.push(client)
      const store = new RedisTokenStore({ client, keyPrefix: prefix() })
      stores.push(store)
      await store.ready()
      await redis.stop('SIGKILL')
      await eventually(async () => expect(client.status).not.toBe('ready'))
      const { ms } = await failsWithin(store.set('k', 'v', { expectedVersion: 0 }))
      expect(ms).toBeLessThan(1_000)
      expect((client as unknown as { offlineQueue: { length: number } }).offlineQueue.length).toBe(0)
      await redis.restart()
      // Nothing was replayed behind our back when the client reconnected.
      expect(await eventually(() => store.get('k'))).toBeUndefined()
    })
  },
  { own: true },
)
