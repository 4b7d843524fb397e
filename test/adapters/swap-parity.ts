// One token swap suite for every adapter: each runs it through real HTTP against a real
// authorization server with strict refresh token rotation, as a native app would use it.
import { once } from 'node:events'
import { connect } from 'node:net'
import { OngoingAccess, type OngoingAccessOptions, type TokenSwapOptions } from '@ongoing/core'
import { TokenSwapService } from '@ongoing/core/adapter'
import {
  authorizeAsNativeApp,
  startTestAuthorizationServer,
  type TestAuthorizationServer,
} from '@ongoing/testing'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { freePort } from './parity.js'

/** An app under test, serving `POST /token/swap` and `POST /token/refresh`. */
export interface SwapApp {
  baseUrl: string
  close(): Promise<void>
}

/**
 * Starts an app built the way that framework's users would build it: an `OngoingAccess` made of
 * `accessOptions`, and the adapter's token swap routes under `/token` with `swapOptions`,
 * listening on 127.0.0.1 at the port of `accessOptions.redirectUri`. Proxies are not trusted.
 */
export interface SwapHarness {
  name: string
  /**
   * When a framework body parser reads urlencoded bodies before the routes (Nest's default, or
   * an Express app's `express.urlencoded()`): its limit in bytes. A body over it is that parser's
   * to refuse (413), before the routes run.
   */
  bodyParserLimitBytes?: number
  start(accessOptions: OngoingAccessOptions, swapOptions: TokenSwapOptions): Promise<SwapApp>
}

const SECRET = 'swap suite secret: at least thirty-two characters'
const OTHER_SECRET = 'another secret, never this app’s: thirty-two+ chars'
const FORM = 'application/x-www-form-urlencoded'
/** The native app's redirect URI: loopback, any port (RFC 8252 §7.3). */
const MOBILE_REDIRECT = 'http://127.0.0.1:7777/callback'
/** What the server grants for `offline_access api:read` without `prompt=consent` (oidc-provider drops offline_access). */
const GRANTED_SCOPE = 'api:read'
const KEYS_OF_SWAP = ['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type']

type Fields = Record<string, string>
interface Answer {
  status: number
  headers: Headers
  json: Record<string, unknown>
}

export function runSwapParitySuite(harness: SwapHarness): void {
  describe(`${harness.name}: token swap parity`, () => {
    let as: TestAuthorizationServer
    const running: SwapApp[] = []
    /** Every refresh token the authorization server issued, read from the apps' token calls. */
    const issuedRefreshTokens: string[] = []

    beforeAll(async () => {
      as = await startTestAuthorizationServer({ accessTokenTTLSeconds: 60 })
    })
    afterAll(() => as?.close())
    afterEach(async () => {
      await Promise.all(running.splice(0).map((app) => app.close()))
    })

    const recordingFetch: typeof fetch = async (input, init) => {
      const response = await fetch(input, init)
      const url = input instanceof Request ? input.url : String(input)
      if (url === `${as.issuer}/token` && response.ok) {
        const body = (await response.clone().json()) as { refresh_token?: string }
        if (body.refresh_token !== undefined) issuedRefreshTokens.push(body.refresh_token)
      }
      return response
    }

    function accessOptions(port: number, extra: Partial<OngoingAccessOptions> = {}): OngoingAccessOptions {
      return {
        issuer: as.issuer,
        client: as.clients.confidential,
        redirectUri: `http://127.0.0.1:${port}/auth/callback`,
        scope: 'offline_access api:read',
        secret: SECRET,
        fetch: recordingFetch,
        ...extra,
      }
    }

    async function start(swap: TokenSwapOptions = {}, extra: Partial<OngoingAccessOptions> = {}) {
      const app = await harness.start(accessOptions(await freePort(), extra), {
        redirectUris: [MOBILE_REDIRECT],
        rateLimit: false,
        ...swap,
      })
      running.push(app)
      return app
    }

    /** `POST /token/<route>` with a body, as a native app's HTTP client sends it. */
    async function post(
      app: SwapApp,
      route: string,
      body: Fields | string,
      contentType: string | null = FORM,
      headers: Record<string, string> = {},
    ): Promise<Answer> {
      const text = typeof body === 'string' ? body : new URLSearchParams(body).toString()
      const response = await fetch(`${app.baseUrl}/token/${route}`, {
        method: 'POST',
        headers: contentType === null ? headers : { ...headers, 'content-type': contentType },
        body: new TextEncoder().encode(text), // bytes: fetch adds no content type of its own
      })
      const type = response.headers.get('content-type') ?? ''
      const json = type.startsWith('application/json')
        ? await response.json()
        : { text: await response.text() }
      return { status: response.status, headers: response.headers, json }
    }

    /** What a native app does: PKCE, then the authorization request with the server's client id. */
    async function authorize(login: string) {
      const { code, codeVerifier } = await authorizeAsNativeApp(as.issuer, {
        clientId: as.clients.confidential.id,
        redirectUri: MOBILE_REDIRECT,
        login,
      })
      return { code, code_verifier: codeVerifier }
    }

    async function swapFor(app: SwapApp, login: string): Promise<Answer> {
      const answer = await post(app, 'swap', { ...(await authorize(login)), redirect_uri: MOBILE_REDIRECT })
      expect(answer.status).toBe(200)
      return answer
    }

    async function introspect(token: string) {
      const { id, secret } = as.clients.confidential
      const response = await fetch(`${as.issuer}/token/introspection`, {
        method: 'POST',
        headers: { authorization: `Basic ${btoa(`${id}:${secret}`)}`, 'content-type': FORM },
        body: new URLSearchParams({ token }),
      })
      return (await response.json()) as { active: boolean; client_id?: string; sub?: string }
    }

    function expectNoStoreJSON(answer: Answer) {
      expect(answer.headers.get('content-type')).toMatch(/^application\/json/)
      expect(answer.headers.get('cache-control')).toBe('no-store')
      expect(answer.headers.get('pragma')).toBe('no-cache')
      expect(answer.headers.get('etag')).toBeNull() // no digest of the tokens either
    }

    function expectNoRealRefreshToken(handles: string[]) {
      expect(issuedRefreshTokens.length).toBeGreaterThan(0)
      for (const handle of handles) {
        expect(handle).toMatch(/^[A-Za-z0-9_.~-]+$/) // safe in a form body and a keychain as is
        const decoded = Buffer.from(handle, 'base64url').toString('latin1')
        for (const real of issuedRefreshTokens) {
          expect(handle).not.toBe(real)
          expect(handle).not.toContain(real)
          expect(decoded).not.toContain(real)
        }
      }
    }

    it('swap answers exactly the token response, with a sealed handle for refresh_token', async () => {
      const app = await start()
      const grant = await authorize('mia')
      as.resetStats()
      const answer = await post(app, 'swap', { ...grant, redirect_uri: MOBILE_REDIRECT })
      expect(answer.status).toBe(200)
      expectNoStoreJSON(answer)
      expect(Object.keys(answer.json).sort()).toEqual(KEYS_OF_SWAP)
      expect(answer.json).toMatchObject({ token_type: 'Bearer', scope: GRANTED_SCOPE })
      expect(answer.json.expires_in).toBeGreaterThan(0)
      expect(answer.json.expires_in).toBeLessThanOrEqual(60)
      expect(as.stats().tokenCalls).toMatchObject({ authorization_code: 1, total: 1 })
      expect(await introspect(answer.json.access_token as string)).toMatchObject({
        active: true,
        client_id: as.clients.confidential.id,
        sub: 'mia',
      })
      expectNoRealRefreshToken([answer.json.refresh_token as string])
    })

    it('without redirect_uri in the request, the first of redirectUris is used', async () => {
      const app = await start()
      const answer = await post(app, 'swap', await authorize('noor'))
      expect(answer.status).toBe(200)
      expect(Object.keys(answer.json).sort()).toEqual(KEYS_OF_SWAP)
    })

    it('refresh twice: each answer has a working access token and a new handle, never a real refresh token', async () => {
      const app = await start()
      const swapped = await swapFor(app, 'nina')
      const handles = [swapped.json.refresh_token as string]
      const accessTokens = [swapped.json.access_token as string]
      as.resetStats()
      for (let i = 0; i < 2; i++) {
        const answer = await post(app, 'refresh', { refresh_token: handles.at(-1) as string })
        expect(answer.status).toBe(200)
        expectNoStoreJSON(answer)
        // The server rotated the refresh token, so a new handle comes back.
        expect(Object.keys(answer.json).sort()).toEqual(KEYS_OF_SWAP)
        expect(answer.json).toMatchObject({ token_type: 'Bearer', scope: GRANTED_SCOPE })
        expect(await introspect(answer.json.access_token as string)).toMatchObject({
          active: true,
          sub: 'nina',
        })
        expect(accessTokens).not.toContain(answer.json.access_token)
        expect(handles).not.toContain(answer.json.refresh_token)
        accessTokens.push(answer.json.access_token as string)
        handles.push(answer.json.refresh_token as string)
      }
      expect(as.stats().tokenCalls).toMatchObject({ refresh_token: 2, total: 2 })
      expectNoRealRefreshToken(handles)
    })

    it('after rotation the old handle gets invalid_grant, and the server revokes the whole grant', async () => {
      const app = await start()
      const swapped = await swapFor(app, 'olga')
      const old = swapped.json.refresh_token as string
      const refreshed = await post(app, 'refresh', { refresh_token: old })
      expect(refreshed.status).toBe(200)
      const newest = refreshed.json.refresh_token as string
      const accessToken = refreshed.json.access_token as string
      expect(await introspect(accessToken)).toMatchObject({ active: true })

      as.resetStats()
      const reused = await post(app, 'refresh', { refresh_token: old })
      expect(reused.status).toBe(400)
      expectNoStoreJSON(reused)
      expect(reused.json).toMatchObject({ error: 'invalid_grant' }) // the server's own error
      expect(as.stats()).toMatchObject({ tokenCalls: { refresh_token: 1 }, refreshTokenReuse: 1 })
      expect(as.stats().grantsRevoked).toBeGreaterThanOrEqual(1)

      // Strict rotation: the reuse revoked the grant, so the app's newest handle and its access
      // token die with it. The user has to sign in again.
      expect(await introspect(accessToken)).toMatchObject({ active: false })
      const afterRevocation = await post(app, 'refresh', { refresh_token: newest })
      expect(afterRevocation).toMatchObject({ status: 400, json: { error: 'invalid_grant' } })
    })

    it("passes the server's own error through: a code used twice gets invalid_grant", async () => {
      const app = await start()
      const grant = { ...(await authorize('pia')), redirect_uri: MOBILE_REDIRECT }
      expect((await post(app, 'swap', grant)).status).toBe(200)
      as.resetStats()
      const again = await post(app, 'swap', grant)
      expect(again.status).toBe(400)
      expect(again.json).toMatchObject({ error: 'invalid_grant' })
      expect(as.stats().tokenCalls.authorization_code).toBe(1)
    })

    describe('bad input: 400, and no call reaches the authorization server', () => {
      let app: SwapApp
      let handle: string

      beforeAll(async () => {
        app = await harness.start(accessOptions(await freePort()), {
          redirectUris: [MOBILE_REDIRECT],
          rateLimit: false,
        })
        const swapped = await post(app, 'swap', {
          ...(await authorize('quinn')),
          redirect_uri: MOBILE_REDIRECT,
        })
        expect(swapped.status).toBe(200)
        handle = swapped.json.refresh_token as string
      })
      afterAll(() => app?.close())

      /** A handle sealed by another service: another client id, or a secret this app never had. */
      const sealedBy = (options: Partial<OngoingAccessOptions>) =>
        new TokenSwapService(new OngoingAccess({ ...accessOptions(9), ...options })).sealHandle(
          issuedRefreshTokens.at(-1) as string,
        )
      const flip = (text: string, at: number) =>
        text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1)

      const cases: Array<[string, string, () => Promise<Answer>]> = [
        ['a missing code', 'invalid_request', () => post(app, 'swap', {})],
        ['an empty code', 'invalid_request', () => post(app, 'swap', { code: '' })],
        ['a repeated code', 'invalid_request', () => post(app, 'swap', 'code=a&code=b')],
        ['a JSON body', 'invalid_request', () => post(app, 'swap', '{"code":"x"}', 'application/json')],
        ['no content type', 'invalid_request', () => post(app, 'swap', 'code=x', null)],
        [
          'an unregistered redirect_uri',
          'invalid_request',
          () => post(app, 'swap', { code: 'x', redirect_uri: 'https://evil.example/cb' }),
        ],
        [
          'a malformed code_verifier',
          'invalid_request',
          () => post(app, 'swap', { code: 'x', code_verifier: 'short' }),
        ],
        ['a missing handle', 'invalid_request', () => post(app, 'refresh', {})],
        [
          'a handle in a JSON body',
          'invalid_request',
          () => post(app, 'refresh', JSON.stringify({ refresh_token: handle }), 'application/json'),
        ],
        [
          'a tampered handle',
          'invalid_grant',
          () => post(app, 'refresh', { refresh_token: flip(handle, 20) }),
        ],
        [
          'a handle tampered at its end (the tag)',
          'invalid_grant',
          () => post(app, 'refresh', { refresh_token: flip(handle, handle.length - 2) }),
        ],
        [
          'a truncated handle',
          'invalid_grant',
          () => post(app, 'refresh', { refresh_token: handle.slice(0, -5) }),
        ],
        [
          'a handle sealed for another client',
          'invalid_grant',
          () =>
            post(app, 'refresh', {
              refresh_token: sealedBy({
                client: { id: 'another-client', secret: as.clients.confidential.secret },
              }),
            }),
        ],
        [
          'a handle sealed under an unknown key',
          'invalid_grant',
          () => post(app, 'refresh', { refresh_token: sealedBy({ secret: OTHER_SECRET }) }),
        ],
        [
          'the real refresh token instead of a handle',
          'invalid_grant',
          () => post(app, 'refresh', { refresh_token: issuedRefreshTokens.at(-1) as string }),
        ],
        [
          'an oversize body (16 KB)',
          'invalid_request',
          () => post(app, 'swap', { code: 'x', padding: 'x'.repeat(16 * 1024) }),
        ],
      ]

      it.each(cases)('%s', async (_name, error, call) => {
        as.resetStats()
        const answer = await call()
        expect(answer.status).toBe(400)
        expectNoStoreJSON(answer)
        expect(answer.json).toMatchObject({ error })
        expect(typeof answer.json.error_description).toBe('string')
        expect(as.stats().tokenCalls.total).toBe(0)
      })

      const big = { refresh_token: 'x', padding: 'x'.repeat(100 * 1024) }
      const parserLimit = harness.bodyParserLimitBytes
      const refusedByParser =
        parserLimit !== undefined && new URLSearchParams(big).toString().length > parserLimit
      it(`an oversize body (100 KB): ${refusedByParser ? "413 from the framework's body parser" : '400'}`, async () => {
        as.resetStats()
        const answer = await post(app, 'refresh', big)
        if (refusedByParser) expect(answer.status).toBe(413)
        else {
          expect(answer.status).toBe(400)
          expectNoStoreJSON(answer)
          expect(answer.json).toMatchObject({ error: 'invalid_request' })
        }
        expect(as.stats().tokenCalls.total).toBe(0)
        // The connection was drained or closed cleanly: the next request works.
        expect((await post(app, 'swap', {})).status).toBe(400)
      })

      // Behind a body parser, the parser reads the body, by its own rules: the case is not ours there.
      if (parserLimit === undefined)
        it('a body that never ends is answered at the limit; the rest is drained within a bound, then cut', async () => {
          as.resetStats()
          const { sentWhenAnswered, sentWhenClosed, response } = await sendEndlessBody(app.baseUrl)
          expect(response).toMatch(/^HTTP\/1\.1 400 /)
          expect(response).toMatch(/"error":"invalid_request"/)
          // Answered without waiting for the end: after the limit, plus what socket buffers held.
          expect(sentWhenAnswered).toBeLessThan(8 * 1024 * 1024)
          // Drained at most 1 MiB past the limit, then cut: never read forever.
          expect(sentWhenClosed).toBeDefined()
          expect(sentWhenClosed).toBeLessThan(32 * 1024 * 1024)
          expect(as.stats().tokenCalls.total).toBe(0)
        })

      it('other methods and paths pass on to the app', async () => {
        as.resetStats()
        expect((await fetch(`${app.baseUrl}/token/swap`)).status).toBe(404)
        expect((await fetch(`${app.baseUrl}/token/refresh`)).status).toBe(404)
        expect((await post(app, 'other', { code: 'x' })).status).toBe(404)
        expect(as.stats().tokenCalls.total).toBe(0)
      })
    })

    it('a handle past its maximum age gets invalid_grant without a call', async () => {
      const app = await start({ maxHandleAgeSeconds: 60 })
      const handle = (await swapFor(app, 'rosa')).json.refresh_token as string
      vi.useFakeTimers({ toFake: ['Date'] })
      try {
        vi.setSystemTime(Date.now() + 61_000)
        as.resetStats()
        const aged = await post(app, 'refresh', { refresh_token: handle })
        expect(aged).toMatchObject({ status: 400, json: { error: 'invalid_grant' } })
        expect(as.stats().tokenCalls.total).toBe(0)
      } finally {
        vi.useRealTimers()
      }
      // The same handle, young enough, still works.
      expect((await post(app, 'refresh', { refresh_token: handle })).status).toBe(200)
    })

    it('secret rotation: handles under the retired key are refused without a call; later ones work', async () => {
      const before = await start()
      const oldHandle = (await swapFor(before, 'sam')).json.refresh_token as string
      // Rotating: the new secret first seals; the old one still opens.
      const during = await start({}, { secret: [OTHER_SECRET, SECRET] })
      const rotated = await post(during, 'refresh', { refresh_token: oldHandle })
      expect(rotated.status).toBe(200)
      const newHandle = rotated.json.refresh_token as string
      // Retired: only the new secret.
      const after = await start({}, { secret: OTHER_SECRET })
      as.resetStats()
      const retired = await post(after, 'refresh', { refresh_token: oldHandle })
      expect(retired).toMatchObject({ status: 400, json: { error: 'invalid_grant' } })
      expect(as.stats().tokenCalls.total).toBe(0)
      // Had the old handle reached the server, the reuse would have revoked the grant.
      expect((await post(after, 'refresh', { refresh_token: newHandle })).status).toBe(200)
    })

    it('rate limits by client address (the socket, not X-Forwarded-For) with 429 and Retry-After', async () => {
      const seen: string[] = []
      const app = await start({
        rateLimit: (address) => {
          seen.push(address)
          return seen.length <= 2
        },
      })
      as.resetStats()
      const spoofed = { 'x-forwarded-for': '203.0.113.9' }
      expect((await post(app, 'swap', {}, FORM, spoofed)).status).toBe(400)
      expect((await post(app, 'refresh', {}, FORM, spoofed)).status).toBe(400)
      const limited = await post(app, 'swap', { code: 'x' }, FORM, spoofed)
      expect(limited).toMatchObject({ status: 429, json: { error: 'slow_down' } })
      expect(limited.headers.get('retry-after')).toBe('60')
      expectNoStoreJSON(limited)
      expect(seen).toHaveLength(3)
      for (const address of seen) expect(address).toMatch(/^(::ffff:)?127\.0\.0\.1$/)
      expect(as.stats().tokenCalls.total).toBe(0)
    })
  })
}

/**
 * `POST /token/swap` with a chunked form body that never ends, until the server closes the
 * connection or 64 MiB went out. Counts what was sent when the answer came, and when it closed.
 */
async function sendEndlessBody(baseUrl: string) {
  const socket = connect(Number(new URL(baseUrl).port), '127.0.0.1')
  await once(socket, 'connect')
  let response = ''
  let sent = 0
  let sentWhenAnswered: number | undefined
  let sentWhenClosed: number | undefined
  socket.setEncoding('latin1').on('data', (text: string) => {
    response += text
    if (sentWhenAnswered === undefined && response.includes('\r\n\r\n')) {
      sentWhenAnswered = sent
    }
  })
  socket.on('error', () => {}) // a reset is how a cut connection may look from here
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      sentWhenClosed = sent
      resolve()
    }),
  )
  socket.write(`POST /token/swap HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${FORM}\r\n`)
  socket.write('Transfer-Encoding: chunked\r\n\r\n5\r\ncode=\r\n')
  const chunk = 'x'.repeat(16 * 1024)
  const frame = `${chunk.length.toString(16)}\r\n${chunk}\r\n`
  while (sentWhenClosed === undefined && sent < 64 * 1024 * 1024) {
    const flushed = socket.write(frame)
    sent += chunk.length
    const drained = flushed
      ? new Promise((resolve) => setImmediate(resolve)) // let the answer in
      : new Promise((resolve) => socket.once('drain', resolve))
    await Promise.race([drained, closed])
  }
  socket.destroy()
  return { sentWhenAnswered: sentWhenAnswered ?? Number.POSITIVE_INFINITY, sentWhenClosed, response }
}
