// Attacks through real HTTP on an Express app: open redirects, forged hosts, oversize input,
// HTML in error descriptions, cross-site refresh, and user isolation under concurrency.
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { OngoingAccess } from '@ongoing/core'
import { getOngoing, ongoingRouter, requireAccessToken } from '@ongoing/express'
import { driveConsent, startTestAuthorizationServer, type TestAuthorizationServer } from '@ongoing/testing'
import express from 'express'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectNoLeak, SnapshotStore } from './harness.js'

const SECRET = 'adversarial http secret adversarial http secret'

describe('adversarial: through HTTP (Express)', () => {
  let as: TestAuthorizationServer
  let server: Server
  let base: string
  let access: OngoingAccess
  let store: SnapshotStore
  const logs: string[] = []
  const secrets = new Set<string>([SECRET])

  beforeAll(async () => {
    as = await startTestAuthorizationServer({ accessTokenTTLSeconds: 3 })
    secrets.add(as.clients.confidential.secret)
    server = createServer()
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    store = new SnapshotStore()
    access = new OngoingAccess({
      issuer: as.issuer,
      client: as.clients.confidential,
      redirectUri: `${base}/auth/callback`,
      scope: 'offline_access api:read',
      secret: SECRET,
      refreshSkewSeconds: 0,
      store,
      logger: (level, message, fields) => logs.push(`${level} ${message} ${JSON.stringify(fields)}`),
    })
    const app = express()
    app.set('trust proxy', true)
    app.use('/auth', ongoingRouter(access))
    app.get('/api/me', requireAccessToken(access), (req, res) => {
      const { userKey, accessToken } = getOngoing(req)
      res.json({ userKey, accessToken })
    })
    server.on('request', app)
  })
  afterAll(async () => {
    server?.closeAllConnections()
    server?.close()
    await as?.close()
  })

  /** Consent through the real pages; returns the browser's cookie header afterwards. */
  async function connect(login: string, returnTo = '/'): Promise<{ cookie: string; location: string }> {
    const consent = await fetch(`${base}/auth/consent?returnTo=${encodeURIComponent(returnTo)}`, {
      redirect: 'manual',
    })
    const cookies = consent.headers.getSetCookie().map((c) => c.split(';')[0]!)
    const callback = await driveConsent(consent.headers.get('location')!, {
      redirectUriPrefix: `${base}/auth/callback`,
      login,
    })
    secrets.add(callback.searchParams.get('code')!)
    const done = await fetch(`${base}${callback.pathname}${callback.search}`, {
      redirect: 'manual',
      headers: { cookie: cookies.join('; ') },
    })
    expect(done.status).toBe(303)
    const userCookie = cookies.find((c) => c.startsWith('ongoing.uid='))!
    return { cookie: userCookie, location: done.headers.get('location')! }
  }

  it.each([
    '//evil.com',
    '///evil.com',
    '/\\evil.com',
    '\\\\evil.com',
    '/%2F%2Fevil.com',
    '/%2f%2fevil.com',
    '/%5Cevil.com',
    '/.//evil.com',
    '/..//evil.com',
    'https://evil.com',
    'http:evil.com',
    'javascript:alert(1)',
    'data:text/html,x',
    '@evil.com',
    '/\t/evil.com',
    '/\n/evil.com',
    ' //evil.com',
    '//evil.com@app.test',
    'https:/\\evil.com',
  ])('returnTo %j ends as a same-origin path after consent', async (returnTo) => {
    const { location } = await connect(`redir-${Math.random().toString(36).slice(2)}`, returnTo)
    expect(location.startsWith('/')).toBe(true)
    expect(location.startsWith('//')).toBe(false)
    expect(new URL(location, base).origin).toBe(base)
  })

  it('two tabs consenting at once: each callback finds its own transaction, both land where they started', async () => {
    const first = await fetch(`${base}/auth/consent?returnTo=/tab-one`, { redirect: 'manual' })
    const uid = first.headers
      .getSetCookie()
      .find((c) => c.startsWith('ongoing.uid='))!
      .split(';')[0]!
    const second = await fetch(`${base}/auth/consent?returnTo=/tab-two`, {
      redirect: 'manual',
      headers: { cookie: uid },
    })
    const jar = [first, second].flatMap((r) => r.headers.getSetCookie().map((c) => c.split(';')[0]!))
    const cookie = [...new Set(jar)].join('; ')
    const callbacks = await Promise.all(
      [first, second].map((r) =>
        driveConsent(r.headers.get('location')!, {
          redirectUriPrefix: `${base}/auth/callback`,
          login: 'two-tabs',
        }),
      ),
    )
    // Finish them in the reverse order, as tabs would.
    const landed: string[] = []
    for (const callback of callbacks.reverse()) {
      const done = await fetch(`${base}${callback.pathname}${callback.search}`, {
        redirect: 'manual',
        headers: { cookie },
      })
      expect(done.status).toBe(303)
      landed.push(done.headers.get('location')!)
    }
    expect(landed).toEqual(['/tab-two', '/tab-one'])
  })

  it('a forged Host / X-Forwarded-Host never changes redirect_uri', async () => {
    for (const headers of <Record<string, string>[]>[
      { host: 'evil.com' },
      { 'x-forwarded-host': 'evil.com', 'x-forwarded-proto': 'https' },
    ]) {
      const response = await rawGet('/auth/consent', headers)
      expect(response.status).toBe(302)
      const location = new URL(response.headers.location as string)
      expect(location.searchParams.get('redirect_uri')).toBe(`${base}/auth/callback`)
    }
  })

  it('a URL over 16 KB, a cookie over 8 KB and a parameter over 4 KB get a fast 4xx and no token call', async () => {
    as.resetStats()
    const before = await store.snapshot()
    const started = Date.now()
    const longUrl = await rawGet(`/auth/callback?state=x&code=${'c'.repeat(17_000)}`, {})
    expect(longUrl.status).toBeGreaterThanOrEqual(400)
    expect(longUrl.status).toBeLessThan(500)
    const bigCookie = await rawGet('/auth/callback?state=abc&code=c', {
      cookie: `ongoing.tx.abc=${'a'.repeat(9_000)}`,
    })
    expect(bigCookie.status).toBe(400)
    const bigParam = await rawGet(`/auth/callback?state=abc&code=${'c'.repeat(5_000)}`, {})
    expect(bigParam.status).toBe(400)
    expect(Date.now() - started).toBeLessThan(1_000)
    expect(as.stats().tokenCalls.total).toBe(0)
    expect(await store.snapshot()).toEqual(before)
  })

  it('error_description with HTML is rendered escaped (never raw) and makes no token call', async () => {
    const consent = await fetch(`${base}/auth/consent`, { redirect: 'manual' })
    const cookies = consent.headers
      .getSetCookie()
      .map((c) => c.split(';')[0]!)
      .join('; ')
    const state = new URL(consent.headers.get('location')!).searchParams.get('state')!
    as.resetStats()
    const evil = '<script>alert(document.cookie)</script>'
    const response = await fetch(
      `${base}/auth/callback?${new URLSearchParams({ error: 'server_error', error_description: evil, state, iss: as.issuer })}`,
      { headers: { cookie: cookies, accept: 'text/html' } },
    )
    expect(response.status).toBe(400)
    expect(await response.text()).not.toContain('<script>')
    expect(as.stats().tokenCalls.total).toBe(0)
  })

  it('POST /auth/refresh from another site is refused, and makes no token call', async () => {
    const { cookie } = await connect('csrf-victim')
    as.resetStats()
    for (const headers of <Record<string, string>[]>[
      { origin: 'https://evil.com' },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
      {},
    ]) {
      const response = await fetch(`${base}/auth/refresh`, {
        method: 'POST',
        headers: { cookie, ...headers },
      })
      expect(response.status).toBe(403)
    }
    expect(as.stats().tokenCalls.total).toBe(0)
  })

  it('a tampered user cookie is no user: 401 JSON, no token call', async () => {
    const { cookie } = await connect('cookie-owner')
    as.resetStats()
    const at = cookie.length - 10
    const tampered = `${cookie.slice(0, at)}${cookie[at] === 'A' ? 'B' : 'A'}${cookie.slice(at + 1)}`
    const response = await fetch(`${base}/api/me`, {
      headers: { cookie: tampered, accept: 'application/json' },
    })
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toMatch(/invalid_token/)
    expect(as.stats().tokenCalls.total).toBe(0)
  })

  it('user B never receives user A’s token: 1,000 concurrent requests for 100 users across an expiry', async () => {
    const users = await Promise.all(Array.from({ length: 100 }, (_, i) => connect(`iso-${i}`)))
    const expected = new Map<string, string>()
    for (const { cookie } of users) {
      const me = (await (await fetch(`${base}/api/me`, { headers: { cookie } })).json()) as {
        userKey: string
        accessToken: string
      }
      expected.set(cookie, me.userKey)
      secrets.add(me.accessToken)
    }
    // Let every access token expire, so the storm refreshes all 100 grants at once.
    await new Promise((resolve) => setTimeout(resolve, 3_100))
    as.resetStats()
    const results = await Promise.all(
      Array.from({ length: 1_000 }, async (_, i) => {
        const { cookie } = users[i % 100]!
        const response = await fetch(`${base}/api/me`, { headers: { cookie } })
        return { cookie, body: (await response.json()) as { userKey: string; accessToken: string } }
      }),
    )
    const tokenOwner = new Map<string, string>()
    for (const { cookie, body } of results) {
      expect(body.userKey).toBe(expected.get(cookie))
      const owner = tokenOwner.get(body.accessToken)
      if (owner !== undefined) expect(owner).toBe(body.userKey)
      tokenOwner.set(body.accessToken, body.userKey)
    }
    expect(new Set(tokenOwner.values()).size).toBe(100)
    expect(tokenOwner.size).toBe(100) // one new token per user, shared by that user's 10 requests
    expect(as.stats().tokenCalls.refresh_token).toBe(100)
  }, 60_000)

  it('no log line holds a token, code, verifier or secret', () => {
    expect(logs.length).toBeGreaterThan(0)
    expectNoLeak(secrets, ...logs)
  })

  async function rawGet(path: string, headers: Record<string, string>) {
    const { request } = await import('node:http')
    const { port } = server.address() as AddressInfo
    return new Promise<{ status: number; headers: Record<string, string | string[] | undefined> }>(
      (resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path, headers }, (res) => {
          res.resume()
          resolve({ status: res.statusCode!, headers: res.headers })
        })
        req.on('error', reject)
        req.end()
      },
    )
  }
})
