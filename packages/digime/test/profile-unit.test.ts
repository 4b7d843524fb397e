// The digi.me profile's parts with hand-made answers (the oauth4webapi way): options, the callback,
// digi.me's errors, token payload shapes, the signed-answer checks, rejectsToken and the dead grant.
import { createSecretKey, generateKeyPairSync } from 'node:crypto'
import { readFileSync } from 'node:fs'
import {
  isOngoingAccessError,
  OngoingAccess,
  OngoingAccessError,
  type ProfileClient,
  type ProfileResponse,
} from '@ongoing/core'
import { exportJWK, SignJWT } from 'jose'
import { beforeAll, describe, expect, it } from 'vitest'
import { digiMe } from '../src/index.js'
import { VERSION } from '../src/version.js'

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const PKCS8 = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
const PKCS1 = rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()
const JWK = rsa.privateKey.export({ format: 'jwk' })
const base = { applicationId: 'app', contractId: 'contract', privateKey: PKCS8 }

/** Fragments of the key that no message may quote. */
const KEY_FRAGMENTS = [
  PKCS8.split('\n')[3]!,
  PKCS1.split('\n')[3]!,
  JWK.d!.slice(0, 24),
  JWK.p!.slice(0, 24),
  JWK.n!.slice(0, 24),
]

/** A promise that must reject: its fulfilment fails the test. */
const unexpected = (): never => {
  throw new Error('expected a rejection')
}

function typeErrorOf(fn: () => unknown): TypeError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(TypeError)
    const message = (err as Error).message
    for (const fragment of KEY_FRAGMENTS) expect(message).not.toContain(fragment)
    return err as TypeError
  }
  throw new Error('expected a TypeError')
}

describe('digiMe options', () => {
  it('takes the contract key as PKCS#8 PEM, PKCS#1 PEM, JWK or KeyObject', () => {
    for (const privateKey of [PKCS8, PKCS1, JWK, rsa.privateKey]) {
      const profile = digiMe({ ...base, privateKey })
      expect(profile.name).toBe('digime')
    }
  })

  it('gives client_id, issuer and the endpoints from the defaults; ready() fetches nothing', async () => {
    const calls: string[] = []
    const access = new OngoingAccess({
      profile: digiMe(base),
      redirectUri: 'https://app.example/auth/callback',
      secret: 'x'.repeat(32),
      fetch: async (input) => {
        calls.push(String(input))
        return new Response(null, { status: 500 })
      },
    })
    expect(access.clientId).toBe('app_contract')
    expect(access.issuer).toBe('https://api.digi.me/v1.7/')
    expect(await access.ready()).toEqual({
      issuer: 'https://api.digi.me/v1.7/',
      authorization: 'https://api.digi.me/apps/saas/authorize',
      token: 'https://api.digi.me/v1.7/oauth/token',
      jwks: 'https://api.digi.me/v1.7/jwks/oauth',
      issParameterSupported: false,
      codeChallengeMethods: ['S256'],
    })
    expect(calls).toEqual([])
  })

  it('adds a missing trailing slash, and the key set follows the base URL', async () => {
    const client = clientOf(
      digiMe({
        ...base,
        baseUrl: 'https://sandbox.digi.me/v1.7',
        consentUrl: 'https://sandbox.digi.me/apps/saas',
      }),
    )
    expect(client.issuer).toBe('https://sandbox.digi.me/v1.7/')
    expect(await client.ready()).toMatchObject({
      authorization: 'https://sandbox.digi.me/apps/saas/authorize',
      jwks: 'https://sandbox.digi.me/v1.7/jwks/oauth',
    })
  })

  it('refuses each bad option with a TypeError naming it, and never quotes the key', () => {
    const { publicKey } = rsa
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
    const encrypted = rsa.privateKey
      .export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' })
      .toString()
    const cases: Array<[unknown, RegExp]> = [
      [undefined, /needs options/],
      [{ ...base, applicationId: undefined }, /`applicationId`/],
      [{ ...base, applicationId: '' }, /`applicationId`/],
      [{ ...base, applicationId: 'has space' }, /`applicationId`/],
      [{ ...base, contractId: 42 }, /`contractId`/],
      [{ ...base, privateKey: undefined }, /`privateKey` is required/],
      [{ ...base, privateKey: 'not a key' }, /`privateKey` must be/],
      [
        { ...base, privateKey: publicKey.export({ type: 'spki', format: 'pem' }).toString() },
        /a public key was given/,
      ],
      [
        {
          ...base,
          privateKey: PKCS8.split('\n')
            .filter((_, i) => i % 2 === 0)
            .join('\n'),
        },
        /`privateKey` could not be read/,
      ],
      [{ ...base, privateKey: encrypted }, /encrypted PEM/],
      [{ ...base, privateKey: publicKey }, /public KeyObject/],
      [{ ...base, privateKey: createSecretKey(Buffer.alloc(32)) }, /`privateKey`/],
      [{ ...base, privateKey: { ...JWK, d: undefined } }, /not a private RSA one/],
      [{ ...base, privateKey: small }, /1024 bits/],
      [{ ...base, privateKey: ec }, /is a ec key/],
      [{ ...base, baseUrl: 'api.digi.me' }, /`baseUrl` must be an absolute https URL/],
      [{ ...base, baseUrl: 'http://api.digi.me/v1.7/' }, /`baseUrl` uses plain http/],
      [{ ...base, baseUrl: 'https://api.digi.me/v1.7/?x=1' }, /`baseUrl` must not have a query/],
      [{ ...base, consentUrl: 'ftp://x/' }, /`consentUrl`/],
      [{ ...base, keySetUrl: 'https://user:pw@api.digi.me/jwks' }, /`keySetUrl` must not hold credentials/],
      [{ ...base, keysetUrl: 'https://api.digi.me/jwks' }, /no option `keysetUrl`/],
    ]
    for (const [options, message] of cases) {
      expect(typeErrorOf(() => digiMe(options as never)).message).toMatch(message)
    }
  })

  it('refuses a CryptoKey, saying what to give instead', async () => {
    const cryptoKey = await crypto.subtle.importKey(
      'jwk',
      JWK as JsonWebKey,
      { name: 'RSA-PSS', hash: 'SHA-512' },
      false,
      ['sign'],
    )
    expect(typeErrorOf(() => digiMe({ ...base, privateKey: cryptoKey as never })).message).toMatch(
      /KeyObject\.from/,
    )
  })

  it("sends this package's version as agent.sdk.version", () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string
    }
    expect(VERSION).toBe(pkg.version)
  })
})

/** A server in a function: answers each request by URL; records what was asked. */
interface FakeServer {
  requests: Array<{ url: string; init: RequestInit }>
  answer: (url: string, init: RequestInit) => ProfileResponse | Promise<ProfileResponse>
}

function clientOf(profile = digiMe(base), server?: FakeServer): ProfileClient {
  return profile.create({
    fetch: () => Promise.reject(new Error('no fetch here')),
    requestTimeoutMs: 1_000,
    maxResponseBytes: 1024 * 1024,
    logger: () => {},
    request: async (url, init) => {
      if (server === undefined) throw new Error('no server')
      server.requests.push({ url, init })
      return server.answer(url, init)
    },
  })
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): ProfileResponse => ({
  status,
  headers: new Headers({ 'content-type': 'application/json', ...headers }),
  body: JSON.stringify(body),
})

describe('the callback', () => {
  const client = clientOf()
  const read = (query: string) => client.readCallback(new URL(`https://app.example/cb?${query}`))

  it('reads v1.7 success, cancel and errors, and the legacy result forms', () => {
    expect(read('success=true&state=s&code=c&accountReference=r')).toEqual({
      state: 's',
      outcome: 'code',
      code: 'c',
    })
    expect(read('success=false&errorCode=USER_CANCEL&state=s')).toEqual({
      state: 's',
      outcome: 'denied',
      error: 'USER_CANCEL',
    })
    expect(read('success=false&errorCode=SERVER_ERROR&error_message=Try+later&state=s')).toEqual({
      state: 's',
      outcome: 'error',
      error: 'SERVER_ERROR',
      errorDescription: 'Try later',
    })
    expect(read('success=false&state=s')).toMatchObject({ outcome: 'error', error: 'UNKNOWN_ERROR' })
    expect(read('result=SUCCESS&code=c&state=s')).toEqual({ state: 's', outcome: 'code', code: 'c' })
    expect(read('result=CANCEL&state=s')).toEqual({ state: 's', outcome: 'denied' })
    expect(read('result=ERROR&state=s')).toEqual({ state: 's', outcome: 'error', error: 'ERROR' })
    expect(read('error=access_denied&state=s')).toMatchObject({ outcome: 'denied' })
  })

  it('refuses repeated, oversized or malformed parameters, and tokens in the URL', () => {
    for (const query of [
      'success=true&success=true&state=s&code=c',
      'success=false&errorCode=A&errorCode=B&state=s',
      'success=true&state=s&state=t&code=c',
      `success=false&error_message=${'x'.repeat(5000)}&state=s`,
      'success=maybe&state=s',
      'result=PERHAPS&state=s',
      'success=true&state=s&code=c&access_token=t',
    ]) {
      expect(() => read(query)).toThrow(expect.objectContaining({ code: 'ERR_AUTHORIZATION' }))
    }
  })
})

describe("digi.me's errors", () => {
  const failing = (response: ProfileResponse) => {
    const server: FakeServer = { requests: [], answer: () => response }
    return { client: clientOf(digiMe(base), server), server }
  }

  it('reads the body form: status, code, message; the message names the code and reference only', async () => {
    const { client } = failing(
      json(401, {
        error: { code: 'InvalidToken', message: 'The token (refresh_token) is invalid', reference: 'ref-1' },
      }),
    )
    const err = await client
      .refresh('the-refresh-token')
      .then(unexpected, (e: unknown) => e as OngoingAccessError)
    expect(err).toMatchObject({
      code: 'ERR_TOKEN_ENDPOINT',
      status: 401,
      oauthError: 'InvalidToken',
      oauthErrorDescription: 'The token (refresh_token) is invalid',
      outcomeUnknown: false,
    })
    expect(err.message).toBe(
      'digi.me token endpoint answered with an error: InvalidToken (status 401, reference ref-1)',
    )
    expect(client.deadGrant.isDead(err)).toBe(true)
    expect(client.deadGrant.hintFor(err)).toBeUndefined()
  })

  it('reads the X-Error-* headers when the body has no error', async () => {
    const { client } = failing({
      status: 401,
      headers: new Headers({ 'x-error-code': 'InvalidToken', 'x-error-message': 'expired' }),
      body: '<html>gateway</html>',
    })
    const err = await client.refresh('rt').then(unexpected, (e: unknown) => e as OngoingAccessError)
    expect(err).toMatchObject({ oauthError: 'InvalidToken', oauthErrorDescription: 'expired' })
    expect(err.message).not.toMatch(/gateway/)
  })

  it('only 401 InvalidToken is a dead grant', async () => {
    const cases: Array<[number, string | undefined, boolean]> = [
      [401, 'InvalidToken', true],
      [400, 'InvalidToken', false],
      [401, 'InvalidJWT', false],
      [401, 'InvalidClient', false],
      [400, 'InvalidRequest', false],
      [500, undefined, false],
    ]
    for (const [status, code, dead] of cases) {
      const { client } = failing(json(status, code === undefined ? {} : { error: { code, message: 'm' } }))
      const err = await client.refresh('rt').catch((e: unknown) => e)
      expect(isOngoingAccessError(err)).toBe(true)
      expect(client.deadGrant.isDead(err)).toBe(dead)
    }
  })

  it('says when the outcome is unknown, and keeps Retry-After', async () => {
    const gateway = await failing(json(502, {}))
      .client.refresh('rt')
      .catch((e: unknown) => e)
    expect(gateway).toMatchObject({ status: 502, outcomeUnknown: true })
    const busy = await failing(json(503, {}, { 'retry-after': '2' }))
      .client.refresh('rt')
      .catch((e: unknown) => e)
    expect(busy).toMatchObject({ status: 503, outcomeUnknown: false, retryAfterMs: 2000 })
  })

  it('drops a code or reference that is not a plain word, and hints at the client options for a refused client', async () => {
    const odd = await failing(json(400, { error: { code: 'bad code "quoted"', reference: 'a b' } }))
      .client.refresh('rt')
      .then(unexpected, (e: unknown) => e as OngoingAccessError)
    expect(odd.oauthError).toBeUndefined()
    expect(odd.message).toBe('digi.me token endpoint answered with an error: no error code (status 400)')
    const refused = await failing(json(401, { error: { code: 'InvalidJWT', message: 'bad signature' } }))
      .client.refresh('rt')
      .then(unexpected, (e: unknown) => e as OngoingAccessError)
    expect(refused.message).toMatch(
      /check `applicationId` and `contractId`, and that `privateKey` is the contract's current key/,
    )
  })
})

describe('signed answers and token payloads', () => {
  const signing = generateKeyPairSync('rsa', { modulusLength: 2048 })
  let keySet: unknown
  const KEY_SET_URL = 'https://api.digi.me/v1.7/jwks/oauth'
  beforeAll(async () => {
    keySet = { keys: [{ ...(await exportJWK(signing.publicKey)), kid: 'k1', alg: 'PS512', use: 'sig' }] }
  })

  const sign = (payload: Record<string, unknown>, header: Record<string, unknown> = {}) =>
    new SignJWT(payload)
      .setProtectedHeader({ alg: 'PS512', typ: 'JWT', kid: 'k1', jku: KEY_SET_URL, ...header })
      .sign(signing.privateKey)

  /** A client whose token endpoint answers `payload`, signed (or `token` as given). */
  const answering = (token: string | Promise<string>) => {
    const server: FakeServer = {
      requests: [],
      answer: async (url) => (url === KEY_SET_URL ? json(200, keySet) : json(200, { token: await token })),
    }
    return { client: clientOf(digiMe(base), server), server }
  }

  it('maps v1.7 nested expiries (Unix seconds) to ms, and gives claims from sub', async () => {
    const { client, server } = answering(
      sign({
        access_token: { value: 'at', expires_on: 1_900_000_000 },
        refresh_token: { value: 'rt', expires_on: 1_950_000_000 },
        token_type: 'Bearer',
        sub: 'user-sub',
        consentid: 'consent-1',
        identifier: { id: 'alice' },
      }),
    )
    const tokens = await client.exchangeCode({
      code: 'c',
      codeVerifier: 'v'.repeat(43),
      redirectUri: 'https://app.example/cb',
      nonce: undefined,
      claimsRequired: false,
    })
    expect(tokens).toMatchObject({
      accessToken: 'at',
      tokenType: 'Bearer',
      expiresAt: 1_900_000_000_000,
      refreshToken: 'rt',
      refreshExpiresAt: 1_950_000_000_000,
    })
    expect(tokens.claims).toMatchObject({
      iss: 'https://api.digi.me/v1.7/',
      sub: 'user-sub',
      aud: 'app_contract',
      exp: 1_900_000_000,
      consentid: 'consent-1',
      identifier: { id: 'alice' },
    })
    // The token call: POST, no body, a request JWT only.
    const call = server.requests.find((r) => r.url.endsWith('/oauth/token'))!
    expect(call.init.method).toBe('POST')
    expect(call.init.body).toBeUndefined()
  })

  it('reads the legacy flat shape; no sub, no claims', async () => {
    const { client } = answering(sign({ access_token: 'at', refresh_token: 'rt', expires_on: 1_900_000_000 }))
    const tokens = await client.refresh('old')
    expect(tokens).toMatchObject({ accessToken: 'at', refreshToken: 'rt', expiresAt: 1_900_000_000_000 })
    expect(tokens.claims).toBeUndefined()
    expect(tokens.refreshExpiresAt).toBeUndefined()
  })

  it('takes an expires_on in ms as ms', async () => {
    const { client } = answering(sign({ access_token: { value: 'at', expires_on: 1_900_000_000_123 } }))
    expect((await client.refresh('old')).expiresAt).toBe(1_900_000_000_123)
  })

  it('refuses unusable payloads as ERR_INVALID_RESPONSE with outcomeUnknown, quoting nothing', async () => {
    for (const payload of [
      {},
      { access_token: '' },
      { access_token: { value: 42 } },
      { access_token: { value: 'at', expires_on: 'soon' } },
      { access_token: 'at', token_type: 'MAC' },
    ]) {
      const err = await answering(sign(payload))
        .client.refresh('old')
        .then(unexpected, (e: unknown) => e as OngoingAccessError)
      expect(err).toMatchObject({ code: 'ERR_INVALID_RESPONSE', outcomeUnknown: true })
      expect(err.message).not.toMatch(/"at"|soon|MAC/)
    }
  })

  it('never fetches a jku or x5u other than the pinned key set', async () => {
    for (const header of [
      { jku: 'https://attacker.example/jwks' },
      { jku: 'https://api.digi.me/v1.7/jwks/oauth?x' },
      { jku: 42 },
      { x5u: 'https://attacker.example/cert' },
    ]) {
      const { client, server } = answering(sign({ access_token: 'at' }, header))
      const err = await client.refresh('old').catch((e: unknown) => e)
      expect(err).toMatchObject({ code: 'ERR_INVALID_RESPONSE' })
      expect(server.requests.map((r) => r.url)).toEqual(['https://api.digi.me/v1.7/oauth/token'])
    }
  })

  it('accepts no jku at all (the key set is pinned anyway), and caches the key set', async () => {
    const token = sign({ access_token: 'at' }, { jku: undefined })
    const { client, server } = answering(token)
    await client.refresh('a')
    await client.refresh('b')
    expect(server.requests.filter((r) => r.url === KEY_SET_URL)).toHaveLength(1)
  })

  it('a key set that cannot be fetched: ERR_NETWORK or ERR_INVALID_RESPONSE, the outcome unknown', async () => {
    const server: FakeServer = {
      requests: [],
      answer: async (url) => {
        if (url === KEY_SET_URL)
          throw new OngoingAccessError('ERR_NETWORK', 'digi.me key set: no answer', { outcomeUnknown: true })
        return json(200, { token: await sign({ access_token: 'at' }) })
      },
    }
    const err = await clientOf(digiMe(base), server)
      .refresh('rt')
      .catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'ERR_NETWORK', outcomeUnknown: true })
    const down: FakeServer = {
      requests: [],
      answer: async (url) =>
        url === KEY_SET_URL ? json(500, {}) : json(200, { token: await sign({ access_token: 'at' }) }),
    }
    expect(
      await clientOf(digiMe(base), down)
        .refresh('rt')
        .catch((e: unknown) => e),
    ).toMatchObject({
      code: 'ERR_INVALID_RESPONSE',
      outcomeUnknown: true,
    })
  })

  it('a pre-authorization answer without a code is ERR_INVALID_RESPONSE', async () => {
    const { client } = answering(sign({ something: 'else' }))
    await expect(
      client.startAuthorization({
        state: 's',
        codeChallenge: 'c'.repeat(43),
        codeChallengeMethod: 'S256',
        redirectUri: 'https://app.example/cb',
        scope: '',
        params: { service: '12', lng: 'fr', code: 'ignored' },
      }),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_RESPONSE' })
  })

  it('builds the consent URL: params first, then the code and sourceType, which params cannot replace', async () => {
    const { client } = answering(sign({ preauthorization_code: 'pre-code' }))
    const { url } = await client.startAuthorization({
      state: 's',
      codeChallenge: 'c'.repeat(43),
      codeChallengeMethod: 'S256',
      redirectUri: 'https://app.example/cb',
      scope: '',
      params: { service: '12', lng: 'fr', code: 'ignored', sourceType: 'push' },
    })
    expect(url.href).toBe(
      'https://api.digi.me/apps/saas/authorize?service=12&lng=fr&code=pre-code&sourceType=pull',
    )
  })
})

describe('resource requests', () => {
  const client = clientOf()
  const token = {
    value: 'the-access-token',
    tokenType: 'Bearer',
    expiresAt: Date.now() + 60_000,
    refreshed: false,
  }

  it('authorize signs a fresh request JWT around the access token, keeping the request', async () => {
    const request = new Request('https://api.digi.me/v1.7/permission-access/trigger', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-app': 'kept' },
      body: '{"agent":{}}',
    })
    const signed = await client.authorize(request, token)
    expect(signed.headers.get('x-app')).toBe('kept')
    expect(await signed.text()).toBe('{"agent":{}}')
    const jwt = signed.headers.get('authorization')!.slice('Bearer '.length)
    const [header, payload] = jwt
      .split('.')
      .slice(0, 2)
      .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()))
    expect(header).toEqual({ alg: 'PS512', typ: 'JWT' })
    expect(Object.keys(payload).sort()).toEqual(['access_token', 'client_id', 'nonce', 'timestamp'])
    expect(payload.access_token).toBe('the-access-token')
    expect(payload.client_id).toBe('app_contract')
    const again = await client.authorize(new Request('https://api.digi.me/v1.7/x'), token)
    expect(again.headers.get('authorization')).not.toBe(signed.headers.get('authorization'))
  })

  it('rejectsToken: 401 with X-Error-Code InvalidToken only, from the headers, leaving the body unread', () => {
    const cases: Array<[number, Record<string, string>, boolean]> = [
      [401, { 'x-error-code': 'InvalidToken' }, true],
      [401, { 'x-error-code': 'InvalidJWT' }, false],
      [401, {}, false],
      [403, { 'x-error-code': 'InvalidToken' }, false],
    ]
    for (const [status, headers, rejects] of cases) {
      const response = new Response('{"error":{"code":"InvalidToken"}}', { status, headers })
      expect(client.rejectsToken(response)).toBe(rejects)
      expect(response.bodyUsed).toBe(false)
    }
  })

  it('has no revoke: digi.me has no revocation endpoint', () => {
    expect(client.revoke).toBeUndefined()
  })
})
