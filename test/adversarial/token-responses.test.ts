// The authorization server answers the token endpoint with something malformed or hostile. Through
// HTTP: the app answers 502, stores nothing (or keeps what it had), and echoes no part of the body.
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { OngoingAccess } from '@ongoing/core'
import { getOngoing, ongoingRouter, requireAccessToken } from '@ongoing/express'
import { driveConsent, startTestAuthorizationServer, type TestAuthorizationServer } from '@ongoing/testing'
import express from 'express'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { advanceClock } from '../core/real-as.js'
import { expectNoLeak, SnapshotStore } from './harness.js'

const SECRET = 'adversarial token responses secret 0123456789'
const LEAKY = 'leaky-token-material-0123456789'

type Answer = () => Response
const answers: Array<[string, Answer]> = [
  [
    'an HTML page',
    () => new Response(`<html>${LEAKY}</html>`, { status: 200, headers: { 'content-type': 'text/html' } }),
  ],
  ['truncated JSON', () => new Response(`{"access_token":"${LEAKY}","tok`, { status: 200 })],
  ['null', () => new Response('null', { status: 200 })],
  ['an array', () => Response.json([{ access_token: LEAKY }])],
  ['no access_token', () => Response.json({ token_type: 'Bearer', refresh_token: LEAKY })],
  ['no token_type', () => Response.json({ access_token: LEAKY })],
  [
    'a non-numeric expires_in',
    () => Response.json({ access_token: LEAKY, token_type: 'Bearer', expires_in: 'soon' }),
  ],
  [
    'a 200 carrying error',
    () => Response.json({ error: 'server_error', access_token: LEAKY, token_type: 'Bearer' }),
  ],
  [
    'a redirect',
    () => new Response(null, { status: 307, headers: { location: `https://evil.test/?t=${LEAKY}` } }),
  ],
  [
    'a 10 MB body',
    () => new Response(`{"access_token":"${LEAKY}","x":"${'x'.repeat(10 * 1024 * 1024)}"}`, { status: 200 }),
  ],
  [
    'an unbounded body',
    () =>
      new Response(
        new ReadableStream({ pull: (c) => c.enqueue(new TextEncoder().encode(LEAKY.repeat(1000))) }),
        { status: 200 },
      ),
  ],
  ['a 500 with a body', () => new Response(`internal error ${LEAKY}`, { status: 500 })],
]

describe('adversarial: malformed token responses through HTTP (Express)', () => {
  let as: TestAuthorizationServer
  let server: Server
  let base: string
  let store: SnapshotStore
  let hostile: Answer | undefined
  let realTokenCalls = 0
  const logs: string[] = []

  beforeAll(async () => {
    as = await startTestAuthorizationServer({ accessTokenTTLSeconds: 1 })
    server = createServer()
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    store = new SnapshotStore()
    const access = new OngoingAccess({
      issuer: as.issuer,
      client: as.clients.confidential,
      redirectUri: `${base}/auth/callback`,
      scope: 'offline_access api:read',
      secret: SECRET,
      store,
      refreshSkewSeconds: 0,
      retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
      logger: (level, message, fields) => logs.push(`${level} ${message} ${JSON.stringify(fields)}`),
      fetch: async (input, init) => {
        if (String(input).endsWith('/token') && hostile !== undefined) return hostile()
        if (String(input).endsWith('/token')) realTokenCalls++
        return fetch(input, init)
      },
    })
    const app = express()
    app.use('/auth', ongoingRouter(access))
    app.get('/api/me', requireAccessToken(access), (req, res) =>
      res.json({ ok: true, expiresAt: getOngoing(req).expiresAt }),
    )
    server.on('request', app)
  })
  afterAll(async () => {
    server?.closeAllConnections()
    server?.close()
    await as?.close()
  })

  async function startConsent() {
    const consent = await fetch(`${base}/auth/consent`, { redirect: 'manual' })
    const cookie = consent.headers
      .getSetCookie()
      .map((c) => c.split(';')[0]!)
      .join('; ')
    const callback = await driveConsent(consent.headers.get('location')!, {
      redirectUriPrefix: `${base}/auth/callback`,
      login: 'victim',
    })
    return { cookie, callback }
  }

  it.each(answers)(
    'at the code exchange: %s → 502, nothing stored, nothing echoed',
    async (_name, answer) => {
      const { cookie, callback } = await startConsent()
      const before = await store.snapshot()
      hostile = answer
      const response = await fetch(`${base}${callback.pathname}${callback.search}`, {
        headers: { cookie, accept: 'application/json' },
      })
      hostile = undefined
      expect(response.status).toBe(502)
      const body = await response.text()
      expect(body).not.toContain(LEAKY)
      expect(body).not.toContain(callback.searchParams.get('code')!)
      expect(await store.snapshot()).toEqual(before)
      expectNoLeak([LEAKY, callback.searchParams.get('code')!], ...logs)
    },
  )

  it.each(answers)(
    'at refresh: %s → 502, the stored grant is kept and works afterwards',
    async (_name, answer) => {
      const { cookie, callback } = await startConsent()
      const done = await fetch(`${base}${callback.pathname}${callback.search}`, {
        headers: { cookie },
        redirect: 'manual',
      })
      const userCookie = [cookie, ...done.headers.getSetCookie().map((c) => c.split(';')[0]!)].join('; ')
      await new Promise((resolve) => setTimeout(resolve, 1_100))
      const before = await store.snapshot()
      hostile = answer
      const response = await fetch(`${base}/api/me`, {
        headers: { cookie: userCookie, accept: 'application/json' },
      })
      hostile = undefined
      expect(response.status).toBe(502)
      expect(await response.text()).not.toContain(LEAKY)
      // The grant is kept (with the failure recorded, so no process retries at once).
      const after = await store.snapshot()
      expect(Object.keys(after)).toEqual(Object.keys(before))
      for (const value of Object.values(after)) expect(value).toEqual(expect.any(String))
      const callsBefore = realTokenCalls
      // Once the wait after an unknown outcome is over, the same refresh token is presented again.
      const restore = advanceClock(5_100)
      let recovered: Response
      try {
        recovered = await fetch(`${base}/api/me`, {
          headers: { cookie: userCookie, accept: 'application/json' },
        })
      } finally {
        restore()
      }
      expect(recovered.status).toBe(200)
      expect(realTokenCalls - callsBefore).toBe(1)
      expectNoLeak([LEAKY], ...logs)
    },
  )
})
