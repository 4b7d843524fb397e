import { afterEach, describe, expect, it, vi } from 'vitest'
import { OngoingRoutes, setCookiesOf, toHttpError, type WebRequest } from '../src/adapter.js'
import { MemoryTokenStore } from '../src/index.js'
import { findCookiesByPrefix } from '../src/web/cookies.js'
import { consent, createAccess, createFakeAS, type FakeAS, ISSUER } from './fake-as.js'

function webRequest(url: string, cookie?: string): WebRequest {
  return { method: 'GET', url, header: (name) => (name === 'cookie' ? cookie : undefined) }
}

/** The `name=value` pairs a response sets (deletions left out), as a browser would send them back. */
function cookieHeaderAfter(previous: string, setCookies: string[]): string {
  const jar = new Map(
    previous === '' ? [] : previous.split('; ').map((pair) => pair.split('=', 2) as [string, string]),
  )
  for (const line of setCookies) {
    const [pair = ''] = line.split(';')
    const eq = pair.indexOf('=')
    if (/Max-Age=0/.test(line)) jar.delete(pair.slice(0, eq))
    else jar.set(pair.slice(0, eq), pair.slice(eq + 1))
  }
  return [...jar].map(([name, value]) => `${name}=${value}`).join('; ')
}

const txLines = (cookies: string[]) => cookies.filter((c) => c.startsWith('ongoing.tx.'))

describe('OngoingRoutes transaction cookies', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it.each([
    ['https://app.test/auth/callback', undefined, '/auth'],
    ['https://app.test/a/b/callback', undefined, '/a/b'],
    ['https://app.test/a/b/cb', '/a/x/consent', '/a'],
    ['https://app.test/oauth/cb', '/connect', '/'],
    ['https://app.test/callback', undefined, '/'],
  ])('redirectUri %s with consentPath %s: Path=%s', (redirectUri, consentPath, expected) => {
    const routes = new OngoingRoutes(createAccess(createFakeAS(), { redirectUri }), { consentPath })
    expect(routes.transactionCookiePath).toBe(expected)
  })

  it('the consent route clears expired and unreadable transaction cookies, and keeps the two newest live ones', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const routes = new OngoingRoutes(createAccess(createFakeAS(), { transactionTtlSeconds: 60 }))
    let header = 'ongoing.tx.forged=not-sealed'
    const names: string[] = []
    for (let i = 0; i < 4; i++) {
      const response = await routes.consent(webRequest('/auth/consent', header), 'alice')
      const set = txLines(response.cookies).find((c) => !/Max-Age=0/.test(c)) as string
      names.push(set.slice(0, set.indexOf('=')))
      header = cookieHeaderAfter(header, response.cookies)
      vi.setSystemTime(Date.now() + 1_000)
    }
    expect(header.split('; ').map((pair) => pair.split('=')[0])).toEqual(names.slice(1))
    // A minute later all three have expired: the next consent clears them.
    vi.setSystemTime(Date.now() + 60_000)
    const later = await routes.consent(webRequest('/auth/consent', header), 'alice')
    expect(txLines(later.cookies).filter((c) => /Max-Age=0/.test(c))).toHaveLength(3)
  })

  it('a returnTo over 1024 characters becomes the default; one of 1024 is kept', async () => {
    const fake = createFakeAS()
    const routes = new OngoingRoutes(createAccess(fake), { defaultReturnTo: '/home' })
    for (const [returnTo, expected] of [
      [`/${'a'.repeat(1023)}`, `/${'a'.repeat(1023)}`],
      [`/${'a'.repeat(1024)}`, '/home'],
    ]) {
      const consent = await routes.consent(webRequest(`/auth/consent?returnTo=${returnTo}`), 'alice')
      const state = new URL(consent.headers.location as string).searchParams.get('state') as string
      const done = await routes.callback(
        webRequest(
          `/auth/callback?code=c&state=${state}&iss=${encodeURIComponent(ISSUER)}`,
          cookieHeaderAfter('', consent.cookies),
        ),
      )
      expect(done.headers.location).toBe(expected)
    }
  })

  it('a failed callback carries the cookies that clear its transaction, through toHttpError too', async () => {
    const routes = new OngoingRoutes(createAccess(createFakeAS()))
    const consent = await routes.consent(webRequest('/auth/consent'), 'alice')
    const state = new URL(consent.headers.location as string).searchParams.get('state') as string
    const error = await routes
      .callback(
        webRequest(
          `/auth/callback?error=access_denied&state=${state}&iss=${encodeURIComponent(ISSUER)}`,
          cookieHeaderAfter('', consent.cookies),
        ),
      )
      .catch((err: unknown) => err)
    expect(error).toMatchObject({ code: 'ERR_CONSENT_DENIED' })
    const cleared = [...setCookiesOf(error)]
    expect(cleared).toHaveLength(1)
    expect(cleared[0]).toMatch(/^ongoing\.tx\.[A-Za-z0-9_-]+=; Path=\/auth; Max-Age=0;/)
    expect((toHttpError(error) as { headers: Record<string, unknown> }).headers['set-cookie']).toEqual(
      cleared,
    )
    expect(setCookiesOf(new Error('other'))).toEqual([])
  })
})

describe('findCookiesByPrefix', () => {
  it('finds every cookie of a prefix, in a header over 8 KB too', () => {
    const header = `app=${'x'.repeat(9_000)}; ongoing.tx.a=1; x-ongoing.tx.b=2; c=ongoing.tx.c=3; ongoing.tx.d= 4 `
    expect(findCookiesByPrefix(header, 'ongoing.tx.')).toEqual([
      ['ongoing.tx.a', '1'],
      ['ongoing.tx.d', '4'],
    ])
    expect(findCookiesByPrefix(undefined, 'ongoing.tx.')).toEqual([])
    expect(findCookiesByPrefix(`ongoing.tx.a=1; big=${'x'.repeat(70_000)}`, 'ongoing.tx.')).toEqual([])
  })
})

describe('OngoingRoutes disconnect', () => {
  const ORIGIN = 'https://app.test'
  function post(url: string, headers: Record<string, string>): WebRequest {
    return { method: 'POST', url, header: (name) => headers[name] }
  }

  /** The fake server, with its revocation endpoint answering `status`. */
  function failingRevocation(status: number): FakeAS {
    const fake = createFakeAS()
    const answer = fake.fetch
    fake.fetch = async (input, init) => {
      const url = new URL(new Request(input, init).url)
      if (url.pathname !== '/revoke') return answer(input, init)
      fake.calls.revocation++
      return new Response(JSON.stringify({ error: 'temporarily_unavailable' }), { status })
    }
    return fake
  }

  it("revokes the app's user key, and leaves the router's cookie alone when the app gives the key", async () => {
    const fake = createFakeAS()
    const access = createAccess(fake)
    await consent(access, 'alice')
    await consent(access, 'bob')
    const routes = new OngoingRoutes(access)
    const answer = await routes.disconnect(
      post('/auth/disconnect', { origin: ORIGIN, cookie: 'ongoing.uid=someone-else' }),
      'alice',
    )
    expect(answer).toEqual({
      status: 200,
      headers: { 'cache-control': 'no-store' },
      cookies: [],
      json: { disconnected: true, revokedAtServer: true },
    })
    expect(fake.calls.revocation).toBe(1)
    expect(await access.inspect('alice')).toBeUndefined()
    expect(await access.inspect('bob')).toMatchObject({ status: 'active' })
  })

  it('a revocation the server refuses still forgets the grant here, and says so: revokedAtServer false', async () => {
    const fake = failingRevocation(503)
    const access = createAccess(fake, { logger: false })
    await consent(access, 'alice')
    const answer = await new OngoingRoutes(access).disconnect(
      post('/auth/disconnect', { origin: ORIGIN }),
      'alice',
    )
    expect(answer.status).toBe(200)
    expect(answer.json).toEqual({ disconnected: true, revokedAtServer: false })
    expect(fake.calls.revocation).toBe(1)
    expect(await access.inspect('alice')).toBeUndefined()
    await expect(access.getAccessToken('alice')).rejects.toMatchObject({
      code: 'ERR_CONSENT_REQUIRED',
      reason: 'no_grant',
    })
  })

  it('a store that cannot delete the grant is an ERR_STORE (503), not a disconnect', async () => {
    class NoDeletes extends MemoryTokenStore {
      override async delete(): Promise<boolean> {
        throw new Error('store down')
      }
    }
    const fake = createFakeAS()
    const access = createAccess(fake, { store: new NoDeletes(), logger: false })
    await consent(access, 'alice')
    const error = await new OngoingRoutes(access)
      .disconnect(post('/auth/disconnect', { origin: ORIGIN }), 'alice')
      .catch((err: unknown) => err)
    expect(error).toMatchObject({ code: 'ERR_STORE' })
    expect(toHttpError(error)).toMatchObject({ status: 503 })
  })

  it('without a user: a 200 that does nothing, and a form post still lands on defaultReturnTo', async () => {
    const fake = createFakeAS()
    const routes = new OngoingRoutes(createAccess(fake), { defaultReturnTo: '/settings' })
    const json = await routes.disconnect(post('/auth/disconnect', { origin: ORIGIN }), undefined)
    expect(json).toMatchObject({
      status: 200,
      cookies: [],
      json: { disconnected: false, revokedAtServer: false },
    })
    // A cookie that no longer opens (another secret) names no grant: cleared, nothing revoked.
    const form = await routes.disconnect(
      post('/auth/disconnect', {
        'sec-fetch-site': 'same-origin',
        accept: 'text/html',
        cookie: 'ongoing.uid=stale',
      }),
      undefined,
    )
    expect(form).toEqual({
      status: 303,
      headers: { location: '/settings', 'cache-control': 'no-store' },
      cookies: ['ongoing.uid=; Path=/; Max-Age=0; SameSite=Lax; HttpOnly; Secure'],
    })
    expect(fake.calls.revocation).toBe(0)
  })
})

describe('OngoingRoutes user-key cookie under a rotated secret', () => {
  const OLD = 'routes-test-old-secret-of-at-least-32-chars'
  const NEW = 'routes-test-new-secret-of-at-least-32-chars'
  const ORIGIN = 'https://app.test'
  const uidLine = /^ongoing\.uid=([A-Za-z0-9_-]+); Path=\/; Max-Age=34560000; SameSite=Lax; HttpOnly; Secure$/
  const refreshRequest = (cookie: string): WebRequest => ({
    method: 'POST',
    url: '/auth/refresh',
    header: (name) => ({ origin: ORIGIN, cookie })[name],
  })

  it('is sealed again under the current secret, once, by the lookup and the consent and refresh routes; the new cookie outlives the old secret', async () => {
    const fake = createFakeAS()
    const store = new MemoryTokenStore()
    // Consent under the old secret: the consent route makes the user key and its cookie.
    const before = createAccess(fake, { secret: [OLD], store })
    const started = await new OngoingRoutes(before).consent(webRequest('/auth/consent'), undefined)
    const consentLine = started.cookies.find((c) => c.startsWith('ongoing.uid=')) as string
    expect(consentLine).toMatch(uidLine)
    const oldHeader = `theme=dark; ${consentLine.split(';')[0]}`
    const userKey = new OngoingRoutes(before).userKeyFromCookieHeader(oldHeader) as string
    expect(userKey).toMatch(/^[A-Za-z0-9_-]{16,}$/)
    expect(new OngoingRoutes(before).userKeyCookieFromHeader(oldHeader)).toEqual({
      sealed: expect.any(String),
      userKey,
      renewal: undefined,
    })
    await consent(before, userKey)
    before.close()

    // The new secret first, the old one still listed.
    const during = createAccess(fake, { secret: [NEW, OLD], store })
    const routes = new OngoingRoutes(during)
    const open = vi.spyOn(during.sealer, 'open')
    const seal = vi.spyOn(during.sealer, 'seal')
    const cookie = routes.userKeyCookieFromHeader(oldHeader)
    expect(cookie?.userKey).toBe(userKey)
    const renewal = cookie?.renewal as string
    expect(renewal).toMatch(uidLine)
    // Same name and attributes as the consent route's line; another value.
    const attributes = (line: string) => line.slice(line.indexOf(';'))
    expect(attributes(renewal)).toBe(attributes(consentLine))
    expect(attributes(renewal)).toBe('; Path=/; Max-Age=34560000; SameSite=Lax; HttpOnly; Secure')
    expect(renewal).not.toBe(consentLine)
    // Cached: the same answer again, opened and sealed once.
    expect(routes.userKeyCookieFromHeader(oldHeader)).toBe(cookie)
    expect(routes.userKeyFromCookieHeader(oldHeader)).toBe(userKey)
    expect(open).toHaveBeenCalledTimes(1)
    expect(seal).toHaveBeenCalledTimes(1)
    const newHeader = renewal.split(';')[0] as string
    expect(
      during.sealer.isSealedUnderCurrentKey('user-key-cookie', newHeader.slice('ongoing.uid='.length)),
    ).toBe(true)
    // The renewed cookie is under the current secret: no renewal.
    expect(routes.userKeyCookieFromHeader(newHeader)).toEqual({
      sealed: expect.any(String),
      userKey,
      renewal: undefined,
    })

    // The consent route re-seals it too, and keeps the user key.
    const again = await routes.consent(webRequest('/auth/consent', oldHeader), undefined)
    expect(again.cookies.filter((c) => c.startsWith('ongoing.uid='))).toEqual([renewal])
    expect(again.cookies.filter((c) => c.startsWith('ongoing.uid=')).length).toBe(1)
    const fresh = await routes.consent(webRequest('/auth/consent', newHeader), undefined)
    expect(fresh.cookies.filter((c) => c.startsWith('ongoing.uid='))).toEqual([])
    // So does POST refresh, which also writes the grant under the new secret.
    const refreshed = await routes.refresh(refreshRequest(oldHeader), undefined)
    expect(refreshed).toMatchObject({ status: 200, cookies: [renewal], json: { refreshed: true } })
    expect(fake.calls.refresh_token).toBe(1)
    const quiet = await routes.refresh(refreshRequest(newHeader), undefined)
    expect(quiet).toMatchObject({ status: 200, cookies: [] })
    // An app-given user key: the cookie is not read, nothing is renewed.
    expect((await routes.refresh(refreshRequest(oldHeader), userKey)).cookies).toEqual([])
    during.close()

    // The old secret dropped: the renewed cookie still finds the grant, the old one finds nobody.
    const after = createAccess(fake, { secret: [NEW], store })
    const afterRoutes = new OngoingRoutes(after)
    expect(afterRoutes.userKeyCookieFromHeader(newHeader)).toMatchObject({ userKey, renewal: undefined })
    const state = await afterRoutes.requestState(afterRoutes.userKeyFromCookieHeader(newHeader))
    expect(state.userKey).toBe(userKey)
    expect(state.accessToken).toBe((await after.getAccessToken(userKey)).value)
    expect(afterRoutes.userKeyCookieFromHeader(oldHeader)).toBeUndefined()
    await expect(
      afterRoutes.requestState(afterRoutes.userKeyFromCookieHeader(oldHeader)),
    ).rejects.toMatchObject({
      code: 'ERR_CONSENT_REQUIRED',
      reason: 'no_grant',
    })
    after.close()
  })
})
