// The refresh storm at expiry with the digi.me profile and a RedisTokenStore: two OngoingAccess
// instances in this process, then two app processes, one Redis, one digi.me server with strict
// refresh-token rotation. However many callers find the token expired, digi.me sees one refresh.
import { type ChildProcess, fork } from 'node:child_process'
import { createHash, randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { OngoingAccess } from '@ongoing/core'
import { RedisTokenStore } from '@ongoing/redis'
import {
  type DigiMeServer,
  describeRequiring,
  describeWithRedis,
  type RedisServer,
  startDigiMeServer,
  startRedisServer,
} from '@ongoing/testing'
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import { builtPackagesProblem } from '../../../test/built-packages.js'
import { digiMe } from '../src/index.js'
import { consent, digiMeOptionsFor, REDIRECT_URI, Recorder, SECRET, statsDelta } from './support.js'

const CALLS = 100
const workerPath = fileURLToPath(new URL('./redis-worker.mjs', import.meta.url))
const digest = (value: string) => createHash('sha256').update(value).digest('base64url').slice(0, 16)

interface WorkerResult {
  digests: Record<string, number>
  errors: Record<string, number>
  refreshEvents: number
}

/** An app process (redis-worker.mjs) and its one-message-at-a-time conversation. */
class Worker {
  readonly child: ChildProcess = fork(workerPath, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })

  next(type: string): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`worker: no ${type} in time`)), 30_000)
      const onMessage = (message: Record<string, unknown>) => {
        if (message.type !== type && message.type !== 'failed') return
        clearTimeout(timer)
        this.child.off('message', onMessage)
        if (message.type === 'failed') reject(new Error(`worker failed: ${message.message}`))
        else resolve(message)
      }
      this.child.on('message', onMessage)
    })
  }

  async init(config: unknown): Promise<void> {
    const ready = this.next('ready')
    this.child.send({ type: 'init', config })
    await ready
  }

  async run(userKey: string, calls: number): Promise<WorkerResult> {
    const result = this.next('result')
    this.child.send({ type: 'run', userKey, calls })
    return (await result) as unknown as WorkerResult
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    this.child.send({ type: 'exit' })
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000)
    await exited
    clearTimeout(timer)
  }
}

describeWithRedis('digi.me refresh storms with a RedisTokenStore', () => {
  let redis: RedisServer
  let server: DigiMeServer
  const recorder = new Recorder()
  const stores: RedisTokenStore[] = []
  const accesses: OngoingAccess[] = []
  let keyPrefix = ''

  beforeAll(async () => {
    redis = await startRedisServer()
    server = await startDigiMeServer({ accessTokenTTLSeconds: 600, rotateRefreshToken: true })
  })
  afterEach(async () => {
    for (const access of accesses.splice(0)) access.close()
    await Promise.all(stores.splice(0).map((store) => store.close()))
    if (keyPrefix !== '') await redis.deleteKeys(keyPrefix)
  })
  afterAll(async () => {
    // Every nonce seen over both processes and this one was new; every JWT verified.
    expect(server?.stats().duplicateNonces).toBe(0)
    expect(server?.stats().unverifiedJwts).toBe(0)
    await server?.close()
    await redis?.close()
  })

  /** An access on the shared Redis prefix, in this process. */
  function open(): OngoingAccess {
    const store = new RedisTokenStore({ url: redis.url, keyPrefix })
    const access = new OngoingAccess({
      profile: digiMe(digiMeOptionsFor(server)),
      redirectUri: REDIRECT_URI,
      secret: SECRET,
      store,
      logger: false,
      fetch: recorder.fetch,
    })
    stores.push(store)
    accesses.push(access)
    return access
  }

  /** A real consent as `userKey`, then its access token marked expired in the store. Returns its digest. */
  async function seedExpired(access: OngoingAccess, userKey: string): Promise<string> {
    await consent(access, recorder, userKey, { userId: userKey })
    const tokens = recorder.lastTokens()
    await access.restore(userKey, {
      accessToken: tokens.access,
      refreshToken: tokens.refresh,
      expiresAt: Date.now() - 1_000,
      refreshExpiresAt: tokens.refreshExpiresOn * 1000,
    })
    return digest(tokens.access)
  }

  it(`two instances in one process, ${CALLS} concurrent calls at expiry: one refresh, one token`, async () => {
    keyPrefix = `digime:${randomUUID()}:`
    const [a, b] = [open(), open()]
    const old = await seedExpired(a, 'alice')
    const before = server.stats()
    const tokens = await Promise.all(
      Array.from({ length: CALLS }, (_, i) => (i % 2 === 0 ? a : b).getAccessToken('alice')),
    )
    const delta = statsDelta(before, server.stats())
    expect(delta.tokenCalls).toEqual({ authorization_code: 0, refresh_token: 1, total: 1 })
    expect(delta.grantsRevoked).toBe(0)
    expect(delta.refreshTokenReuse).toBe(0)
    const digests = new Set(tokens.map((token) => digest(token.value)))
    expect(digests.size).toBe(1)
    expect(digests.has(old)).toBe(false)
  })

  describeRequiring('across two processes', builtPackagesProblem(['core', 'redis', 'digime']), () => {
    let workers: Worker[] = []
    afterEach(async () => {
      await Promise.all(workers.map((worker) => worker.stop()))
      workers = []
    })

    it(`2 processes × ${CALLS} concurrent calls at expiry: one refresh at digi.me, every call gets its one token`, async () => {
      keyPrefix = `digime:${randomUUID()}:`
      const old = await seedExpired(open(), 'bob')
      const config = {
        redisUrl: redis.url,
        keyPrefix,
        secret: SECRET,
        redirectUri: REDIRECT_URI,
        profile: digiMeOptionsFor(server),
      }
      workers = [new Worker(), new Worker()]
      await Promise.all(workers.map((worker) => worker.init(config)))
      const before = server.stats()
      const results = await Promise.all(workers.map((worker) => worker.run('bob', CALLS)))
      const delta = statsDelta(before, server.stats())
      expect(delta.tokenCalls).toEqual({ authorization_code: 0, refresh_token: 1, total: 1 })
      expect(delta.grantsRevoked).toBe(0)
      expect(delta.refreshTokenReuse).toBe(0)
      expect(results.map((result) => result.errors)).toEqual([{}, {}])
      const digests: Record<string, number> = {}
      for (const result of results)
        for (const [d, n] of Object.entries(result.digests)) digests[d] = (digests[d] ?? 0) + n
      expect(Object.values(digests)).toEqual([2 * CALLS])
      expect(Object.keys(digests)[0]).not.toBe(old)
      // Exactly one process refreshed; the other was woken by its write.
      expect(results.map((result) => result.refreshEvents).sort()).toEqual([0, 1])
    })
  })
})
