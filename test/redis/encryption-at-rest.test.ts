// Tokens at rest in Redis: sealed by OngoingAccess (AES-256-GCM, HKDF-derived key, key id, bound
// to the record's key) before the store sees them. A record that does not open where it is found
// (moved under another user's key, or sealed under a retired secret) is `unreadable`: consent is
// required, it never yields another user's token, it is never used to refresh, and it is left as it is.
import { randomUUID } from 'node:crypto'
import { OngoingAccess, type OngoingAccessOptions } from '@ongoing/core'
import { RedisTokenStore } from '@ongoing/redis'
import {
  describeWithRedis,
  type RedisServer,
  startRedisServer,
  startTestAuthorizationServer,
  type TestAuthorizationServer,
} from '@ongoing/testing'
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import { digest, obtainTokens, REDIRECT_URI, SCOPE } from '../multiprocess/support.js'

const SECRET_A = `secret-a-${'a'.repeat(32)}`
const SECRET_B = `secret-b-${'b'.repeat(32)}`

describeWithRedis('tokens at rest in Redis', () => {
  let redis: RedisServer
  let as: TestAuthorizationServer
  let keyPrefix: string
  const opened: { close(): unknown }[] = []

  beforeAll(async () => {
    redis = await startRedisServer()
    as = await startTestAuthorizationServer({ accessTokenTTLSeconds: 3_600, rotateRefreshToken: true })
  })
  afterEach(async () => {
    for (const each of opened.splice(0).reverse()) await each.close()
  })
  afterAll(async () => {
    for (const used of prefixes) await redis?.deleteKeys(used)
    await as?.close()
    await redis?.close()
  })

  const prefixes = new Set<string>()
  function newStore(): RedisTokenStore {
    prefixes.add(keyPrefix)
    const store = new RedisTokenStore({ url: redis.url, keyPrefix })
    opened.push(store)
    return store
  }

  function newAccess(store: RedisTokenStore, options: Partial<OngoingAccessOptions> = {}): OngoingAccess {
    const access = new OngoingAccess({
      issuer: as.issuer,
      client: { id: as.clients.confidential.id, secret: as.clients.confidential.secret },
      redirectUri: REDIRECT_URI,
      scope: SCOPE,
      secret: SECRET_A,
      store,
      ...options,
    })
    opened.push(access)
    return access
  }

  /** Restores each user's grant through `access`; returns their tokens and their store keys. */
  async function seed(access: OngoingAccess, users: Record<string, { expired: boolean }>) {
    const keys = new Map<string, string>()
    const unsubscribe = access.store.subscribe!((key) => {
      for (const user of Object.keys(users)) if (key.endsWith(`:${user}`)) keys.set(user, key)
    })
    const tokens = new Map<string, Awaited<ReturnType<typeof obtainTokens>>>()
    for (const [user, { expired }] of Object.entries(users)) {
      const obtained = await obtainTokens(as, access, user)
      tokens.set(user, obtained)
      await access.restore(user, {
        accessToken: obtained.accessToken,
        refreshToken: obtained.refreshToken,
        ...(expired ? { expiresAt: Date.now() - 1_000 } : { expiresIn: obtained.expiresIn }),
      })
    }
    unsubscribe()
    expect([...keys.keys()].sort()).toEqual(Object.keys(users).sort())
    as.resetStats()
    return { tokens, keys }
  }

  beforeAll(() => {
    keyPrefix = `at-rest:${randomUUID()}:`
  })

  it('Redis holds no token in clear; encryptTokens: false (and only it) stores them as they are', async () => {
    const store = newStore()
    const { tokens, keys } = await seed(newAccess(store), { alice: { expired: false } })
    const sealed = (await store.get(keys.get('alice')!))!.value
    const alice = tokens.get('alice')!
    expect(sealed).toMatch(/^[A-Za-z0-9_-]+$/)
    expect(sealed).not.toContain(alice.accessToken)
    expect(sealed).not.toContain(alice.refreshToken)
    expect(Buffer.from(sealed, 'base64url').toString('latin1')).not.toContain(alice.refreshToken)

    keyPrefix = `at-rest:${randomUUID()}:`
    const clearStore = newStore()
    const clear = await seed(newAccess(clearStore, { encryptTokens: false }), { bob: { expired: false } })
    const value = (await clearStore.get(clear.keys.get('bob')!))!.value
    expect(value).toContain(clear.tokens.get('bob')!.refreshToken)
  })

  it("a record moved under another user's key is unreadable: bob never gets alice's token, and her refresh token is never used", async () => {
    keyPrefix = `at-rest:${randomUUID()}:`
    const store = newStore()
    const access = newAccess(store)
    const { tokens, keys } = await seed(access, { alice: { expired: true }, bob: { expired: false } })
    const consentRequired: string[] = []
    access.on('consentRequired', ({ userKey, reason }) => consentRequired.push(`${userKey}/${reason}`))

    // Someone with write access to Redis copies alice's record over bob's, and to a new user carol.
    const aliceRecord = (await store.get(keys.get('alice')!))!
    const bobRecord = (await store.get(keys.get('bob')!))!
    expect(await store.set(keys.get('bob')!, aliceRecord.value, { expectedVersion: bobRecord.version })).toBe(
      2,
    )
    const carolKey = `${keys.get('alice')!.slice(0, -'alice'.length)}carol`
    expect(await store.set(carolKey, aliceRecord.value, { expectedVersion: 0 })).toBe(1)

    for (const user of ['bob', 'carol']) {
      // The write above also emptied this process's cache for bob; a fresh instance sees the same.
      for (const reader of [access, newAccess(newStore())]) {
        await expect(reader.getAccessToken(user)).rejects.toMatchObject({
          code: 'ERR_CONSENT_REQUIRED',
          reason: 'unreadable',
        })
      }
    }
    expect(consentRequired).toEqual(['bob/unreadable', 'carol/unreadable'])
    expect(as.stats().tokenCalls.total).toBe(0)

    // Alice's own grant still opens where it belongs, and refreshes as hers.
    const aliceToken = await access.getAccessToken('alice')
    expect(aliceToken.refreshed).toBe(true)
    expect(digest(aliceToken.value)).not.toBe(digest(tokens.get('alice')!.accessToken))
    expect(digest(aliceToken.value)).not.toBe(digest(tokens.get('bob')!.accessToken))
    expect(as.stats().tokenCalls.refresh_token).toBe(1)
  })

  it('key rotation: records sealed under a retired secret are unreadable; while it is still listed they open, and a refresh re-seals under the new one', async () => {
    keyPrefix = `at-rest:${randomUUID()}:`
    const store = newStore()
    const keyIdOf = async (key: string) =>
      Buffer.from((await store.get(key))!.value, 'base64url')
        .subarray(1, 5)
        .toString('hex')
    const { keys } = await seed(newAccess(store, { secret: SECRET_A }), {
      dave: { expired: true },
      erin: { expired: false },
    })
    const keyIdA = await keyIdOf(keys.get('erin')!)
    expect(await keyIdOf(keys.get('dave')!)).toBe(keyIdA)

    // Rotation starts: B seals, A still opens.
    const rotating = newAccess(newStore(), { secret: [SECRET_B, SECRET_A] })
    expect((await rotating.getAccessToken('erin')).refreshed).toBe(false)
    const dave = await rotating.getAccessToken('dave')
    expect(dave.refreshed).toBe(true)
    const keyIdB = await keyIdOf(keys.get('dave')!)
    expect(keyIdB).not.toBe(keyIdA)
    expect(await keyIdOf(keys.get('erin')!)).toBe(keyIdA)

    // A is retired: dave's re-sealed record opens; erin's, still under A, is unreadable.
    const rotated = newAccess(newStore(), { secret: [SECRET_B] })
    expect((await rotated.getAccessToken('dave')).value).toBe(dave.value)
    await expect(rotated.getAccessToken('erin')).rejects.toMatchObject({
      code: 'ERR_CONSENT_REQUIRED',
      reason: 'unreadable',
    })
    expect(as.stats().tokenCalls.refresh_token).toBe(1)
  })
})
