import { describe, expect, it } from 'vitest'
import { OngoingAccess, type OngoingAccessOptions, type Profile } from '../src/index.js'
import { httpStatusOf } from '../src/web/http-status.js'
import { createAccess, createFakeAS, type FakeAS, ISSUER, json } from './fake-as.js'

const PAR_ENDPOINT = `${ISSUER}/par`
const REQUEST_URI = 'urn:ietf:params:oauth:request_uri:abc123'

type PushHandler = (body: URLSearchParams, request: Request) => Response | Promise<Response>

/** The fake AS with a pushed authorization request endpoint answering with `handler`. */
function fakeWithPAR(handler: PushHandler, metadata: Record<string, unknown> = {}) {
  const fake = createFakeAS()
  fake.metadata = { pushed_authorization_request_endpoint: PAR_ENDPOINT, ...metadata }
  const pushes: Array<{ url: string; authorization: string | null; body: URLSearchParams }> = []
  const inner = fake.fetch
  fake.fetch = async (input, init) => {
    const request = new Request(input, init)
    if (request.url === PAR_ENDPOINT) {
      const body = new URLSearchParams(await request.text())
      pushes.push({ url: request.url, authorization: request.headers.get('authorization'), body })
      return handler(body, request)
    }
    return inner(input, init)
  }
  return { fake, pushes }
}

const created = () => json({ request_uri: REQUEST_URI, expires_in: 60 }, 201)

function parAccess(fake: FakeAS, options: Partial<OngoingAccessOptions> = {}) {
  return createAccess(fake, { pushedAuthorizationRequests: true, ...options })
}

async function failure(access: OngoingAccess): Promise<Error & Record<string, unknown>> {
  return access.startConsent({ userKey: 'alice' }).then(
    () => {
      throw new Error('startConsent resolved')
    },
    (err: Error & Record<string, unknown>) => err,
  )
}

describe('pushed authorization requests (RFC 9126)', () => {
  it('pushes the whole request with the client authentication and sends the user with client_id and request_uri', async () => {
    const { fake, pushes } = fakeWithPAR(created)
    const access = parAccess(fake, { authorizationParams: { audience: 'api' } })
    const started = await access.startConsent({ userKey: 'alice', params: { ui_locales: 'fr' } })
    expect(started.url.href).toBe(
      `${ISSUER}/authorize?client_id=app&request_uri=${encodeURIComponent(REQUEST_URI)}`,
    )
    expect(pushes).toHaveLength(1)
    const [push] = pushes
    expect(push?.authorization).toBe(`Basic ${btoa('app:app-secret')}`)
    expect(Object.fromEntries(push?.body ?? [])).toEqual({
      prompt: 'consent',
      audience: 'api',
      ui_locales: 'fr',
      response_type: 'code',
      client_id: 'app',
      redirect_uri: 'https://app.test/auth/callback',
      scope: 'offline_access api:read',
      state: started.state,
      code_challenge: expect.stringMatching(/^[\w-]{43}$/),
      code_challenge_method: 'S256',
    })
    expect(push?.body.toString()).not.toContain(started.codeVerifier)
  })

  it('client_secret_post puts the secret in the body of the push, never in a URL', async () => {
    const { fake, pushes } = fakeWithPAR(created)
    const access = parAccess(fake, {
      client: { id: 'app', secret: 'app-secret', authMethod: 'client_secret_post' },
    })
    fake.metadata.token_endpoint_auth_methods_supported = ['client_secret_post']
    const started = await access.startConsent({ userKey: 'alice' })
    expect(pushes[0]?.url).toBe(PAR_ENDPOINT)
    expect(pushes[0]?.authorization).toBeNull()
    expect(pushes[0]?.body.get('client_secret')).toBe('app-secret')
    expect(started.url.href).not.toContain('app-secret')
  })

  it('pushes when the metadata requires it, even with the option set to false (RFC 9126 §5)', async () => {
    const { fake, pushes } = fakeWithPAR(created, { require_pushed_authorization_requests: true })
    for (const pushedAuthorizationRequests of [undefined, false]) {
      const access = createAccess(fake, { pushedAuthorizationRequests })
      const { url } = await access.startConsent({ userKey: 'alice' })
      expect([...url.searchParams.keys()]).toEqual(['client_id', 'request_uri'])
    }
    expect(pushes).toHaveLength(2)
  })

  it('does not push when the server offers PAR but neither the option nor the metadata asks for it', async () => {
    const { fake, pushes } = fakeWithPAR(created)
    const { url } = await createAccess(fake).startConsent({ userKey: 'alice' })
    expect(url.searchParams.get('code_challenge_method')).toBe('S256')
    expect(pushes).toHaveLength(0)
  })

  it('a metadata document that requires PAR but names no endpoint fails discovery (ERR_INVALID_RESPONSE)', async () => {
    const fake = createFakeAS()
    fake.metadata = { require_pushed_authorization_requests: true }
    await expect(createAccess(fake).ready()).rejects.toMatchObject({
      code: 'ERR_INVALID_RESPONSE',
      message: expect.stringContaining('has no `pushed_authorization_request_endpoint`'),
    })
  })

  it('with the option and no endpoint: ERR_CONFIGURATION from ready() and startConsent, before any push', async () => {
    const fake = createFakeAS()
    let other = 0
    const inner = fake.fetch
    fake.fetch = (input, init) => {
      if (!new URL(new Request(input, init).url).pathname.startsWith('/.well-known/')) other++
      return inner(input, init)
    }
    const access = parAccess(fake)
    for (const attempt of [access.ready(), access.startConsent({ userKey: 'alice' })])
      await expect(attempt).rejects.toMatchObject({
        code: 'ERR_CONFIGURATION',
        message: expect.stringContaining('`pushedAuthorizationRequests: true`'),
      })
    expect(other).toBe(0)
  })

  it.each<[string, () => Response]>([
    ['200 OK instead of 201 Created', () => json({ request_uri: REQUEST_URI, expires_in: 60 }, 200)],
    ['a numeric string expires_in', () => json({ request_uri: REQUEST_URI, expires_in: '90' }, 201)],
    ['extra members', () => json({ request_uri: REQUEST_URI, expires_in: 60, extra: true }, 201)],
  ])('takes %s', async (_name, answer) => {
    const { fake } = fakeWithPAR(answer)
    const { url } = await parAccess(fake).startConsent({ userKey: 'alice' })
    expect(url.searchParams.get('request_uri')).toBe(REQUEST_URI)
  })

  it.each<[string, () => Response, string]>([
    ['no request_uri', () => json({ expires_in: 60 }, 201), '`request_uri` is missing or not a string'],
    [
      'a numeric request_uri',
      () => json({ request_uri: 42, expires_in: 60 }, 201),
      '`request_uri` is missing',
    ],
    [
      'an empty request_uri',
      () => json({ request_uri: '', expires_in: 60 }, 201),
      '`request_uri` is missing',
    ],
    [
      'a request_uri of 3000 characters',
      () => json({ request_uri: `urn:x:${'a'.repeat(3000)}`, expires_in: 60 }, 201),
      'longer than 2048',
    ],
    [
      'no expires_in',
      () => json({ request_uri: REQUEST_URI }, 201),
      '`expires_in` is missing or not a positive',
    ],
    ['expires_in 0', () => json({ request_uri: REQUEST_URI, expires_in: 0 }, 201), '`expires_in`'],
    ['a negative expires_in', () => json({ request_uri: REQUEST_URI, expires_in: -5 }, 201), '`expires_in`'],
    ['expires_in "soon"', () => json({ request_uri: REQUEST_URI, expires_in: 'soon' }, 201), '`expires_in`'],
    ['expires_in null', () => json({ request_uri: REQUEST_URI, expires_in: null }, 201), '`expires_in`'],
    ['a body that is not JSON', () => new Response('<html>ok</html>', { status: 201 }), 'not a JSON object'],
    ['a JSON array', () => json([REQUEST_URI], 201), 'not a JSON object'],
    ['204 No Content', () => new Response(null, { status: 204 }), 'answered 204, not 201 Created'],
    [
      'a redirect',
      () => new Response(null, { status: 302, headers: { location: 'https://elsewhere.test/' } }),
      'redirects are not followed',
    ],
    [
      'a body over maxResponseBytes',
      () => json({ request_uri: REQUEST_URI, pad: 'x'.repeat(5000) }, 201),
      'over',
    ],
  ])('%s → ERR_INVALID_RESPONSE, quoting nothing of the body', async (_name, answer, problem) => {
    const { fake } = fakeWithPAR(answer)
    const err = await failure(parAccess(fake, { maxResponseBytes: 4096 }))
    expect(err).toMatchObject({ name: 'OngoingAccessError', code: 'ERR_INVALID_RESPONSE' })
    expect(err.message).toContain(problem)
    expect(err.message).not.toContain('abc123')
    expect(err.message).not.toContain('app-secret')
    expect(httpStatusOf(err)).toBe(502)
  })

  it('an OAuth error answer is ERR_TOKEN_ENDPOINT with the server’s error and description', async () => {
    const { fake } = fakeWithPAR(() =>
      json({ error: 'invalid_request', error_description: 'scope not allowed' }, 400),
    )
    const err = await failure(parAccess(fake))
    expect(err).toMatchObject({
      code: 'ERR_TOKEN_ENDPOINT',
      status: 400,
      oauthError: 'invalid_request',
      oauthErrorDescription: 'scope not allowed',
      message: 'Pushed authorization request endpoint answered with an error: invalid_request (status 400)',
    })
    expect(httpStatusOf(err)).toBe(502)
  })

  it('a 5xx without a body, and an error in a 201 body, are ERR_TOKEN_ENDPOINT', async () => {
    const { fake } = fakeWithPAR(() => new Response('upstream down', { status: 503 }))
    expect(await failure(parAccess(fake))).toMatchObject({ code: 'ERR_TOKEN_ENDPOINT', status: 503 })
    const odd = fakeWithPAR(() => json({ error: 'server_error' }, 201))
    expect(await failure(parAccess(odd.fake))).toMatchObject({
      code: 'ERR_TOKEN_ENDPOINT',
      oauthError: 'server_error',
    })
  })

  it('invalid_client to client_secret_basic with an encoded secret carries the hint, never the secret', async () => {
    const secret = 'p@ss word+/=%:&-secret'
    const { fake } = fakeWithPAR(() => json({ error: 'invalid_client' }, 401))
    const err = await failure(parAccess(fake, { client: { id: 'app', secret } }))
    expect(err).toMatchObject({ code: 'ERR_TOKEN_ENDPOINT', oauthError: 'invalid_client', status: 401 })
    expect(err.message).toContain('client_secret_post')
    expect(err.message).not.toContain(secret)
  })

  it('a push with no answer within requestTimeoutMs is ERR_NETWORK', async () => {
    const { fake } = fakeWithPAR(
      (_body, request) =>
        new Promise<Response>((_, reject) => {
          request.signal.addEventListener('abort', () => reject(request.signal.reason), { once: true })
        }),
    )
    const started = Date.now()
    const err = await failure(parAccess(fake, { requestTimeoutMs: 100 }))
    expect(err).toMatchObject({ code: 'ERR_NETWORK' })
    expect(err.message).toBe('pushed authorization request endpoint: no answer within 100 ms')
    expect(Date.now() - started).toBeLessThan(2_000)
    expect(httpStatusOf(err)).toBe(503)
  })

  it('a push to a fetch that ignores the abort signal still ends at requestTimeoutMs', async () => {
    const { fake } = fakeWithPAR(() => new Promise<Response>(() => {}))
    expect(await failure(parAccess(fake, { requestTimeoutMs: 100 }))).toMatchObject({ code: 'ERR_NETWORK' })
  })

  it('a refused connection is ERR_NETWORK', async () => {
    const { fake } = fakeWithPAR(() => {
      throw new TypeError('fetch failed', {
        cause: Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }),
      })
    })
    const err = await failure(parAccess(fake))
    expect(err).toMatchObject({ code: 'ERR_NETWORK', message: expect.stringContaining('ECONNREFUSED') })
  })

  it('with explicit endpoints, pushes to endpoints.pushedAuthorizationRequest', async () => {
    const { fake, pushes } = fakeWithPAR(created)
    const access = parAccess(fake, {
      endpoints: {
        authorization: `${ISSUER}/authorize`,
        token: `${ISSUER}/token`,
        pushedAuthorizationRequest: PAR_ENDPOINT,
      },
    })
    const { url } = await access.startConsent({ userKey: 'alice' })
    expect([...url.searchParams.keys()]).toEqual(['client_id', 'request_uri'])
    expect(pushes).toHaveLength(1)
  })
})

describe('the option is validated at construction', () => {
  const base = {
    issuer: ISSUER,
    client: { id: 'app', secret: 's' },
    redirectUri: 'https://app.test/auth/callback',
    scope: 'offline_access',
    secret: 'a-test-secret-that-is-long-enough-1234567890',
  }
  const endpoints = { authorization: `${ISSUER}/authorize`, token: `${ISSUER}/token` }

  it.each<[string, Record<string, unknown>, RegExp]>([
    [
      'a non-boolean option',
      { pushedAuthorizationRequests: 'yes' },
      /`pushedAuthorizationRequests` must be a boolean/,
    ],
    [
      'a relative endpoints.pushedAuthorizationRequest',
      { endpoints: { ...endpoints, pushedAuthorizationRequest: '/par' } },
      /`endpoints\.pushedAuthorizationRequest` must be an absolute http\(s\) URL/,
    ],
    [
      'a plain-http endpoints.pushedAuthorizationRequest off loopback',
      { endpoints: { ...endpoints, pushedAuthorizationRequest: 'http://as.test/par' } },
      /`endpoints\.pushedAuthorizationRequest` uses plain http/,
    ],
  ])('%s → TypeError', (_name, patch, message) => {
    expect(() => new OngoingAccess({ ...base, ...patch } as OngoingAccessOptions)).toThrow(message)
  })

  it('does not go with a profile', () => {
    const profile: Profile = { name: 'toy', create: () => ({}) as never }
    expect(
      () =>
        new OngoingAccess({
          profile,
          redirectUri: base.redirectUri,
          secret: base.secret,
          pushedAuthorizationRequests: true,
        }),
    ).toThrow(/`pushedAuthorizationRequests` does not go with `profile`/)
  })
})
