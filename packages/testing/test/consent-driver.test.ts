import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { driveConsent, startTestAuthorizationServer, type TestAuthorizationServer } from '../src/index.js'
import { buildAuthorizationRequest, REDIRECT_URI } from './oauth-client.js'

describe('driveConsent', () => {
  let as: TestAuthorizationServer
  let other: Server
  let otherOrigin: string

  beforeAll(async () => {
    as = await startTestAuthorizationServer()
    // A server that is not an authorization server: a page without forms, and a redirect loop.
    other = createServer((req, res) => {
      if (req.url === '/loop') {
        res.writeHead(302, { location: '/loop' }).end()
      } else {
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>hello</body></html>')
      }
    })
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve))
    otherOrigin = `http://127.0.0.1:${(other.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    await as.close()
    other.closeAllConnections()
    await new Promise((resolve) => other.close(resolve))
  })

  it('signs in with the given login and goes through with the given fetch', async () => {
    const fetchSpy = vi.fn(globalThis.fetch)
    const request = buildAuthorizationRequest(as, as.clients.public.id)
    const callback = await driveConsent(request.url.href, {
      redirectUriPrefix: REDIRECT_URI,
      login: 'heidi',
      fetch: fetchSpy,
    })
    expect(callback.searchParams.get('code')).toBeTruthy()
    // authorize → login page → login POST → resume → consent page → consent POST → resume
    expect(fetchSpy.mock.calls.length).toBeGreaterThanOrEqual(5)
    expect(fetchSpy.mock.calls.every(([, init]) => init?.redirect === 'manual')).toBe(true)
    const posts = fetchSpy.mock.calls.filter(([, init]) => init?.method === 'POST')
    expect(posts).toHaveLength(2)
    expect(new URLSearchParams(String(posts[0]?.[1]?.body)).get('login')).toBe('heidi')
  })

  it('does not request the callback URL', async () => {
    const fetchSpy = vi.fn(globalThis.fetch)
    const request = buildAuthorizationRequest(as, as.clients.public.id)
    await driveConsent(request.url, { redirectUriPrefix: REDIRECT_URI, fetch: fetchSpy })
    expect(fetchSpy.mock.calls.some(([url]) => String(url).startsWith(REDIRECT_URI))).toBe(false)
  })

  it('throws on a page that is neither a login nor a consent form', async () => {
    await expect(driveConsent(`${otherOrigin}/page`, { redirectUriPrefix: REDIRECT_URI })).rejects.toThrow(
      /neither a login nor a consent form/,
    )
  })

  it('gives up after a bounded number of redirects', async () => {
    await expect(driveConsent(`${otherOrigin}/loop`, { redirectUriPrefix: REDIRECT_URI })).rejects.toThrow(
      /after 20 steps/,
    )
  })

  it('throws with the error of an error page, such as an unknown client', async () => {
    const request = buildAuthorizationRequest(as, 'no-such-client')
    await expect(driveConsent(request.url, { redirectUriPrefix: REDIRECT_URI })).rejects.toThrow(
      /400.*invalid_client/,
    )
  })

  it('validates its options', async () => {
    await expect(driveConsent(as.url, { redirectUriPrefix: '' })).rejects.toThrow(TypeError)
    await expect(driveConsent(as.url, { redirectUriPrefix: REDIRECT_URI, login: '' })).rejects.toThrow(
      TypeError,
    )
  })
})
