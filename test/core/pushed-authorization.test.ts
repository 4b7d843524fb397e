import { type ClientOptions, MemoryTokenStore, type OngoingAccess } from '@ongoing/core'
import { driveConsent, startTestAuthorizationServer, type TestAuthorizationServer } from '@ongoing/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { accessFor, consentAs, REDIRECT_URI, recordTokenTraffic } from './real-as.js'

/** What one POST to the pushed authorization request endpoint carried. */
interface Push {
  url: string
  authorization: string | null
  body: URLSearchParams
}

/** A fetch that records every push, and the path of every request. */
function recordPushes(as: TestAuthorizationServer, inner: typeof fetch = fetch) {
  const pushes: Push[] = []
  const paths: string[] = []
  const wrapped: typeof fetch = (input, init) => {
    const url = input instanceof Request ? input.url : String(input)
    paths.push(new URL(url).pathname)
    if (url.startsWith(`${as.issuer}/request`)) {
      pushes.push({
        url,
        authorization: new Headers(init?.headers).get('authorization'),
        body: new URLSearchParams(init?.body as URLSearchParams),
      })
    }
    return inner(input, init)
  }
  return { pushes, paths, fetch: wrapped }
}

const PUSHED_KEYS = [
  'client_id',
  'code_challenge',
  'code_challenge_method',
  'prompt',
  'redirect_uri',
  'response_type',
  'scope',
  'state',
]

/** Starts a consent and checks its URL is RFC 9126 §4's: the authorization endpoint, `client_id` and `request_uri`. */
async function startPushed(
  as: TestAuthorizationServer,
  access: OngoingAccess,
  userKey: string,
  clientId: string,
) {
  const started = await access.startConsent({ userKey, returnTo: '/after' })
  expect(started.url.origin + started.url.pathname).toBe(`${as.issuer}/auth`)
  expect([...started.url.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri'])
  expect(started.url.searchParams.get('client_id')).toBe(clientId)
  expect(started.url.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:[\w-]+$/)
  for (const value of [started.state, started.codeVerifier, started.transaction])
    expect(started.url.href).not.toContain(value)
  return started
}

async function finish(
  access: OngoingAccess,
  started: Awaited<ReturnType<typeof startPushed>>,
  login: string,
) {
  const callbackUrl = await driveConsent(started.url, { redirectUriPrefix: REDIRECT_URI, login })
  return access.finishConsent({ callbackUrl, transaction: started.transaction })
}

describe('against a server that requires pushed authorization requests (strict rotation)', () => {
  let as: TestAuthorizationServer
  beforeAll(async () => {
    as = await startTestAuthorizationServer({
      pushedAuthorizationRequests: 'required',
      rotateRefreshToken: true,
    })
  })
  afterAll(() => as?.close())

  it('pushes every consent without the option: the redirect carries only client_id and request_uri; the exchange and refreshes work', async () => {
    const traffic = recordTokenTraffic(as)
    const recorded = recordPushes(as, traffic.fetch)
    const access = accessFor(as, { fetch: recorded.fetch })
    await expect(access.ready()).resolves.toMatchObject({
      pushedAuthorizationRequest: `${as.issuer}/request`,
      requirePushedAuthorizationRequests: true,
    })
    as.resetStats()

    const started = await startPushed(as, access, 'alice', as.clients.confidential.id)
    expect(as.stats()).toMatchObject({ pushedAuthorizationRequests: 1, tokenCalls: { total: 0 } })
    // The push carried the whole request, the PKCE challenge and never the verifier, and
    // authenticated with client_secret_basic: the secret in the header, not in the URL or body.
    expect(recorded.pushes).toHaveLength(1)
    const [push] = recorded.pushes as [Push]
    expect(push.url).toBe(`${as.issuer}/request`)
    expect([...push.body.keys()].sort()).toEqual(PUSHED_KEYS)
    expect(Object.fromEntries(push.body)).toMatchObject({
      response_type: 'code',
      client_id: as.clients.confidential.id,
      redirect_uri: REDIRECT_URI,
      scope: 'offline_access api:read',
      state: started.state,
      code_challenge_method: 'S256',
      prompt: 'consent',
    })
    expect(push.body.toString()).not.toContain(started.codeVerifier)
    expect(push.authorization).toMatch(/^Basic /)
    expect(push.body.toString()).not.toContain(as.clients.confidential.secret)

    const consented = await finish(access, started, 'alice')
    expect(consented).toMatchObject({ userKey: 'alice', returnTo: '/after', token: { refreshed: false } })
    expect(as.stats().tokenCalls).toMatchObject({ authorization_code: 1, refresh_token: 0 })

    // Strict rotation: each refresh presents the newest refresh token, none twice.
    let previous = consented.token.value
    for (let round = 1; round <= 2; round++) {
      const token = await access.getAccessToken('alice', { forceRefresh: true })
      expect(token.refreshed).toBe(true)
      expect(token.value).not.toBe(previous)
      previous = token.value
    }
    expect(traffic.refreshTokensSent).toHaveLength(2)
    expect(new Set(traffic.refreshTokensSent).size).toBe(2)
    expect(as.stats()).toMatchObject({
      pushedAuthorizationRequests: 1,
      tokenCalls: { authorization_code: 1, refresh_token: 2 },
      refreshTokenReuse: 0,
      grantsRevoked: 0,
    })
  })

  it.each<[string, (as: TestAuthorizationServer) => ClientOptions]>([
    ['client_secret_post', (as) => ({ ...as.clients.confidential, authMethod: 'client_secret_post' })],
    [
      'private_key_jwt',
      (as) => ({ id: as.clients.privateKeyJwt.id, privateKey: as.clients.privateKeyJwt.keys.ES256 as never }),
    ],
    ['none (a public client)', (as) => as.clients.public],
  ])('pushes authenticated with %s, like a token request', async (_method, clientOf) => {
    const client = clientOf(as)
    const recorded = recordPushes(as)
    const access = accessFor(as, { client, fetch: recorded.fetch })
    as.resetStats()
    const started = await startPushed(as, access, 'bob', client.id)
    await finish(access, started, 'bob')
    expect((await access.getAccessToken('bob', { forceRefresh: true })).refreshed).toBe(true)
    expect(as.stats()).toMatchObject({
      pushedAuthorizationRequests: 1,
      tokenCalls: { authorization_code: 1, refresh_token: 1 },
    })
    const [push] = recorded.pushes as [Push]
    expect(push.url).toBe(`${as.issuer}/request`) // nothing of the client in the URL
    expect(push.authorization).toBeNull()
    expect(push.body.get('client_id')).toBe(client.id)
    expect(push.body.has('code_verifier')).toBe(false)
    if ('secret' in client) expect(push.body.get('client_secret')).toBe(client.secret)
    if ('privateKey' in client)
      expect(push.body.get('client_assertion_type')).toBe(
        'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      )
  })

  it('a push refused for a wrong client secret is ERR_TOKEN_ENDPOINT invalid_client: no secret in the message, nothing stored, no token call', async () => {
    const store = new MemoryTokenStore()
    const wrong = 'not-the-secret-of-this-client'
    const access = accessFor(as, { client: { id: as.clients.confidential.id, secret: wrong }, store })
    as.resetStats()
    const err = await access.startConsent({ userKey: 'carol' }).catch((e: unknown) => e)
    expect(err).toMatchObject({
      name: 'OngoingAccessError',
      code: 'ERR_TOKEN_ENDPOINT',
      status: 401,
      oauthError: 'invalid_client',
      message: 'Pushed authorization request endpoint answered with an error: invalid_client (status 401)',
    })
    expect(JSON.stringify(err)).not.toContain(wrong)
    expect(await access.inspect('carol')).toBeUndefined()
    expect(as.stats()).toMatchObject({ pushedAuthorizationRequests: 1, tokenCalls: { total: 0 } })
  })

  it('a push refused for an unregistered redirect_uri is ERR_TOKEN_ENDPOINT, with the server’s error', async () => {
    const recorded = recordPushes(as)
    const access = accessFor(as, {
      redirectUri: 'http://127.0.0.1:3999/not-registered',
      fetch: recorded.fetch,
    })
    as.resetStats()
    const err = await access.startConsent({ userKey: 'dan' }).catch((e: unknown) => e)
    expect(err).toMatchObject({
      code: 'ERR_TOKEN_ENDPOINT',
      status: 400,
      // oidc-provider answers an unregistered redirect_uri in a push with invalid_request.
      oauthError: 'invalid_request',
      oauthErrorDescription: expect.stringMatching(/redirect_uri/),
    })
    const [push] = recorded.pushes as [Push]
    const challenge = push.body.get('code_challenge') as string
    const state = push.body.get('state') as string
    expect(JSON.stringify(err)).not.toContain(challenge)
    expect(JSON.stringify(err)).not.toContain(state)
    expect((err as Error).message).not.toContain(as.clients.confidential.secret)
    expect(as.stats()).toMatchObject({ pushedAuthorizationRequests: 1, tokenCalls: { total: 0 } })
  })
})

describe('against a server that offers pushed authorization requests without requiring them', () => {
  let as: TestAuthorizationServer
  beforeAll(async () => {
    as = await startTestAuthorizationServer()
  })
  afterAll(() => as?.close())

  it('with `pushedAuthorizationRequests: true` every consent is pushed, and the grant works', async () => {
    const access = accessFor(as, { pushedAuthorizationRequests: true })
    await expect(access.ready()).resolves.toMatchObject({ requirePushedAuthorizationRequests: false })
    as.resetStats()
    await finish(access, await startPushed(as, access, 'erin', as.clients.confidential.id), 'erin')
    expect((await access.getAccessToken('erin', { forceRefresh: true })).refreshed).toBe(true)
    expect(as.stats()).toMatchObject({
      pushedAuthorizationRequests: 1,
      tokenCalls: { authorization_code: 1, refresh_token: 1 },
    })
  })

  it('without the option nothing is pushed: the request travels in the URL, as before', async () => {
    const access = accessFor(as)
    as.resetStats()
    const started = await access.startConsent({ userKey: 'fay' })
    expect([...started.url.searchParams.keys()].sort()).toEqual(PUSHED_KEYS)
    await consentAs(access, 'fay')
    expect(as.stats().pushedAuthorizationRequests).toBe(0)
  })

  it('with explicit `endpoints`, pushes to `endpoints.pushedAuthorizationRequest`', async () => {
    const endpoints = { authorization: `${as.issuer}/auth`, token: `${as.issuer}/token` }
    const access = accessFor(as, {
      pushedAuthorizationRequests: true,
      endpoints: { ...endpoints, pushedAuthorizationRequest: `${as.issuer}/request` },
    })
    as.resetStats()
    await finish(access, await startPushed(as, access, 'gus', as.clients.confidential.id), 'gus')
    expect(as.stats()).toMatchObject({
      pushedAuthorizationRequests: 1,
      tokenCalls: { authorization_code: 1 },
    })

    const without = accessFor(as, { pushedAuthorizationRequests: true, endpoints })
    await expect(without.ready()).rejects.toMatchObject({
      code: 'ERR_CONFIGURATION',
      message: expect.stringContaining('give `endpoints.pushedAuthorizationRequest`'),
    })
  })
})

describe('against a server that does not offer pushed authorization requests', () => {
  let as: TestAuthorizationServer
  beforeAll(async () => {
    as = await startTestAuthorizationServer({ pushedAuthorizationRequests: false })
  })
  afterAll(() => as?.close())

  it('`pushedAuthorizationRequests: true` is refused by ready() and startConsent with ERR_CONFIGURATION naming the option', async () => {
    const recorded = recordPushes(as)
    const access = accessFor(as, { pushedAuthorizationRequests: true, fetch: recorded.fetch })
    as.resetStats()
    const expected = {
      name: 'OngoingAccessError',
      code: 'ERR_CONFIGURATION',
      message:
        'Authorization server does not support this client: the client pushes its authorization requests ' +
        '(`pushedAuthorizationRequests: true`, RFC 9126), but the server names no pushed_authorization_request_endpoint ' +
        '(with explicit `endpoints`, give `endpoints.pushedAuthorizationRequest`)',
    }
    await expect(access.ready()).rejects.toMatchObject(expected)
    await expect(access.startConsent({ userKey: 'hal' })).rejects.toMatchObject(expected)
    expect(recorded.paths.length).toBeGreaterThan(0)
    expect(recorded.paths.every((path) => path.startsWith('/.well-known/'))).toBe(true)
    expect(as.stats()).toMatchObject({ pushedAuthorizationRequests: 0, tokenCalls: { total: 0 } })

    // The same access without the option consents the usual way.
    await consentAs(accessFor(as), 'hal')
  })
})
