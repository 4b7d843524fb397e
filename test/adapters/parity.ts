// One suite for every adapter: each runs it through real HTTP against a real authorization server.
import { createHook } from 'node:async_hooks'
import { once } from 'node:events'
import { createServer as createHttpServer, type RequestListener } from 'node:http'
import { createServer } from 'node:net'
import { MemoryTokenStore, OngoingAccess, type OngoingAccessOptions } from '@ongoing/core'
import {
  driveConsent,
  startDPoPResourceServer,
  startTestAuthorizationServer,
  type TestAuthorizationServer,
} from '@ongoing/testing'
import request from 'supertest'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startTestAPI } from '../core/test-api.js'

/** An app under test, listening on the port of its `redirectUri`. */
export interface RunningApp {
  baseUrl: string
  access: OngoingAccess
  /** Errors that reached the framework's own error handling (which then answers as it does by default). */
  errors: unknown[]
  close(): Promise<void>
}

/**
 * Starts an app built the way that framework's users would build it:
 * - the adapter's consent routes under `/auth` (GET consent, GET callback, POST refresh, POST
 *   disconnect), without
 *   a `userKey` option (the sealed cookie);
 * - `GET /api/me` behind the adapter's per-request middleware or guard, answering
 *   `{ accessToken, expiresAt, userKey }` from the per-request value;
 * - `GET /api/call?url=…` behind the same, calling `url` with the per-request value's `fetch` and
 *   answering `{ status, body }` of the API's answer;
 * - a hook that records the errors reaching the framework's error handling, then lets the
 *   framework answer by default; proxies trusted where the framework can (`X-Forwarded-*`).
 */
export interface AdapterHarness {
  name: string
  /**
   * Whether the consent-required answer (redirect or 401) travels as an exception through the
   * framework's error handling (Nest: a guard can only answer by throwing) rather than being
   * written by the middleware.
   */
  reconsentIsAnException?: boolean
  start(options: OngoingAccessOptions): Promise<RunningApp>
}

export const SECRET = 'parity suite secret: at least thirty-two characters'

/** An access that reaches no authorization server: endpoints given (a closed port), grants restored. */
export const OFFLINE_ACCESS_OPTIONS: OngoingAccessOptions = {
  issuer: 'http://127.0.0.1:9',
  endpoints: { authorization: 'http://127.0.0.1:9/authorize', token: 'http://127.0.0.1:9/token' },
  client: { id: 'app', secret: 'app-secret' },
  redirectUri: 'http://127.0.0.1:3000/auth/callback',
  scope: 'api:read',
  secret: SECRET,
}

/** `new OngoingAccess` with {@link OFFLINE_ACCESS_OPTIONS}, and `extra` laid over them. */
export function offlineAccess(extra: Partial<OngoingAccessOptions> = {}): OngoingAccess {
  return new OngoingAccess({ ...OFFLINE_ACCESS_OPTIONS, ...extra } as OngoingAccessOptions)
}
const TTL_SECONDS = 2

export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Serves `handler` on 127.0.0.1 at the port of `redirectUri`. */
export async function listen(handler: RequestListener, redirectUri: string) {
  const server = createHttpServer(handler)
  server.listen(Number(new URL(redirectUri).port), '127.0.0.1')
  await once(server, 'listening')
  return {
    baseUrl: new URL(redirectUri).origin,
    close: async () => {
      server.closeAllConnections()
      server.close()
      await once(server, 'close')
    },
  }
}

/** How many promises `fn` creates, synchronously. */
export function countPromises(fn: () => void): number {
  let count = 0
  const hook = createHook({
    init(_id, type) {
      if (type === 'PROMISE') count++
    },
  }).enable()
  try {
    fn()
  } finally {
    hook.disable()
  }
  return count
}

/** Just enough of a browser's cookie jar: one host, a cookie per name, sent where its `Path` matches. */
export class CookieJar {
  readonly cookies = new Map<string, string>()
  readonly #paths = new Map<string, string>()
  store(setCookie: string[] | string | undefined): void {
    for (const line of [setCookie ?? []].flat()) {
      const [pair = '', ...attributes] = line.split(';')
      const eq = pair.indexOf('=')
      const name = pair.slice(0, eq).trim()
      const path = attributes.map((a) => /^\s*path=(.*)$/i.exec(a)?.[1]?.trim()).find(Boolean) ?? '/'
      if (attributes.some((a) => /^\s*max-age=0\s*$/i.test(a))) {
        // A deletion only reaches the cookie set with the same path.
        if ((this.#paths.get(name) ?? '/') === path) this.cookies.delete(name)
      } else {
        this.cookies.set(name, pair.slice(eq + 1).trim())
        this.#paths.set(name, path)
      }
    }
  }
  /** The `Cookie` header a browser sends to `requestPath` (RFC 6265 §5.1.4 path-match); all cookies without one. */
  header(requestPath?: string): string {
    return [...this.cookies]
      .filter(([name]) => requestPath === undefined || pathMatches(requestPath, this.#paths.get(name) ?? '/'))
      .map(([name, value]) => `${name}=${value}`)
      .join('; ')
  }
  named(prefix: string): [string, string] | undefined {
    return [...this.cookies].find(([name]) => name.startsWith(prefix))
  }
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  const path = requestPath.split('?')[0] as string
  if (path === cookiePath) return true
  if (!path.startsWith(cookiePath)) return false
  return cookiePath.endsWith('/') || path[cookiePath.length] === '/'
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function setCookies(response: request.Response): string[] {
  return [response.headers['set-cookie'] ?? []].flat() as string[]
}

function codeOf(err: unknown): unknown {
  const e = err as { code?: unknown; cause?: { code?: unknown } }
  return e?.code ?? e?.cause?.code
}

export function runParitySuite(harness: AdapterHarness): void {
  describe(`${harness.name}: adapter parity`, () => {
    let as: TestAuthorizationServer
    let app: RunningApp | undefined

    beforeAll(async () => {
      as = await startTestAuthorizationServer({ accessTokenTTLSeconds: TTL_SECONDS })
    })
    afterAll(() => as?.close())
    afterEach(async () => {
      await app?.close()
      app = undefined
    })

    async function start(extra: Partial<OngoingAccessOptions> = {}) {
      const port = await freePort()
      const redirectUri = `http://127.0.0.1:${port}/auth/callback`
      const options: OngoingAccessOptions = {
        issuer: as.issuer,
        client: as.clients.confidential,
        redirectUri,
        scope: 'offline_access api:read',
        secret: SECRET,
        refreshSkewSeconds: 0,
        ...extra,
      }
      app = await harness.start(options)
      return { app, redirectUri, options, http: request(app.baseUrl), jar: new CookieJar() }
    }

    type Started = Awaited<ReturnType<typeof start>>

    /** Stops the app and starts it again on the same port, with `extra` laid over its options; the browser keeps its cookies. */
    async function restart(s: Started, extra: Partial<OngoingAccessOptions>): Promise<Started> {
      await app?.close()
      app = undefined
      const options = { ...s.options, ...extra } as OngoingAccessOptions
      app = await harness.start(options)
      return { ...s, app, options, http: request(app.baseUrl) }
    }

    function get(s: Started, path: string, accept = 'text/html') {
      const req = s.http.get(path).set('Accept', accept)
      const cookie = s.jar.header(path)
      return cookie === '' ? req : req.set('Cookie', cookie)
    }

    /** GET /auth/consent, the authorization server's login and consent pages, and the callback URL. */
    async function authorize(s: Started, returnTo: string, login: string) {
      const consent = await get(s, `/auth/consent?returnTo=${encodeURIComponent(returnTo)}`)
      expect(consent.status).toBe(302)
      s.jar.store(setCookies(consent))
      const callback = await driveConsent(consent.headers.location as string, {
        redirectUriPrefix: s.redirectUri,
        login,
      })
      return { consent, callback, path: callback.pathname + callback.search }
    }

    async function connect(s: Started, { returnTo = '/library', login = 'alice' } = {}) {
      const { consent, path } = await authorize(s, returnTo, login)
      const done = await get(s, path)
      s.jar.store(setCookies(done))
      expect(done.status).toBe(303)
      return { consent, done }
    }

    async function me(s: Started) {
      const response = await get(s, '/api/me', 'application/json')
      expect(response.status).toBe(200)
      return response.body as { accessToken: string; expiresAt: number; userKey: string }
    }

    async function introspect(token: string) {
      const { id, secret } = as.clients.confidential
      const response = await fetch(new URL('/token/introspection', as.issuer), {
        method: 'POST',
        headers: { authorization: `Basic ${btoa(`${id}:${secret}`)}` },
        body: new URLSearchParams({ token }),
      })
      return (await response.json()) as {
        active: boolean
        client_id?: string
        sub?: string
        cnf?: { jkt?: string }
      }
    }

    it('consent redirects with S256 and state, and sets an HttpOnly SameSite=Lax transaction cookie', async () => {
      const s = await start()
      const response = await get(s, '/auth/consent?returnTo=/library')
      expect(response.status).toBe(302)
      expect(response.headers['cache-control']).toBe('no-store')
      const location = new URL(response.headers.location as string)
      expect(location.origin + location.pathname).toBe(`${as.issuer}/auth`)
      const params = location.searchParams
      expect(params.get('response_type')).toBe('code')
      expect(params.get('client_id')).toBe(as.clients.confidential.id)
      expect(params.get('redirect_uri')).toBe(s.redirectUri)
      expect(params.get('code_challenge_method')).toBe('S256')
      expect(params.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/)
      expect(params.get('state')).toMatch(/^[A-Za-z0-9_-]{22,}$/)
      expect(params.has('code_verifier')).toBe(false)

      const cookies = setCookies(response)
      const tx = cookies.find((c) => c.startsWith('ongoing.tx.'))
      expect(tx).toBeDefined()
      expect(tx).toMatch(/; HttpOnly/)
      expect(tx).toMatch(/; SameSite=Lax/)
      expect(tx).toMatch(/; Path=\/auth;/) // both the consent and the callback route receive it
      expect(tx).toMatch(/; Max-Age=600;/)
      expect(tx).not.toMatch(/Secure/) // http on loopback
      const uid = cookies.find((c) => c.startsWith('ongoing.uid='))
      expect(uid).toMatch(/; Path=\/;.*SameSite=Lax; HttpOnly/)
      expect(as.stats().tokenCalls.total).toBe(0)
    })

    it('a forged Host or X-Forwarded-Host never changes redirect_uri', async () => {
      const s = await start()
      const consent = await get(s, '/auth/consent')
        .set('Host', 'evil.example')
        .set('X-Forwarded-Host', 'evil.example')
        .set('X-Forwarded-Proto', 'https')
      expect(consent.status).toBe(302)
      const location = new URL(consent.headers.location as string)
      expect(location.searchParams.get('redirect_uri')).toBe(s.redirectUri)
      s.jar.store(setCookies(consent))
      const callback = await driveConsent(location, { redirectUriPrefix: s.redirectUri, login: 'erin' })
      const done = await get(s, callback.pathname + callback.search)
        .set('Host', 'evil.example')
        .set('X-Forwarded-Host', 'evil.example')
      expect(done.status).toBe(303)
      expect(done.headers.location).toBe('/')
      expect(as.stats().tokenCalls.authorization_code).toBe(1)
    })

    it('the callback stores the grant and redirects (303) to returnTo with no-store and no-referrer', async () => {
      const s = await start()
      as.resetStats()
      const { done } = await connect(s, { returnTo: '/library?tab=genres' })
      expect(done.headers.location).toBe('/library?tab=genres')
      expect(done.headers['cache-control']).toBe('no-store')
      expect(done.headers['referrer-policy']).toBe('no-referrer')
      const cleared = setCookies(done).find((c) => c.startsWith('ongoing.tx.'))
      expect(cleared).toMatch(/^ongoing\.tx\.[A-Za-z0-9_-]+=; Path=\/auth; Max-Age=0/)
      expect(s.jar.named('ongoing.tx.')).toBeUndefined()
      expect(as.stats().tokenCalls).toMatchObject({ authorization_code: 1, refresh_token: 0 })
      const { userKey } = await me(s)
      expect(await s.app.access.getAccessToken(userKey)).toMatchObject({ refreshed: false })
    })

    it('a protected route gets the stored access token, and it works at the authorization server', async () => {
      const s = await start()
      await connect(s, { login: 'bob' })
      as.resetStats()
      const first = await me(s)
      expect(first.userKey).toMatch(/^[A-Za-z0-9_-]{16,}$/)
      expect(first.accessToken).toBe((await s.app.access.getAccessToken(first.userKey)).value)
      expect(first.expiresAt).toBeGreaterThan(Date.now())
      expect(first.expiresAt).toBeLessThanOrEqual(Date.now() + TTL_SECONDS * 1000)
      expect(await introspect(first.accessToken)).toMatchObject({
        active: true,
        client_id: as.clients.confidential.id,
        sub: 'bob',
      })
      expect(await me(s)).toEqual(first)
      expect(as.stats().tokenCalls.total).toBe(0)
    })

    it("regression (issue 19): the per-request value's fetch calls the API as its user; a 401 refreshes once and retries once", async () => {
      const api = await startTestAPI()
      try {
        const s = await start()
        await connect(s, { login: 'dana' })
        const first = await me(s)
        // The per-request value serializes to its three fields: fetch is not data.
        expect(Object.keys(first).sort()).toEqual(['accessToken', 'expiresAt', 'userKey'])
        as.resetStats()
        const call = (path: string) =>
          get(s, `/api/call?url=${encodeURIComponent(`${api.url}${path}`)}`, 'application/json')
        const ok = await call('/history')
        expect(ok.status).toBe(200)
        expect(ok.body).toEqual({ status: 200, body: JSON.stringify({ ok: true, body: '' }) })
        expect(api.calls).toEqual([{ path: '/history', token: first.accessToken }])
        expect(as.stats().tokenCalls.total).toBe(0)
        // The API stops taking the token (revoked at its side): one refresh, one retry.
        api.rejected.add(first.accessToken)
        const retried = await call('/history')
        expect(retried.body).toMatchObject({ status: 200 })
        expect(as.stats().tokenCalls).toMatchObject({ refresh_token: 1, total: 1 })
        expect(api.calls.map((c) => c.token)).toEqual([
          first.accessToken,
          first.accessToken,
          expect.any(String),
        ])
        const renewed = api.calls[2]?.token
        expect(renewed).not.toBe(first.accessToken)
        expect((await me(s)).accessToken).toBe(renewed)
      } finally {
        await api.close()
      }
    })

    it("with dpop: the per-request value's fetch presents the DPoP-bound token with a proof the API accepts (RFC 9449)", async () => {
      const api = await startDPoPResourceServer({ introspect, requireNonce: true })
      try {
        const s = await start({ dpop: true })
        await connect(s, { login: 'dpop-dana' })
        const { accessToken } = await me(s)
        expect((await introspect(accessToken)).cnf?.jkt).toMatch(/^[\w-]{43}$/)
        as.resetStats()
        const called = await get(
          s,
          `/api/call?url=${encodeURIComponent(`${api.url}/history`)}`,
          'application/json',
        )
        expect(called.body).toMatchObject({ status: 200 })
        // The API's nonce challenge cost one retry; no token call.
        expect(api.stats()).toMatchObject({ requests: 2, accepted: 1, nonceChallenges: 1 })
        expect(as.stats().tokenCalls.total).toBe(0)
      } finally {
        await api.close()
      }
    })

    it('an expired token is refreshed transparently, once for concurrent requests', async () => {
      const s = await start()
      await connect(s, { login: 'carol' })
      const before = await me(s)
      await sleep(before.expiresAt - Date.now() + 50)
      as.resetStats()
      const after = await Promise.all([me(s), me(s), me(s)])
      expect(as.stats().tokenCalls).toMatchObject({ refresh_token: 1, authorization_code: 0 })
      expect(new Set(after.map((m) => m.accessToken)).size).toBe(1)
      expect(after[0]?.accessToken).not.toBe(before.accessToken)
      expect(after[0]?.expiresAt).toBeGreaterThan(Date.now())
      expect(await introspect(after[0]?.accessToken as string)).toMatchObject({ active: true, sub: 'carol' })
    })

    it('a dead refresh token sends a browser back to consent and gives a JSON client 401', async () => {
      const s = await start()
      await connect(s, { login: 'dora' })
      const { expiresAt } = await me(s)
      as.revokeGrantsOf('dora')
      await sleep(expiresAt - Date.now() + 50)

      const browser = await get(s, '/api/me?view=full')
      expect(browser.status).toBe(302)
      expect(browser.headers.location).toBe('/auth/consent?returnTo=%2Fapi%2Fme%3Fview%3Dfull')

      const client = await get(s, '/api/me', 'application/json')
      expect(client.status).toBe(401)
      expect(client.headers['www-authenticate']).toMatch(/^Bearer error="invalid_token"/)
      expect(client.headers['cache-control']).toBe('no-store')
      expect(client.body).toMatchObject({
        error: 'consent_required',
        consentUrl: '/auth/consent?returnTo=%2Fapi%2Fme',
      })
      const expected = harness.reconsentIsAnException ? ['ERR_CONSENT_REQUIRED', 'ERR_CONSENT_REQUIRED'] : []
      expect(s.app.errors.map(codeOf)).toEqual(expected)

      // Consenting again through the URL it named brings the user back where they were.
      const { path } = await authorize(s, '/api/me?view=full', 'dora')
      const done = await get(s, path)
      expect(done.status).toBe(303)
      expect(done.headers.location).toBe('/api/me?view=full')
      expect((await me(s)).accessToken).not.toBe('')
    })

    it("with onRefreshTokenExpired: 'error', consent required goes to the framework's error handling", async () => {
      const s = await start({ onRefreshTokenExpired: 'error' })
      const response = await get(s, '/api/me')
      expect(response.status).toBe(401)
      expect(response.headers['www-authenticate']).toMatch(/^Bearer error="invalid_token"/)
      expect(response.headers.location).toBeUndefined()
      expect(s.app.errors).toHaveLength(1)
      expect(codeOf(s.app.errors[0])).toBe('ERR_CONSENT_REQUIRED')
    })

    it('a tampered or missing transaction cookie is refused with 400 and no token call', async () => {
      const s = await start()
      const { path } = await authorize(s, '/library', 'frank')
      const [name, value] = s.jar.named('ongoing.tx.') as [string, string]
      as.resetStats()

      const flipped = value.slice(0, 30) + (value[30] === 'A' ? 'B' : 'A') + value.slice(31)
      s.jar.cookies.set(name, flipped)
      expect((await get(s, path)).status).toBe(400)
      s.jar.cookies.delete(name)
      expect((await get(s, path)).status).toBe(400)
      expect(as.stats().tokenCalls.total).toBe(0)
      expect(s.app.errors.map(codeOf)).toEqual(['ERR_TRANSACTION', 'ERR_TRANSACTION'])

      // Nothing was used up: the real cookie still finishes the consent.
      s.jar.cookies.set(name, value)
      const done = await get(s, path)
      expect(done.status).toBe(303)
      expect(as.stats().tokenCalls.authorization_code).toBe(1)
    })

    const txCookies = (s: Started) => [...s.jar.cookies].filter(([name]) => name.startsWith('ongoing.tx.'))

    it('regression (issue 17, item 6): after 20 abandoned consents a consent still finishes, and at most 3 transaction cookies stay', async () => {
      const s = await start()
      for (let i = 0; i < 20; i++) {
        const abandoned = await get(s, '/auth/consent?returnTo=/abandoned')
        expect(abandoned.status).toBe(302)
        s.jar.store(setCookies(abandoned))
      }
      as.resetStats()
      const { consent, done } = await connect(s, { returnTo: '/library', login: 'kim' })
      expect(done.headers.location).toBe('/library')
      expect(as.stats().tokenCalls).toMatchObject({ authorization_code: 1, refresh_token: 0 })
      expect(txCookies(s).length).toBeLessThanOrEqual(2) // the finished one is gone
      expect(setCookies(consent).filter((c) => c.startsWith('ongoing.tx.')).length).toBeGreaterThan(1)
      const { accessToken } = await me(s)
      for (const response of [consent, done]) {
        expect(JSON.stringify(response.headers)).not.toContain(accessToken)
        expect(JSON.stringify(response.headers)).not.toContain('/abandoned') // sealed, never in clear
      }
      expect(s.app.errors).toEqual([])
    })

    it('regression (issue 17, item 6): three consents with a 2000-character returnTo, then a consent that finishes', async () => {
      const s = await start()
      const long = `/search?q=${'a'.repeat(2_000)}`
      for (let i = 0; i < 3; i++) {
        const consent = await get(s, `/auth/consent?returnTo=${encodeURIComponent(long)}`)
        expect(consent.status).toBe(302)
        s.jar.store(setCookies(consent))
      }
      const piled = s.jar.header('/auth/callback').length
      as.resetStats()
      const { done } = await connect(s, { returnTo: '/library', login: 'lena' })
      expect(done.headers.location).toBe('/library')
      expect(piled).toBeLessThan(4 * 1024)
      expect(as.stats().tokenCalls.authorization_code).toBe(1)
      // A returnTo over the cap lands on the default.
      const { done: again } = await connect(s, { returnTo: long, login: 'lena' })
      expect(again.headers.location).toBe('/')
      expect(s.app.errors).toEqual([])
    })

    it('regression (issue 17, item 6): the transaction cookie lives transactionTtlSeconds', async () => {
      const s = await start({ transactionTtlSeconds: 120 })
      const consent = await get(s, '/auth/consent')
      const tx = setCookies(consent).filter((c) => c.startsWith('ongoing.tx.'))
      expect(tx).toHaveLength(1)
      expect(tx[0]).toMatch(/; Max-Age=120;/)
    })

    it('regression (issue 17, item 6): a callback whose Cookie header is over 8 KB (the app’s own cookies) still finds its transaction', async () => {
      const s = await start()
      s.jar.store(`app-preferences=${'p'.repeat(9_000)}; Path=/`)
      const { path } = await authorize(s, '/library', 'mona')
      expect(s.jar.header(path).length).toBeGreaterThan(8 * 1024)
      as.resetStats()
      const done = await get(s, path)
      expect(done.status).toBe(303)
      expect(done.headers.location).toBe('/library')
      expect(as.stats().tokenCalls.authorization_code).toBe(1)
    })

    it('regression (issue 17, item 6): a failed callback clears its transaction cookie, and leaks nothing', async () => {
      const s = await start()
      const consent = await get(s, '/auth/consent?returnTo=/library')
      s.jar.store(setCookies(consent))
      const state = new URL(consent.headers.location as string).searchParams.get('state') as string
      const [name] = txCookies(s)[0] as [string, string]
      as.resetStats()
      const denied = await get(
        s,
        `/auth/callback?${new URLSearchParams({ error: 'access_denied', state, iss: as.issuer })}`,
      )
      expect(denied.status).toBe(403)
      const cleared = setCookies(denied).filter((c) => c.startsWith('ongoing.tx.'))
      expect(cleared).toEqual([`${name}=; Path=/auth; Max-Age=0; SameSite=Lax; HttpOnly`])
      s.jar.store(setCookies(denied))
      expect(txCookies(s)).toEqual([])
      expect(denied.text).not.toContain(state)
      expect(as.stats().tokenCalls.total).toBe(0)
      expect(s.app.errors.map(codeOf)).toEqual(['ERR_CONSENT_DENIED'])
    })

    it('three tabs consenting at once all finish, in any order, with a browser’s cookie jar', async () => {
      const s = await start()
      const tabs = []
      for (const returnTo of ['/tab-0', '/tab-1', '/tab-2']) tabs.push(await authorize(s, returnTo, 'nils'))
      as.resetStats()
      const landed: string[] = []
      for (const index of [1, 2, 0]) {
        const done = await get(s, tabs[index]?.path as string)
        expect(done.status).toBe(303)
        s.jar.store(setCookies(done))
        landed.push(done.headers.location as string)
      }
      expect(landed).toEqual(['/tab-1', '/tab-2', '/tab-0'])
      expect(as.stats().tokenCalls.authorization_code).toBe(3)
      expect(txCookies(s)).toEqual([])
    })

    it("an authorization server error at the callback is a 502, not the server's own status", async () => {
      const s = await start({ client: { id: as.clients.confidential.id, secret: 'not the secret' } })
      const { path } = await authorize(s, '/library', 'jane')
      as.resetStats()
      const response = await get(s, path)
      expect(as.stats().tokenCalls.authorization_code).toBe(1) // answered 401 invalid_client
      expect(response.status).toBe(502)
      expect(response.text).not.toContain('not the secret')
      expect(s.app.errors.map(codeOf)).toEqual(['ERR_TOKEN_ENDPOINT'])
    })

    it('a returnTo that would leave the site becomes a same-origin path', async () => {
      const s = await start()
      for (const returnTo of ['//evil.com', 'https://evil.com', '/\\evil.com', '/%2F%2Fevil.com']) {
        const { done } = await connect(s, { returnTo, login: 'gina' })
        const location = done.headers.location as string
        expect(location).toMatch(/^\/(?![/\\])/)
        expect(new URL(location, s.app.baseUrl).origin).toBe(new URL(s.app.baseUrl).origin)
        expect(location).not.toContain('evil')
      }
    })

    it('POST /auth/refresh refuses cross-site requests and answers same-origin ones without tokens', async () => {
      const s = await start()
      await connect(s, { login: 'hugo' })
      const before = await me(s)
      as.resetStats()
      const post = () => {
        const req = s.http.post('/auth/refresh').set('Accept', 'application/json')
        return req.set('Cookie', s.jar.header('/auth/refresh'))
      }
      expect((await post().set('Origin', 'https://evil.example')).status).toBe(403)
      expect((await post().set('Sec-Fetch-Site', 'cross-site')).status).toBe(403)
      expect((await post().set('Sec-Fetch-Site', 'same-site')).status).toBe(403)
      expect((await post()).status).toBe(403) // no Origin at all
      expect(as.stats().tokenCalls.total).toBe(0)

      const ok = await post().set('Origin', new URL(s.redirectUri).origin)
      expect(ok.status).toBe(200)
      expect(ok.headers['cache-control']).toBe('no-store')
      expect(Object.keys(ok.body).sort()).toEqual(['expiresAt', 'refreshed'])
      expect(ok.body.refreshed).toBe(true)
      expect(ok.body.expiresAt).toBeGreaterThan(Date.now())
      expect(as.stats().tokenCalls.refresh_token).toBe(1)
      const after = await me(s)
      expect(after.accessToken).not.toBe(before.accessToken)
      expect(ok.text).not.toContain(after.accessToken)
    })

    /** POST /auth/disconnect with the jar's cookies, as fetch would send it (JSON). */
    function disconnect(s: Started, path = '/auth/disconnect') {
      const req = s.http.post(path).set('Accept', 'application/json')
      const cookie = s.jar.header(path)
      return cookie === '' ? req : req.set('Cookie', cookie)
    }

    it('POST /auth/disconnect from our own site revokes the grant at the server and here, and clears the user-key cookie', async () => {
      const s = await start()
      await connect(s, { login: 'ida' })
      const { userKey, accessToken } = await me(s)
      expect(await s.app.access.inspect(userKey)).toMatchObject({ userKey, status: 'active' })
      expect(s.jar.cookies.has('ongoing.uid')).toBe(true)
      as.resetStats()

      const done = await disconnect(s).set('Origin', new URL(s.redirectUri).origin)
      expect(done.status).toBe(200)
      expect(done.headers['cache-control']).toBe('no-store')
      expect(done.body).toEqual({ disconnected: true, revokedAtServer: true })
      expect(setCookies(done)).toEqual(['ongoing.uid=; Path=/; Max-Age=0; SameSite=Lax; HttpOnly'])
      expect(as.stats()).toMatchObject({ revocationCalls: 1, grantsRevoked: 1, tokenCalls: { total: 0 } })
      // Gone here, and at the server: its access token no longer works either.
      expect(await s.app.access.inspect(userKey)).toBeUndefined()
      expect(await introspect(accessToken)).toMatchObject({ active: false })
      expect(done.text).not.toContain(accessToken)

      // The browser drops the cookie: a protected route now asks for consent.
      s.jar.store(setCookies(done))
      expect(s.jar.cookies.has('ongoing.uid')).toBe(false)
      const after = await get(s, '/api/me', 'application/json')
      expect(after.status).toBe(401)
      expect(after.body).toMatchObject({ error: 'consent_required', reason: 'no_grant' })

      // No user any more: a second click is a harmless no-op.
      const again = await disconnect(s).set('Origin', new URL(s.redirectUri).origin)
      expect(again.status).toBe(200)
      expect(again.body).toEqual({ disconnected: false, revokedAtServer: false })
      expect(setCookies(again)).toEqual([])
      expect(as.stats().revocationCalls).toBe(1)
    })

    it('rotating `secret`: a user-key cookie under the old secret is sealed again under the new one by a protected route, so the user keeps their grant once the old secret is dropped', async () => {
      const OLD = SECRET
      const NEW = 'parity suite new secret: also thirty-two characters'
      const store = new MemoryTokenStore()
      const uidLine = /^ongoing\.uid=[A-Za-z0-9_-]+; Path=\/; Max-Age=34560000; SameSite=Lax; HttpOnly$/
      const json = (s: Started) => get(s, '/api/me', 'application/json')

      const before = await start({ secret: [OLD], store })
      const { consent } = await connect(before, { login: 'rosa' })
      const oldCookie = before.jar.cookies.get('ongoing.uid') as string
      // What the consent route set is what a renewal sets, but for the value.
      const consentLine = setCookies(consent).find((c) => c.startsWith('ongoing.uid=')) as string
      expect(consentLine).toMatch(uidLine)
      // A cookie under the current (only) secret: no Set-Cookie.
      const first = await json(before)
      expect(first.status).toBe(200)
      expect(setCookies(first)).toEqual([])
      const { userKey } = first.body as { userKey: string }

      // Step 2 of the rotation: the new secret seals, the old one still opens.
      const during = await restart(before, { secret: [NEW, OLD] })
      const renewing = await json(during)
      expect(renewing.status).toBe(200)
      expect(renewing.body).toMatchObject({ userKey })
      expect((renewing.body as { accessToken: string }).accessToken).toBe(
        (await during.app.access.getAccessToken(userKey)).value,
      )
      const renewal = setCookies(renewing)
      expect(renewal).toHaveLength(1)
      expect(renewal[0]).toMatch(uidLine)
      during.jar.store(renewal)
      const newCookie = during.jar.cookies.get('ongoing.uid') as string
      expect(newCookie).not.toBe(oldCookie)
      // The renewed cookie is under the current secret: not renewed again.
      const renewed = await json(during)
      expect(renewed.status).toBe(200)
      expect(renewed.body).toMatchObject({ userKey })
      expect(setCookies(renewed)).toEqual([])
      // Step 3: the grant record is rewritten under the new secret (a forced refresh writes it).
      const refreshed = await during.http
        .post('/auth/refresh')
        .set('Origin', new URL(during.redirectUri).origin)
        .set('Cookie', during.jar.header('/auth/refresh'))
      expect(refreshed.status).toBe(200)
      expect(refreshed.body).toMatchObject({ refreshed: true })
      expect(setCookies(refreshed)).toEqual([])

      // Step 4: the old secret is dropped. The renewed cookie still finds the grant.
      const after = await restart(during, { secret: [NEW] })
      const served = await json(after)
      expect(served.status).toBe(200)
      expect(served.body).toMatchObject({ userKey })
      expect((served.body as { accessToken: string }).accessToken).toBe(
        (await after.app.access.getAccessToken(userKey)).value,
      )
      expect(setCookies(served)).toEqual([])
      // The cookie as it was before the rotation would not have.
      const stale = await after.http
        .get('/api/me')
        .set('Accept', 'application/json')
        .set('Cookie', `ongoing.uid=${oldCookie}`)
      expect(stale.status).toBe(401)
      expect(stale.body).toMatchObject({ error: 'consent_required', reason: 'no_grant' })
      expect(setCookies(stale)).toEqual([])
    })

    it("a browser's form post to /auth/disconnect is redirected (303) to returnTo, a same-origin path", async () => {
      const s = await start()
      await connect(s, { login: 'ivo' })
      const { userKey } = await me(s)
      as.resetStats()
      const form = (returnTo: string) =>
        disconnect(s, `/auth/disconnect?returnTo=${encodeURIComponent(returnTo)}`)
          .set('Accept', 'text/html')
          .set('Sec-Fetch-Site', 'same-origin')
          .set('Sec-Fetch-Mode', 'navigate')
          .type('form')
          .send('')
      const done = await form('/goodbye?from=settings')
      expect(done.status).toBe(303)
      expect(done.headers.location).toBe('/goodbye?from=settings')
      expect(done.headers['cache-control']).toBe('no-store')
      expect(setCookies(done)).toEqual(['ongoing.uid=; Path=/; Max-Age=0; SameSite=Lax; HttpOnly'])
      expect(as.stats().revocationCalls).toBe(1)
      expect(await s.app.access.inspect(userKey)).toBeUndefined()
      s.jar.store(setCookies(done))
      // A returnTo that would leave the site lands on defaultReturnTo.
      const away = await form('//evil.example/phish')
      expect(away.status).toBe(303)
      expect(away.headers.location).toBe('/')
      expect(as.stats().revocationCalls).toBe(1)
      expect(s.app.errors).toEqual([])
    })

    it('a cross-site POST /auth/disconnect gets 403 and deletes nothing', async () => {
      const s = await start()
      await connect(s, { login: 'jon' })
      const before = await me(s)
      as.resetStats()
      const refusals = [
        await disconnect(s).set('Origin', 'https://evil.example'),
        await disconnect(s).set('Sec-Fetch-Site', 'cross-site'),
        await disconnect(s).set('Sec-Fetch-Site', 'same-site'),
        await disconnect(s), // no Origin at all
        // A cross-site form (the CSRF shape): refused, not redirected.
        await disconnect(s)
          .set('Accept', 'text/html')
          .set('Sec-Fetch-Site', 'cross-site')
          .set('Sec-Fetch-Mode', 'navigate')
          .set('Origin', 'https://evil.example')
          .type('form')
          .send(''),
      ]
      for (const refused of refusals) {
        expect(refused.status).toBe(403)
        expect(refused.body).toEqual({ error: 'cross_site_request' })
        expect(setCookies(refused)).toEqual([])
      }
      expect(as.stats()).toMatchObject({ revocationCalls: 0, grantsRevoked: 0, tokenCalls: { total: 0 } })
      expect(await s.app.access.inspect(before.userKey)).toMatchObject({ status: 'active' })
      expect(await me(s)).toEqual(before)
      expect(await introspect(before.accessToken)).toMatchObject({ active: true })
    })

    it('GET /auth/disconnect is not a disconnect', async () => {
      const s = await start()
      await connect(s, { login: 'kai' })
      const before = await me(s)
      as.resetStats()
      for (const accept of ['text/html', 'application/json']) {
        const response = await get(s, '/auth/disconnect', accept).set('Origin', new URL(s.redirectUri).origin)
        expect(response.status).toBe(404)
        expect(setCookies(response).filter((c) => c.startsWith('ongoing.'))).toEqual([])
      }
      expect(as.stats().revocationCalls).toBe(0)
      expect(await s.app.access.inspect(before.userKey)).toMatchObject({ status: 'active' })
      expect(await me(s)).toEqual(before)
    })

    it('with pushedAuthorizationRequests, the consent route pushes the request and redirects with only client_id and request_uri (RFC 9126)', async () => {
      const s = await start({ pushedAuthorizationRequests: true })
      as.resetStats()
      const { consent, done } = await connect(s, { login: 'pia' })
      const location = new URL(consent.headers.location as string)
      expect(location.origin + location.pathname).toBe(`${as.issuer}/auth`)
      expect([...location.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri'])
      expect(done.headers.location).toBe('/library')
      expect(as.stats()).toMatchObject({
        pushedAuthorizationRequests: 1,
        tokenCalls: { authorization_code: 1 },
      })
      expect(await introspect((await me(s)).accessToken)).toMatchObject({ active: true, sub: 'pia' })
      expect(s.app.errors).toEqual([])
    })
  })
}
