import { generateKeyPairSync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { MemoryTokenStore, OngoingAccess, type OngoingAccessOptions, type TokenStore } from '../src/index.js'
import { createFakeAS, ISSUER, json, SECRET, tokens } from './fake-as.js'

const base: OngoingAccessOptions = {
  issuer: ISSUER,
  client: { id: 'app', secret: 's' },
  redirectUri: 'https://app.test/auth/callback',
  scope: 'offline_access',
  secret: SECRET,
}

describe('options are validated once, at construction', () => {
  it.each<[string, Partial<Record<keyof OngoingAccessOptions, unknown>>]>([
    ['a missing secret', { secret: undefined }],
    ['a short secret', { secret: 'too-short' }],
    ['a short secret in a rotation list', { secret: [SECRET, 'short'] }],
    ['an empty rotation list', { secret: [] }],
    ['a relative issuer', { issuer: '/as' }],
    ['a non-http issuer', { issuer: 'ftp://as.test' }],
    ['a relative redirectUri', { redirectUri: '/auth/callback' }],
    ['a missing scope', { scope: undefined }],
    ['a missing client', { client: undefined }],
    ['an empty client id', { client: { id: '' } }],
    ['an empty client secret', { client: { id: 'a', secret: '' } }],
    ['a secret with private_key_jwt', { client: { id: 'a', secret: 's', authMethod: 'private_key_jwt' } }],
    ['an unknown assertion alg', { client: { id: 'a', privateKey: { kty: 'RSA', d: 'x' }, alg: 'HS256' } }],
    ['a bad onRefreshTokenExpired', { onRefreshTokenExpired: 'retry' }],
    ['a negative refreshSkewSeconds', { refreshSkewSeconds: -1 }],
    ['a zero requestTimeoutMs', { requestTimeoutMs: 0 }],
    ['retry.attempts of 0', { retry: { attempts: 0 } }],
    ['a store without set', { store: { get: async () => undefined } }],
    ['a non-boolean encryptTokens', { encryptTokens: 'no' }],
    ['a non-function fetch', { fetch: 'fetch' }],
    ['a relative token endpoint', { endpoints: { authorization: 'https://as.test/a', token: '/token' } }],
  ])('%s → TypeError', (_name, patch) => {
    expect(() => new OngoingAccess({ ...base, ...patch } as OngoingAccessOptions)).toThrow(TypeError)
  })

  it('never echoes a secret in a validation message', () => {
    try {
      new OngoingAccess({ ...base, secret: 'short-but-secret-value' })
    } catch (err) {
      expect((err as Error).message).not.toContain('short-but-secret-value')
    }
  })

  it('accepts every documented client shape', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string
    for (const client of [
      { id: 'a', secret: 's' },
      { id: 'a', secret: 's', authMethod: 'client_secret_post' as const },
      { id: 'a', privateKey },
      { id: 'a', privateKey: pem, keyId: 'k1' },
      { id: 'a', privateKey: privateKey.export({ format: 'jwk' }) as never },
      { id: 'a', authMethod: 'none' as const },
    ]) {
      expect(() => new OngoingAccess({ ...base, client })).not.toThrow()
    }
  })
})

describe('private_key_jwt assertions', () => {
  it('carries iss = sub = client id, aud = issuer, a unique jti and a short exp', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const fake = createFakeAS()
    fake.metadata = { token_endpoint_auth_methods_supported: ['private_key_jwt'] }
    const access = new OngoingAccess({
      ...base,
      client: { id: 'pk-app', privateKey, keyId: 'k1' },
      fetch: fake.fetch,
    })
    fake.answer(() => json(tokens({ expires_in: 0 })))
    const { transaction, state } = await access.startConsent({ userKey: 'u' })
    await access.finishConsent({
      callbackUrl: `https://app.test/auth/callback?code=c&state=${state}&iss=${encodeURIComponent(ISSUER)}`,
      transaction,
    })
    await access.getAccessToken('u')
    const claims = fake.bodies.map((body) => {
      expect(body.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
      const [header, payload] = body
        .get('client_assertion')!
        .split('.')
        .slice(0, 2)
        .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()))
      expect(header).toEqual({ alg: 'ES256', kid: 'k1' })
      return payload
    })
    expect(claims).toHaveLength(2)
    for (const c of claims) {
      expect(c).toMatchObject({ iss: 'pk-app', sub: 'pk-app', aud: ISSUER })
      expect(c.exp - c.iat).toBeLessThanOrEqual(60)
    }
    expect(claims[0].jti).not.toBe(claims[1].jti)
  })
})

/** A store that records every write, delegating to a MemoryTokenStore. */
function spyStore() {
  const inner = new MemoryTokenStore()
  const writes = new Map<string, string>()
  const store: TokenStore = {
    get: (key) => inner.get(key),
    set: (key, value, options) => {
      writes.set(key, value)
      return inner.set(key, value, options)
    },
    delete: (key, version) => inner.delete(key, version),
  }
  return { store, inner, writes }
}

describe('token encryption at rest', () => {
  it('stores no token material in clear, and a record moved to another user does not open', async () => {
    const fake = createFakeAS()
    const { store, inner, writes } = spyStore()
    const access = new OngoingAccess({ ...base, store, fetch: fake.fetch })
    await access.restore('alice', {
      accessToken: 'at-alice-secret',
      refreshToken: 'rt-alice-secret',
      expiresIn: 3600,
    })
    await access.restore('bob', { accessToken: 'at-bob', refreshToken: 'rt-bob', expiresIn: 3600 })
    const [, aliceValue] = [...writes].find(([k]) => k.endsWith(':alice'))!
    const bobKey = [...writes.keys()].find((k) => k.endsWith(':bob'))!
    for (const value of writes.values()) expect(value).not.toMatch(/alice-secret|at-bob|rt-bob/)
    // Copy alice's record under bob's key: bob must not get alice's token.
    await inner.set(bobKey, aliceValue, { expectedVersion: (await inner.get(bobKey))!.version })
    const fresh = new OngoingAccess({ ...base, store, fetch: fake.fetch })
    await expect(fresh.getAccessToken('bob')).rejects.toMatchObject({
      code: 'ERR_CONSENT_REQUIRED',
      reason: 'unreadable',
    })
    expect((await fresh.getAccessToken('alice')).value).toBe('at-alice-secret')
    expect(fake.calls.refresh_token).toBe(0)
  })

  it('rotates secrets: records sealed under the old secret still open; a retired secret does not', async () => {
    const fake = createFakeAS()
    const store = new MemoryTokenStore()
    const OLD = 'old-secret-old-secret-old-secret-old-secret'
    const NEW = 'new-secret-new-secret-new-secret-new-secret'
    await new OngoingAccess({ ...base, secret: OLD, store, fetch: fake.fetch }).restore('u', {
      accessToken: 'at-u',
      expiresIn: 3600,
    })
    expect(
      (await new OngoingAccess({ ...base, secret: [NEW, OLD], store, fetch: fake.fetch }).getAccessToken('u'))
        .value,
    ).toBe('at-u')
    await expect(
      new OngoingAccess({ ...base, secret: NEW, store, fetch: fake.fetch }).getAccessToken('u'),
    ).rejects.toMatchObject({
      code: 'ERR_CONSENT_REQUIRED',
      reason: 'unreadable',
    })
  })

  it('encryptTokens: false stores plain JSON records (and only that changes)', async () => {
    const fake = createFakeAS()
    const { store, writes } = spyStore()
    const access = new OngoingAccess({ ...base, store, encryptTokens: false, fetch: fake.fetch })
    await access.restore('u', { accessToken: 'at-plain', expiresIn: 3600 })
    expect(JSON.parse([...writes.values()][0]!)).toMatchObject({ at: 'at-plain' })
    expect(
      (await new OngoingAccess({ ...base, store, encryptTokens: false }).getAccessToken('u')).value,
    ).toBe('at-plain')
  })
})

describe('the store is bounded in time', () => {
  it('a store that never answers fails with ERR_STORE within storeTimeoutMs, and no token call is made', async () => {
    const fake = createFakeAS()
    const hanging = new MemoryTokenStore()
    hanging.get = () => new Promise(() => {})
    const access = new OngoingAccess({ ...base, store: hanging, storeTimeoutMs: 100, fetch: fake.fetch })
    const started = Date.now()
    await expect(access.getAccessToken('u')).rejects.toMatchObject({ code: 'ERR_STORE' })
    expect(Date.now() - started).toBeLessThan(1_000)
    expect(fake.calls.refresh_token).toBe(0)
  })

  it('a store that throws fails with ERR_STORE, and its error message does not leak', async () => {
    const fake = createFakeAS()
    const broken = new MemoryTokenStore()
    broken.get = async () => {
      throw new Error('connection refused')
    }
    const access = new OngoingAccess({ ...base, store: broken, fetch: fake.fetch })
    await expect(access.getAccessToken('u')).rejects.toMatchObject({ code: 'ERR_STORE' })
  })
})

describe('regression (issue 17, nit): plain http is refused off loopback', () => {
  it.each([
    ['the issuer', { issuer: 'http://as.example.com' }],
    [
      'an endpoint',
      { endpoints: { authorization: 'https://as.test/authorize', token: 'http://as.example.com/token' } },
    ],
    [
      'the revocation endpoint',
      {
        endpoints: {
          authorization: 'https://as.test/authorize',
          token: 'https://as.test/token',
          revocation: 'http://10.0.0.1/revoke',
        },
      },
    ],
  ])('%s in plain http: TypeError naming allowInsecureRequests', (_name, extra) => {
    expect(() => new OngoingAccess({ ...base, ...extra })).toThrow(/allowInsecureRequests/)
  })

  it.each(['http://localhost:4000', 'http://127.0.0.1:4000', 'http://[::1]:4000', 'http://as.localhost'])(
    'loopback %s is allowed',
    (issuer) => {
      expect(() => new OngoingAccess({ ...base, issuer })).not.toThrow()
    },
  )

  it('allowInsecureRequests: true allows it (a test network)', () => {
    expect(
      () => new OngoingAccess({ ...base, issuer: 'http://as.example.com', allowInsecureRequests: true }),
    ).not.toThrow()
  })

  it('discovered metadata naming a plain http endpoint off loopback is refused, with no token call', async () => {
    const fake = createFakeAS()
    const access = new OngoingAccess({
      ...base,
      fetch: async (input, init) => {
        if (String(input).includes('/.well-known/'))
          return json({
            issuer: ISSUER,
            authorization_endpoint: `${ISSUER}/authorize`,
            token_endpoint: 'http://as.example.com/token',
          })
        return fake.fetch(input, init)
      },
    })
    await expect(access.startConsent({ userKey: 'alice' })).rejects.toMatchObject({
      code: 'ERR_INVALID_RESPONSE',
      message: expect.stringMatching(/token_endpoint.*plain http/),
    })
    expect(fake.calls.refresh_token + fake.calls.authorization_code).toBe(0)
  })
})
