import { type IdTokenClaims, MemoryTokenStore, OngoingAccess, OngoingAccessError } from '@ongoing/core'
import { driveConsent, startTestAuthorizationServer, type TestAuthorizationServer } from '@ongoing/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { APP_SECRET, REDIRECT_URI } from './real-as.js'

const SCOPE = 'openid offline_access api:read'

describe('ID token claims and userKeyFromClaims against oidc-provider', () => {
  let as: TestAuthorizationServer

  beforeAll(async () => {
    as = await startTestAuthorizationServer()
  })
  afterAll(async () => {
    await as?.close()
  })

  function create(options: Partial<ConstructorParameters<typeof OngoingAccess>[0]> = {}) {
    const store = new MemoryTokenStore()
    const access = new OngoingAccess({
      issuer: as.issuer,
      client: as.clients.confidential,
      redirectUri: REDIRECT_URI,
      scope: SCOPE,
      secret: APP_SECRET,
      store,
      logger: false,
      ...options,
    })
    return { access, store }
  }

  /** Consents as `login`; `tamper` may change the authorization URL first, as an attacker in the middle could. */
  async function consent(
    access: OngoingAccess,
    login: string,
    options: { userKey?: string; tamper?: (url: URL) => void } = {},
  ) {
    const started = await access.startConsent(
      options.userKey === undefined ? {} : { userKey: options.userKey },
    )
    options.tamper?.(started.url)
    const callbackUrl = await driveConsent(started.url, { redirectUriPrefix: REDIRECT_URI, login })
    return { started, finished: access.finishConsent({ callbackUrl, transaction: started.transaction }) }
  }

  it('regression (issue 18): with openid, a nonce is sent, and finishConsent returns the verified claims', async () => {
    const { access } = create()
    const { started, finished } = await consent(access, 'nina', { userKey: 'app-user-1' })
    const result = await finished
    const nonce = started.url.searchParams.get('nonce')
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(result.userKey).toBe('app-user-1')
    expect(result.claims).toMatchObject({
      iss: as.issuer,
      sub: 'nina',
      aud: as.clients.confidential.id,
      nonce,
    })
    access.close()
  })

  it('without openid: no nonce, no claims', async () => {
    const { access } = create({ scope: 'offline_access api:read' })
    const { started, finished } = await consent(access, 'nina', { userKey: 'app-user-2' })
    expect(started.url.searchParams.has('nonce')).toBe(false)
    expect((await finished).claims).toBeUndefined()
    access.close()
  })

  it.each([
    ['replaced', (url: URL) => url.searchParams.set('nonce', 'an-attacker-chosen-nonce-an-attacker-chosen')],
    ['removed', (url: URL) => url.searchParams.delete('nonce')],
  ])(
    'regression (issue 18): a nonce %s on the way to the server fails the consent, and nothing is stored',
    async (_name, tamper) => {
      const { access, store } = create({ userKeyFromClaims: (claims) => claims.sub })
      const { finished } = await consent(access, 'nina', { tamper })
      const error = await finished.catch((err: unknown) => err)
      expect(error).toBeInstanceOf(OngoingAccessError)
      expect(error).toMatchObject({
        code: 'ERR_INVALID_RESPONSE',
        message: 'Token endpoint answered with an ID token whose `nonce` is not the one this consent sent',
      })
      expect(store.size).toBe(0)
      access.close()
    },
  )

  it('regression (issue 18): userKeyFromClaims keys the grant by sub: two consents of one user, one grant', async () => {
    const seen: IdTokenClaims[] = []
    const { access, store } = create({
      userKeyFromClaims: (claims) => {
        seen.push(claims)
        return `user:${claims.sub}`
      },
    })
    const first = await (await consent(access, 'oskar')).finished
    const second = await (await consent(access, 'oskar')).finished
    expect([first.userKey, second.userKey]).toEqual(['user:oskar', 'user:oskar'])
    expect(seen.map((claims) => claims.sub)).toEqual(['oskar', 'oskar'])
    expect(store.size).toBe(1)
    expect((await access.getAccessToken('user:oskar')).value).toBe(second.token.value)
    access.close()
  })

  it('refuses what cannot work, at construction and at startConsent', async () => {
    expect(() => create({ scope: 'offline_access', userKeyFromClaims: (claims) => claims.sub })).toThrow(
      new TypeError(
        'ongoing: `userKeyFromClaims` needs `openid` in `scope`: the user key comes from the ID token',
      ),
    )
    expect(() => create({ userKeyFromClaims: 'sub' as never })).toThrow(
      new TypeError('ongoing: `userKeyFromClaims` must be a function (claims) => string'),
    )
    const { access } = create({ userKeyFromClaims: (claims) => claims.sub })
    await expect(access.startConsent({ userKey: 'app-user' })).rejects.toThrow(
      new TypeError(
        'ongoing: this OngoingAccess keys grants by the ID token (`userKeyFromClaims`): `startConsent` takes no `userKey`',
      ),
    )
    await expect(access.startConsent({ scope: 'api:read' })).rejects.toThrow(
      new TypeError("ongoing: `userKeyFromClaims` needs `openid` in the consent's `scope`"),
    )
    const plain = create().access
    await expect(plain.startConsent({})).rejects.toThrow(
      new TypeError('ongoing: `userKey` must be a non-empty string of at most 512 characters'),
    )
    access.close()
    plain.close()
  })

  it.each([
    [
      'an empty string',
      () => '',
      '`userKeyFromClaims` must return a non-empty string of at most 512 characters; it returned one of 0',
    ],
    [
      'undefined',
      () => undefined as unknown as string,
      '`userKeyFromClaims` must return a non-empty string of at most 512 characters; it returned undefined',
    ],
    [
      'an exception',
      () => {
        throw new Error('no such user')
      },
      '`userKeyFromClaims` threw',
    ],
  ])(
    'userKeyFromClaims returning %s fails the consent with ERR_CONFIGURATION and stores nothing',
    async (_name, fromClaims, message) => {
      const { access, store } = create({ userKeyFromClaims: fromClaims })
      const { finished } = await consent(access, 'nina')
      await expect(finished).rejects.toMatchObject({ code: 'ERR_CONFIGURATION', message })
      expect(store.size).toBe(0)
      access.close()
    },
  )

  it('a token response without an ID token: an error when the key needs the claims, no claims otherwise', async () => {
    // A sloppy server: no ID token though openid was granted.
    const stripIdToken: typeof fetch = async (input, init) => {
      const response = await fetch(input, init)
      if (!String(input).endsWith('/token')) return response
      const { id_token: _, ...body } = (await response.json()) as Record<string, unknown>
      return Response.json(body, { status: response.status })
    }
    const keyed = create({ userKeyFromClaims: (claims) => claims.sub, fetch: stripIdToken })
    await expect((await consent(keyed.access, 'nina')).finished).rejects.toMatchObject({
      code: 'ERR_INVALID_RESPONSE',
      message:
        'Token endpoint answered without an ID token, which `userKeyFromClaims` needs: did the server grant the `openid` scope?',
    })
    expect(keyed.store.size).toBe(0)
    const plain = create({ fetch: stripIdToken })
    const result = await (await consent(plain.access, 'nina', { userKey: 'app-user-3' })).finished
    expect(result.claims).toBeUndefined()
    keyed.access.close()
    plain.access.close()
  })

  it('explicit endpoints without a key set: userKeyFromClaims fails with ERR_CONFIGURATION', async () => {
    const { access, store } = create({
      userKeyFromClaims: (claims) => claims.sub,
      endpoints: { authorization: `${as.issuer}/auth`, token: `${as.issuer}/token` },
    })
    await expect((await consent(access, 'nina')).finished).rejects.toMatchObject({
      code: 'ERR_CONFIGURATION',
      message:
        'The ID token cannot be verified: the server names no key set (`jwks_uri`); with explicit `endpoints`, give `endpoints.jwks`',
    })
    expect(store.size).toBe(0)
    access.close()
  })
})
