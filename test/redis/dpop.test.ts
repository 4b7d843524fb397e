// DPoP across processes: a grant made in this process is refreshed in another one that shares the
// Redis store, and that process's API call through `fetch` is accepted. The key travels with the
// grant, sealed: Redis never holds it in clear.
import { type ChildProcess, fork } from 'node:child_process'
import { createHash, randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { OngoingAccess, type OngoingAccessOptions } from '@ongoing/core'
import { RedisTokenStore } from '@ongoing/redis'
import {
  type DPoPResourceServer,
  describeRequiring,
  describeWithRedis,
  driveConsent,
  type RedisServer,
  startDPoPResourceServer,
  startRedisServer,
  startTestAuthorizationServer,
  type TestAuthorizationServer,
} from '@ongoing/testing'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { builtPackagesProblem } from '../built-packages.js'

const REDIRECT_URI = 'http://127.0.0.1:3000/callback'
const SECRET = `dpop-secret-${'d'.repeat(32)}`
const TTL_SECONDS = 2
const workerPath = fileURLToPath(new URL('./dpop-worker.mjs', import.meta.url))
const digest = (value: string) => createHash('sha256').update(value).digest('base64url').slice(0, 16)

interface Called {
  type: 'called'
  status: number
  tokenType: string
  refreshed: boolean
  digest: string
}

function nextMessage<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const listener = (message: { type: string; message?: string }) => {
      if (message.type === 'failed') {
        child.off('message', listener)
        reject(new Error(`worker failed: ${message.message}`))
      } else if (message.type === type) {
        child.off('message', listener)
        resolve(message as T)
      }
    }
    child.on('message', listener)
  })
}

const problem = builtPackagesProblem(['core', 'redis', 'testing'])
const describeHere =
  problem === undefined
    ? describeWithRedis
    : (name: string, suite: () => void) => describeRequiring(name, problem, suite)

describeHere('DPoP across two processes sharing Redis (RFC 9449)', () => {
  let redis: RedisServer
  let as: TestAuthorizationServer
  let rs: DPoPResourceServer
  const keyPrefix = `dpop:${randomUUID()}:`

  beforeAll(async () => {
    redis = await startRedisServer()
    as = await startTestAuthorizationServer({
      accessTokenTTLSeconds: TTL_SECONDS,
      rotateRefreshToken: true,
      pushedAuthorizationRequests: 'required',
    })
    rs = await startDPoPResourceServer({
      introspect: async (token) => {
        const { id, secret } = as.clients.confidential
        const response = await fetch(`${as.issuer}/token/introspection`, {
          method: 'POST',
          headers: { authorization: `Basic ${btoa(`${id}:${secret}`)}` },
          body: new URLSearchParams({ token }),
        })
        return (await response.json()) as { active: boolean }
      },
    })
  })
  afterAll(async () => {
    await redis?.deleteKeys(keyPrefix)
    await rs?.close()
    await as?.close()
    await redis?.close()
  })

  it('a grant made in one process is refreshed once by both when it expires, and the other process calls the API with its key', async () => {
    const options: OngoingAccessOptions = {
      issuer: as.issuer,
      client: as.clients.confidential,
      redirectUri: REDIRECT_URI,
      scope: 'offline_access api:read',
      authorizationParams: { prompt: 'consent' },
      secret: SECRET,
      refreshSkewSeconds: 0,
      dpop: true,
    }
    const store = new RedisTokenStore({ url: redis.url, keyPrefix })
    const a = new OngoingAccess({ ...options, store })
    const child = fork(workerPath, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    try {
      child.send({ type: 'init', config: { url: redis.url, keyPrefix, options } })
      await nextMessage(child, 'ready')

      const started = await a.startConsent({ userKey: 'alice', returnTo: '/after' })
      const callbackUrl = await driveConsent(started.url, { redirectUriPrefix: REDIRECT_URI, login: 'alice' })
      const { token } = await a.finishConsent({ callbackUrl, transaction: started.transaction })
      expect(token.tokenType).toBe('DPoP')

      // Redis holds the grant sealed: no token, and nothing of the key (not even `"d":`).
      const { keys } = await store.list!('', { cursor: undefined, limit: 100 })
      for (const key of keys) {
        const value = (await store.get(key))?.value ?? ''
        expect(value).not.toContain(token.value)
        expect(value).not.toMatch(/"d"|"kty"/)
      }

      await new Promise((resolve) => setTimeout(resolve, TTL_SECONDS * 1000 + 100))
      as.resetStats()
      const called = nextMessage<Called>(child, 'called')
      child.send({ type: 'call', userKey: 'alice', url: `${rs.url}/me` })
      const [fromA, fromB] = await Promise.all([a.getAccessToken('alice'), called])
      expect(as.stats().tokenCalls.refresh_token).toBe(1)
      expect(as.stats().refreshTokenReuse).toBe(0)
      expect(fromB.digest).toBe(digest(fromA.value))
      expect(fromB.tokenType).toBe('DPoP')
      expect(fromB.status).toBe(200)
      expect(rs.stats().accepted).toBe(1)
      // And back in this process, with the same key.
      expect((await a.fetch('alice', `${rs.url}/me`)).status).toBe(200)
      expect(rs.stats().accepted).toBe(2)
    } finally {
      child.send({ type: 'exit' })
      a.close()
      await store.close()
    }
  })
})
