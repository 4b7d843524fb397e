import { OngoingAccess } from '@ongoing/core'
import { TokenSwapService } from '@ongoing/core/adapter'
import {
  authorizeAsNativeApp,
  startTestAuthorizationServer,
  type TestAuthorizationServer,
} from '@ongoing/testing'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { APP_SECRET, accessFor, introspect, introspection, REDIRECT_URI } from './real-as.js'

const FORM = 'application/x-www-form-urlencoded'

const MOBILE_REDIRECT = 'http://127.0.0.1:7777/callback'

/** What a native app does: PKCE + the authorization request with the server's client id. */
async function mobileAuthorization(as: TestAuthorizationServer, login: string) {
  const { code, codeVerifier } = await authorizeAsNativeApp(as.issuer, {
    clientId: as.clients.confidential.id,
    redirectUri: MOBILE_REDIRECT,
    login,
  })
  return { code, verifier: codeVerifier }
}

const form = (fields: Record<string, string>) => ({
  contentType: FORM,
  body: new URLSearchParams(fields).toString(),
  clientAddress: '127.0.0.1',
})

describe('token swap service against the real authorization server (strict rotation)', () => {
  let as: TestAuthorizationServer
  let access: OngoingAccess
  let swap: TokenSwapService

  beforeAll(async () => {
    as = await startTestAuthorizationServer({ accessTokenTTLSeconds: 60 })
    access = accessFor(as)
    swap = new TokenSwapService(access, { redirectUris: [MOBILE_REDIRECT], rateLimit: false })
  })
  afterAll(async () => {
    await as?.close()
  })

  it('swap, then refresh twice: working tokens, handles never contain the refresh token, the old handle dies', async () => {
    const { code, verifier } = await mobileAuthorization(as, 'mobile-1')
    const seenRefreshTokens: string[] = []
    const spying = new OngoingAccess({
      issuer: as.issuer,
      client: as.clients.confidential,
      redirectUri: REDIRECT_URI,
      scope: '',
      secret: APP_SECRET,
      fetch: async (input, init) => {
        const response = await fetch(input, init)
        if (String(input).endsWith('/token')) {
          const body = (await response.clone().json()) as { refresh_token?: string }
          if (body.refresh_token) seenRefreshTokens.push(body.refresh_token)
        }
        return response
      },
    })
    const service = new TokenSwapService(spying, { redirectUris: [MOBILE_REDIRECT], rateLimit: false })
    as.resetStats()

    const swapped = await service.swap(form({ code, code_verifier: verifier, redirect_uri: MOBILE_REDIRECT }))
    expect(swapped.status).toBe(200)
    expect(swapped.headers['cache-control']).toBe('no-store')
    expect(Object.keys(swapped.json).sort()).toEqual([
      'access_token',
      'expires_in',
      'refresh_token',
      'scope',
      'token_type',
    ])
    expect(await introspect(as, swapped.json.access_token as string)).toBe(true)

    const handles = [swapped.json.refresh_token as string]
    for (let i = 0; i < 2; i++) {
      const refreshed = await service.refresh(form({ refresh_token: handles.at(-1)! }))
      expect(refreshed.status).toBe(200)
      expect(await introspect(as, refreshed.json.access_token as string)).toBe(true)
      expect(typeof refreshed.json.refresh_token).toBe('string') // rotated → a new handle
      handles.push(refreshed.json.refresh_token as string)
    }
    expect(as.stats().tokenCalls).toMatchObject({ authorization_code: 1, refresh_token: 2 })
    expect(seenRefreshTokens).toHaveLength(3)
    for (const handle of handles) {
      for (const real of seenRefreshTokens) {
        expect(handle).not.toBe(real)
        expect(handle).not.toContain(real)
        expect(Buffer.from(handle, 'base64url').toString('latin1')).not.toContain(real)
      }
    }

    // The newest handle works; the old one gets invalid_grant — and, under strict rotation, the
    // authorization server then revokes the whole grant, so the newest handle dies too.
    const old = await service.refresh(form({ refresh_token: handles[0]! }))
    expect(old).toMatchObject({ status: 400, json: { error: 'invalid_grant' } })
    expect(as.stats().grantsRevoked).toBeGreaterThanOrEqual(1)
    const newest = await service.refresh(form({ refresh_token: handles.at(-1)! }))
    expect(newest).toMatchObject({ status: 400, json: { error: 'invalid_grant' } })
  })

  it('with dpop on the access, the swap still hands the app bearer tokens it can use (the app holds no key of ours)', async () => {
    const { code, verifier } = await mobileAuthorization(as, 'mobile-dpop')
    const service = new TokenSwapService(accessFor(as, { dpop: true }), {
      redirectUris: [MOBILE_REDIRECT],
      rateLimit: false,
    })
    const swapped = await service.swap(form({ code, code_verifier: verifier, redirect_uri: MOBILE_REDIRECT }))
    expect(swapped.status).toBe(200)
    expect(swapped.json.token_type).toBe('Bearer')
    const refreshed = await service.refresh(form({ refresh_token: swapped.json.refresh_token as string }))
    expect(refreshed.status).toBe(200)
    expect(refreshed.json.token_type).toBe('Bearer')
    for (const token of [swapped.json.access_token, refreshed.json.access_token] as string[]) {
      const claims = await introspection(as, token)
      expect(claims.active).toBe(true)
      expect(claims.cnf, 'a token bound to a key the app does not hold').toBeUndefined()
    }
  })

  it('passes the server’s own error through (a used code → invalid_grant)', async () => {
    const { code, verifier } = await mobileAuthorization(as, 'mobile-2')
    expect(
      (await swap.swap(form({ code, code_verifier: verifier, redirect_uri: MOBILE_REDIRECT }))).status,
    ).toBe(200)
    const again = await swap.swap(form({ code, code_verifier: verifier, redirect_uri: MOBILE_REDIRECT }))
    expect(again).toMatchObject({ status: 400, json: { error: 'invalid_grant' } })
  })

  describe('bad input: 400, and no call reaches the server', () => {
    let handle: string
    beforeAll(async () => {
      const { code, verifier } = await mobileAuthorization(as, 'mobile-3')
      handle = (await swap.swap(form({ code, code_verifier: verifier, redirect_uri: MOBILE_REDIRECT }))).json
        .refresh_token as string
    })

    const otherClient = () =>
      new TokenSwapService(
        new OngoingAccess({
          issuer: as.issuer,
          client: { id: 'another-client', secret: 'x' },
          redirectUri: REDIRECT_URI,
          scope: '',
          secret: APP_SECRET,
        }),
        { rateLimit: false },
      )
    const retiredKey = () =>
      new TokenSwapService(accessFor(as, { secret: 'a-brand-new-secret-a-brand-new-secret-xyz' }), {
        rateLimit: false,
      })

    const cases: Array<[string, () => Promise<{ status: number; json: Record<string, unknown> }>]> = [
      ['a missing code', () => swap.swap(form({}))],
      ['an empty code', () => swap.swap(form({ code: '' }))],
      ['a repeated code', () => swap.swap({ ...form({}), body: 'code=a&code=b' })],
      [
        'a wrong content type',
        () => swap.swap({ contentType: 'application/json', body: '{"code":"x"}', clientAddress: 'a' }),
      ],
      ['no content type', () => swap.swap({ contentType: undefined, body: 'code=x', clientAddress: 'a' })],
      [
        'an unregistered redirect_uri',
        () => swap.swap(form({ code: 'x', redirect_uri: 'https://evil.test/cb' })),
      ],
      [
        'an oversize body',
        () => swap.swap({ contentType: FORM, body: `code=${'x'.repeat(9_000)}`, clientAddress: 'a' }),
      ],
      [
        'a body the adapter cut off',
        () => swap.refresh({ contentType: FORM, body: undefined, clientAddress: 'a' }),
      ],
      ['a missing handle', () => swap.refresh(form({}))],
      [
        'a tampered handle',
        () =>
          swap.refresh(
            form({
              refresh_token: `${handle.slice(0, 20)}${handle[20] === 'A' ? 'B' : 'A'}${handle.slice(21)}`,
            }),
          ),
      ],
      ['a truncated handle', () => swap.refresh(form({ refresh_token: handle.slice(0, -5) }))],
      [
        'a handle sealed for another client',
        async () => swap.refresh(form({ refresh_token: otherClient().sealHandle('rt-for-another-client') })),
      ],
      ['a handle under a retired key', () => retiredKey().refresh(form({ refresh_token: handle }))],
      [
        'a raw refresh token instead of a handle',
        () => swap.refresh(form({ refresh_token: 'some-real-looking-refresh-token' })),
      ],
    ]

    it.each(cases)('%s', async (_name, call) => {
      as.resetStats()
      const response = await call()
      expect(response.status).toBe(400)
      expect(['invalid_request', 'invalid_grant']).toContain(response.json.error)
      expect(as.stats().tokenCalls.total).toBe(0)
    })

    it('a handle past its maximum age', async () => {
      const aged = new TokenSwapService(access, { maxHandleAgeSeconds: 60, rateLimit: false })
      const fresh = aged.sealHandle('rt')
      vi.useFakeTimers({ toFake: ['Date'] })
      try {
        vi.setSystemTime(Date.now() + 61_000)
        as.resetStats()
        expect(await aged.refresh(form({ refresh_token: fresh }))).toMatchObject({
          status: 400,
          json: { error: 'invalid_grant' },
        })
        expect(as.stats().tokenCalls.total).toBe(0)
      } finally {
        vi.useRealTimers()
      }
    })

    it('rate limits per client address with 429', async () => {
      const limited = new TokenSwapService(access, { rateLimit: (address) => address !== 'flooder' })
      const response = await limited.swap({ ...form({ code: 'x' }), clientAddress: 'flooder' })
      expect(response).toMatchObject({ status: 429, json: { error: 'slow_down' } })
    })
  })
})
