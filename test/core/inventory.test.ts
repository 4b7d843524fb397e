// Grants as an inventory with health, events and the keeper (issue 20), against the real
// authorization server; a fetch in front of its token endpoint answers 503s and 400s where a test
// needs a server that fails.
import {
  type GrantInfo,
  MemoryTokenStore,
  type OngoingAccess,
  type OngoingAccessOptions,
  type TokenStore,
} from '@ongoing/core'
import { startTestAuthorizationServer, type TestAuthorizationServer } from '@ongoing/testing'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { accessFor, consentAs } from './real-as.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A fetch in front of the AS: `failNext(n, answer)` answers the next n refresh calls itself. */
function faultyTokenEndpoint(as: TestAuthorizationServer) {
  let failures: Array<() => Response> = []
  let inFlight = 0
  const state = {
    refreshCalls: 0,
    maxInFlight: 0,
    failNext(count: number, answer: () => Response) {
      failures = Array.from({ length: count }, () => answer)
    },
    fetch: (async (input: string | URL | Request, init?: RequestInit) => {
      const url = input instanceof Request ? input.url : String(input)
      const body = init?.body instanceof URLSearchParams ? init.body : undefined
      if (url !== `${as.issuer}/token` || body?.get('grant_type') !== 'refresh_token')
        return fetch(input, init)
      state.refreshCalls++
      inFlight++
      state.maxInFlight = Math.max(state.maxInFlight, inFlight)
      try {
        const fault = failures.shift()
        if (fault !== undefined) return fault()
        return await fetch(input, init)
      } finally {
        inFlight--
      }
    }) as typeof fetch,
  }
  return state
}

const unavailable = () => new Response('busy', { status: 503, headers: { 'retry-after': '1' } })

describe('grants as an inventory, with health (issue 20)', () => {
  let as: TestAuthorizationServer
  const opened: OngoingAccess[] = []

  beforeAll(async () => {
    as = await startTestAuthorizationServer({ accessTokenTTLSeconds: 60 })
  })
  afterAll(async () => {
    await as?.close()
  })
  afterEach(() => {
    for (const access of opened.splice(0)) access.close()
  })

  function open(options: Partial<OngoingAccessOptions> = {}): OngoingAccess {
    const access = accessFor(as, options)
    opened.push(access)
    return access
  }

  async function all(access: OngoingAccess, options?: Parameters<OngoingAccess['grants']>[0]) {
    const found: GrantInfo[] = []
    for await (const grant of access.grants(options)) found.push(grant)
    return found
  }

  it('events: consent (finishConsent, restore), refresh, revoke; no payload carries token material', async () => {
    const access = open({ store: new MemoryTokenStore() })
    const seen: Array<[string, unknown]> = []
    for (const name of ['consent', 'refresh', 'refreshError', 'consentRequired', 'revoke'] as const)
      access.on(name, (payload: unknown) => seen.push([name, payload]))
    const consented = await consentAs(access, 'erin')
    await access.restore('frank', {
      accessToken: 'at-frank-imported',
      refreshToken: 'rt-frank-imported',
      expiresIn: 60,
    })
    const refreshed = await access.getAccessToken('erin', { forceRefresh: true })
    expect(await access.revoke('erin')).toEqual({ revokedAtServer: true })
    expect(seen.map(([name]) => name)).toEqual(['consent', 'consent', 'refresh', 'revoke'])
    expect(seen[0]?.[1]).toEqual({
      userKey: 'erin',
      source: 'consent',
      scope: expect.stringContaining('api:read'),
    })
    expect(seen[1]?.[1]).toEqual({ userKey: 'frank', source: 'restore', scope: undefined })
    expect(seen[3]?.[1]).toEqual({ userKey: 'erin', revokedAtServer: true })
    const payloads = JSON.stringify(seen)
    for (const secret of [consented.token.value, refreshed.value, 'at-frank-imported', 'rt-frank-imported'])
      expect(payloads).not.toContain(secret)
  })

  it('inspect: an active grant, what it grants, when it was and will be refreshed; undefined for nobody', async () => {
    const access = open({ store: new MemoryTokenStore(), refreshSkewSeconds: 10 })
    const before = Date.now()
    await consentAs(access, 'gina')
    const info = await access.inspect('gina')
    expect(info).toMatchObject({
      userKey: 'gina',
      status: 'active',
      failures: 0,
      scope: expect.stringContaining('api:read'),
    })
    expect(info?.expiresAt).toBeGreaterThanOrEqual(before + 59_000)
    expect(info?.lastRefreshedAt).toBeGreaterThanOrEqual(before)
    expect(info?.nextRefreshAt).toBe((info?.expiresAt ?? 0) - 10_000)
    expect(info?.lastError).toBeUndefined()
    expect(info?.consentRequired).toBeUndefined()
    expect(JSON.stringify(info)).not.toMatch(/accessToken|refreshToken/)
    expect(await access.inspect('nobody')).toBeUndefined()
    await expect(access.inspect('')).rejects.toThrow(TypeError)
  })

  it('a grant whose refresh token the AS revoked: consent_required with its reason, from any instance, until a new consent or revoke', async () => {
    const store = new MemoryTokenStore()
    const one = open({ store })
    const two = open({ store })
    await consentAs(one, 'hana')
    await as.revokeGrantsOf('hana')
    as.resetStats()
    await expect(one.getAccessToken('hana', { forceRefresh: true })).rejects.toMatchObject({
      reason: 'invalid_grant',
    })
    expect(as.stats().tokenCalls.refresh_token).toBe(1)
    // The other instance knows without a token call: the record says so.
    const info = await two.inspect('hana')
    expect(info).toMatchObject({
      userKey: 'hana',
      status: 'consent_required',
      consentRequired: { reason: 'invalid_grant', oauthError: 'invalid_grant', status: 400 },
    })
    expect(info?.consentRequired?.at).toBeLessThanOrEqual(Date.now())
    expect((await all(two)).filter((grant) => grant.userKey === 'hana')).toEqual([info])
    expect(await all(two, { status: 'consent_required' })).toEqual([info])
    expect(await all(two, { status: 'active' })).toEqual([])
    await expect(two.getAccessToken('hana')).rejects.toMatchObject({
      reason: 'invalid_grant',
      oauthError: 'invalid_grant',
    })
    expect(as.stats().tokenCalls.refresh_token).toBe(1)
    // A new consent replaces it.
    await consentAs(two, 'hana')
    expect(await one.inspect('hana')).toMatchObject({ status: 'active', failures: 0 })
    // Dead again, then revoke clears it.
    await as.revokeGrantsOf('hana')
    await expect(one.getAccessToken('hana', { forceRefresh: true })).rejects.toMatchObject({
      reason: 'invalid_grant',
    })
    expect(await two.revoke('hana')).toEqual({ revokedAtServer: false })
    expect(await one.inspect('hana')).toBeUndefined()
    expect(store.size).toBe(0)
  })

  it('a grant whose AS answered 503 three times: failing with count 3 and the last error, transient; active again after one success', async () => {
    const endpoint = faultyTokenEndpoint(as)
    const store = new MemoryTokenStore()
    const one = open({ store, fetch: endpoint.fetch, retry: { attempts: 1 } })
    const two = open({ store })
    const errors: Array<{ transient: boolean; nextAttemptAt: number | undefined }> = []
    one.on('refreshError', ({ transient, nextAttemptAt }) => errors.push({ transient, nextAttemptAt }))
    const consented = await consentAs(one, 'ivan')
    endpoint.failNext(3, unavailable)
    for (let failure = 1; failure <= 3; failure++) {
      // Not before the next attempt is due: until then the grant is not presented again.
      const due = (await two.inspect('ivan'))?.lastError?.nextAttemptAt
      if (due !== undefined) await sleep(Math.max(0, due - Date.now()) + 20)
      const token = await one.getAccessToken('ivan', { forceRefresh: true }).catch((err: unknown) => err)
      expect(token).toMatchObject({ code: 'ERR_TOKEN_ENDPOINT', status: 503 })
      const info = await two.inspect('ivan')
      expect(info).toMatchObject({
        status: 'failing',
        failures: failure,
        lastError: { code: 'ERR_TOKEN_ENDPOINT', status: 503 },
      })
      // Retry-After: 1 is honoured, on top of the backoff.
      expect(info?.lastError?.nextAttemptAt).toBeGreaterThanOrEqual((info?.lastError?.at ?? 0) + 1_000)
    }
    expect(endpoint.refreshCalls).toBe(3)
    expect(errors.map((error) => error.transient)).toEqual([true, true, true])
    // Requests still get the valid token meanwhile.
    expect((await two.getAccessToken('ivan')).value).toBe(consented.token.value)
    const due = (await two.inspect('ivan'))?.lastError?.nextAttemptAt ?? 0
    await sleep(Math.max(0, due - Date.now()) + 20)
    const fresh = await one.getAccessToken('ivan', { forceRefresh: true })
    expect(fresh.refreshed).toBe(true)
    expect(endpoint.refreshCalls).toBe(4)
    const healed = await two.inspect('ivan')
    expect(healed).toMatchObject({ status: 'active', failures: 0 })
    expect(healed?.lastError).toBeUndefined()
  }, 20_000)

  it('refreshError says a 4xx that is not a dead grant is not transient (something to fix)', async () => {
    const endpoint = faultyTokenEndpoint(as)
    const access = open({ store: new MemoryTokenStore(), fetch: endpoint.fetch })
    const transient: boolean[] = []
    access.on('refreshError', (event) => transient.push(event.transient))
    await consentAs(access, 'jack')
    endpoint.failNext(1, () => Response.json({ error: 'invalid_request' }, { status: 400 }))
    await expect(access.getAccessToken('jack', { forceRefresh: true })).rejects.toMatchObject({ status: 400 })
    expect(transient).toEqual([false])
    expect(await access.inspect('jack')).toMatchObject({
      status: 'failing',
      failures: 1,
      lastError: { code: 'ERR_TOKEN_ENDPOINT', status: 400, oauthError: 'invalid_request' },
    })
  })

  it('grants(): every grant once, whatever the page size; a status filter; checked options', async () => {
    const store = new MemoryTokenStore()
    const access = open({ store })
    const other = accessFor(as, { store, client: as.clients.public })
    opened.push(other)
    for (let i = 0; i < 25; i++)
      await access.restore(`user-${i}`, { accessToken: `at-${i}`, refreshToken: `rt-${i}`, expiresIn: 600 })
    // Another client's grants share the store, not the inventory.
    await other.restore('someone-else', { accessToken: 'at-x', refreshToken: 'rt-x', expiresIn: 600 })
    for (const pageSize of [1, 7, 100]) {
      const keys = (await all(access, { pageSize })).map((grant) => grant.userKey)
      expect(keys.sort()).toEqual(Array.from({ length: 25 }, (_, i) => `user-${i}`).sort())
    }
    expect((await all(other)).map((grant) => grant.userKey)).toEqual(['someone-else'])
    expect(await all(access, { status: ['failing', 'consent_required'] })).toEqual([])
    await expect(all(access, { pageSize: 0 })).rejects.toThrow(TypeError)
    await expect(all(access, { status: 'healthy' as 'active' })).rejects.toThrow(TypeError)
  })

  it('a store that cannot list: grants() and keepFresh() say so (ERR_CONFIGURATION); the rest works', async () => {
    const inner = new MemoryTokenStore()
    const store: TokenStore = {
      get: (key) => inner.get(key),
      set: (key, value, options) => inner.set(key, value, options),
      delete: (key, version) => inner.delete(key, version),
    }
    const access = open({ store })
    await access.restore('kim', { accessToken: 'at-kim', refreshToken: 'rt-kim', expiresIn: 600 })
    expect(await access.inspect('kim')).toMatchObject({ status: 'active' })
    await expect(all(access)).rejects.toMatchObject({
      code: 'ERR_CONFIGURATION',
      message: expect.stringContaining('`list`'),
    })
    expect(() => access.keepFresh()).toThrow(expect.objectContaining({ code: 'ERR_CONFIGURATION' }))
  })
})

describe('the keeper (issue 20)', () => {
  let as: TestAuthorizationServer

  beforeAll(async () => {
    as = await startTestAuthorizationServer({ accessTokenTTLSeconds: 8 })
  })
  afterAll(async () => {
    await as?.close()
  })

  it('refreshes grants ahead of their expiry, once each; requests then find fresh tokens and make no token call', async () => {
    const store = new MemoryTokenStore()
    const endpoint = faultyTokenEndpoint(as)
    const access = accessFor(as, { store, fetch: endpoint.fetch, refreshSkewSeconds: 1 })
    const refreshes: string[] = []
    access.on('refresh', ({ userKey }) => refreshes.push(userKey))
    const users = ['lea', 'max', 'ned']
    const first = new Map<string, string>()
    for (const user of users) first.set(user, (await consentAs(access, user)).token.value)
    const keeper = access.keepFresh({ intervalSeconds: 60, aheadSeconds: 4, concurrency: 2 })
    try {
      // Not due yet: 8 s tokens are due 4 s before expiry (at most a second earlier, for spread).
      expect(await keeper.sweep()).toMatchObject({ listed: 3, due: 0, refreshed: 0 })
      await sleep(4_100)
      const sweep = await keeper.sweep()
      expect(sweep).toMatchObject({ listed: 3, due: 3, refreshed: 3, skipped: 0, failed: 0 })
      expect(keeper.lastSweep).toEqual(sweep)
      expect(endpoint.refreshCalls).toBe(3)
      expect(endpoint.maxInFlight).toBeLessThanOrEqual(2)
      expect(refreshes.sort()).toEqual(users)
      // Requests find fresh tokens: none makes a token call.
      for (const user of users) {
        const token = await access.getAccessToken(user)
        expect(token.refreshed).toBe(false)
        expect(token.value).not.toBe(first.get(user))
      }
      // A second walk right after finds nothing due.
      expect(await keeper.sweep()).toMatchObject({ due: 0, refreshed: 0 })
      expect(endpoint.refreshCalls).toBe(3)
    } finally {
      await keeper.stop()
      access.close()
    }
  }, 20_000)

  it('leaves a grant another instance is refreshing (its lock held) and refreshes the rest', async () => {
    const store = new MemoryTokenStore()
    const endpoint = faultyTokenEndpoint(as)
    const access = accessFor(as, { store, fetch: endpoint.fetch, refreshSkewSeconds: 1 })
    await consentAs(access, 'olga')
    await consentAs(access, 'piet')
    await sleep(2_100) // due: 8 s tokens, 7.5 s ahead, at most three quarters of their life
    const keeper = access.keepFresh({ intervalSeconds: 60, aheadSeconds: 7.5 })
    const { keys } = await store.list('', { limit: 10 })
    const olgaKey = keys.find((key) => key.endsWith(':olga'))
    const lock = await store.acquireLock(olgaKey as string, 30_000)
    try {
      const sweep = await keeper.sweep()
      expect(sweep).toMatchObject({ due: 2, refreshed: 1, skipped: 1 })
      expect(endpoint.refreshCalls).toBe(1)
    } finally {
      await lock?.release()
      await keeper.stop()
      access.close()
    }
  })

  it('a request for a grant the keeper is refreshing does not wait for the keeper: the still fresh token at once', async () => {
    const store = new MemoryTokenStore()
    let answered = false
    let release: () => void = () => {}
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    const slowFetch = (async (input: string | URL | Request, init?: RequestInit) => {
      const url = input instanceof Request ? input.url : String(input)
      if (url !== `${as.issuer}/token`) return fetch(input, init)
      await held
      answered = true
      return Response.json({
        access_token: 'at-new',
        token_type: 'Bearer',
        expires_in: 60,
        refresh_token: 'rt-new',
      })
    }) as typeof fetch
    const app = accessFor(as, { store, fetch: slowFetch, refreshSkewSeconds: 1 })
    // Stored by another instance: this one has nothing cached for the user.
    const other = accessFor(as, { store })
    await other.restore('uma', { accessToken: 'at-old', refreshToken: 'rt-old', expiresIn: 8 })
    const keeper = app.keepFresh({ intervalSeconds: 60, aheadSeconds: 7.9 })
    try {
      await sleep(2_100)
      const sweep = keeper.sweep()
      await sleep(100) // the keeper's token call is under way, and held
      const token = await app.getAccessToken('uma')
      expect(answered).toBe(false)
      expect(token).toMatchObject({ value: 'at-old', refreshed: false })
      release()
      expect(await sweep).toMatchObject({ due: 1, refreshed: 1 })
      expect((await app.getAccessToken('uma')).value).toBe('at-new')
    } finally {
      release()
      await keeper.stop()
      app.close()
      other.close()
    }
  })

  it("refreshes before the refresh token's idle limit, however long the access token lives", async () => {
    const store = new MemoryTokenStore()
    const access = accessFor(as, { store })
    await access.restore('quinn', { accessToken: 'at-q', refreshToken: 'rt-q', expiresIn: 3_600 })
    const idle = access.keepFresh({ intervalSeconds: 60, aheadSeconds: 2, refreshTokenIdleSeconds: 3 })
    const plain = access.keepFresh({ intervalSeconds: 60, aheadSeconds: 2 })
    try {
      expect(await idle.sweep()).toMatchObject({ listed: 1, due: 0 })
      await sleep(1_100)
      expect(await plain.sweep()).toMatchObject({ listed: 1, due: 0 })
      // Idle limit 3 s, 2 s ahead: due after 1 s. (The refresh token is made up: the AS says it is dead.)
      expect(await idle.sweep()).toMatchObject({ listed: 1, due: 1, consentRequired: 1 })
      expect(await access.inspect('quinn')).toMatchObject({ status: 'consent_required' })
      // A dead grant is not due any more.
      expect(await idle.sweep()).toMatchObject({ listed: 1, due: 0 })
      expect(() => access.keepFresh({ aheadSeconds: 30, refreshTokenIdleSeconds: 20 })).toThrow(TypeError)
      expect(() => access.keepFresh({ concurrency: 0 })).toThrow(TypeError)
      expect(() => access.keepFresh({ intervalSeconds: -1 })).toThrow(TypeError)
    } finally {
      await idle.stop()
      await plain.stop()
      access.close()
    }
  })

  it('a failing grant waits for its backoff and for the server’s Retry-After; a 503 with Retry-After pauses new refreshes', async () => {
    const store = new MemoryTokenStore()
    const endpoint = faultyTokenEndpoint(as)
    const access = accessFor(as, {
      store,
      fetch: endpoint.fetch,
      refreshSkewSeconds: 1,
      retry: { attempts: 1 },
    })
    await consentAs(access, 'rosa')
    await consentAs(access, 'sven')
    await sleep(2_100)
    const keeper = access.keepFresh({ intervalSeconds: 60, aheadSeconds: 7.5, concurrency: 1 })
    try {
      endpoint.failNext(1, () => new Response('busy', { status: 503, headers: { 'retry-after': '2' } }))
      const started = Date.now()
      const sweep = await keeper.sweep()
      // One failed; the other waited for the server's pause before its refresh.
      expect(sweep).toMatchObject({ due: 2, failed: 1, refreshed: 1 })
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_900)
      expect(endpoint.refreshCalls).toBe(2)
      // The failed grant is not due again before the server's Retry-After.
      const failing = (await Promise.all(['rosa', 'sven'].map((user) => access.inspect(user)))).find(
        (info) => info?.status === 'failing',
      )
      expect(failing?.lastError?.nextAttemptAt).toBeGreaterThanOrEqual((failing?.lastError?.at ?? 0) + 2_000)
    } finally {
      await keeper.stop()
      access.close()
    }
  }, 20_000)

  it('stop() ends the walks and waits for the refreshes under way; close() stops keepers too', async () => {
    const store = new MemoryTokenStore()
    const access = accessFor(as, { store, refreshSkewSeconds: 1 })
    await consentAs(access, 'tara')
    await sleep(2_100)
    let refreshes = 0
    access.on('refresh', () => refreshes++)
    const keeper = access.keepFresh({ intervalSeconds: 0.05, aheadSeconds: 7.5 })
    await sleep(300)
    await keeper.stop()
    const after = keeper.lastSweep
    expect(refreshes).toBe(1)
    expect(after?.listed).toBe(1)
    await sleep(200)
    expect(keeper.lastSweep).toBe(after)
    const other = access.keepFresh({ intervalSeconds: 0.05 })
    access.close()
    await sleep(200)
    const last = other.lastSweep
    await sleep(200)
    expect(other.lastSweep).toBe(last)
    expect(() => access.keepFresh()).toThrow(expect.objectContaining({ code: 'ERR_CONFIGURATION' }))
  })
})

describe('the keeper and the process (issue 20)', () => {
  it('keeps no process alive by itself: a script that starts one and forgets it exits', async () => {
    const { builtPackagesProblem } = await import('../built-packages.js')
    expect(builtPackagesProblem(['core'])).toBeUndefined()
    const core = new URL('../../packages/core/dist/index.js', import.meta.url).href
    const script = `
      import { OngoingAccess } from ${JSON.stringify(core)}
      const access = new OngoingAccess({
        issuer: 'https://as.example', client: { id: 'app', secret: 'secret-secret' },
        endpoints: { authorization: 'https://as.example/authorize', token: 'https://as.example/token' },
        redirectUri: 'http://127.0.0.1:3000/callback', scope: 'api', secret: 'a-secret-of-32-characters-or-more!!',
      })
      await access.restore('u', { accessToken: 'at', refreshToken: 'rt', expiresIn: 3600 })
      access.keepFresh({ intervalSeconds: 3600 })
      console.log('started')
    `
    const { execFile } = await import('node:child_process')
    const started = Date.now()
    const output = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ['--input-type=module', '-e', script],
        { timeout: 10_000 },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
      )
    })
    expect(output.trim()).toBe('started')
    expect(Date.now() - started).toBeLessThan(8_000)
  })
})
