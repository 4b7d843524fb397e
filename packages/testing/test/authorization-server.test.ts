import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { driveConsent, startTestAuthorizationServer, type TestAuthorizationServer } from '../src/index.js'
import {
  buildAuthorizationRequest,
  type ClientAuth,
  obtainTokens,
  REDIRECT_URI,
  refresh,
  tokenRequest,
} from './oauth-client.js'

describe('startTestAuthorizationServer', () => {
  let as: TestAuthorizationServer
  let basic: ClientAuth

  beforeAll(async () => {
    as = await startTestAuthorizationServer({ accessTokenTTLSeconds: 42 })
    basic = { method: 'client_secret_basic', ...as.clients.confidential }
  })
  afterAll(() => as.close())

  it('listens on a loopback issuer without a trailing slash', async () => {
    expect(as.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(as.url.href).toBe(`${as.issuer}/`)
    const discovery = await fetch(new URL('/.well-known/openid-configuration', as.issuer))
    const metadata = (await discovery.json()) as Record<string, unknown>
    expect(metadata.issuer).toBe(as.issuer)
    expect(metadata.authorization_response_iss_parameter_supported).toBe(true)
    expect(metadata.code_challenge_methods_supported).toEqual(['S256'])
    expect(metadata.revocation_endpoint).toBe(`${as.issuer}/token/revocation`)
    const rfc8414 = await fetch(new URL('/.well-known/oauth-authorization-server', as.issuer))
    expect(((await rfc8414.json()) as Record<string, unknown>).issuer).toBe(as.issuer)
  })

  it('runs the code flow: callback with code, state and iss, then tokens for client_secret_basic', async () => {
    as.resetStats()
    const request = buildAuthorizationRequest(as, as.clients.confidential.id)
    const callback = await driveConsent(request.url, { redirectUriPrefix: REDIRECT_URI })

    expect(callback.origin + callback.pathname).toBe(REDIRECT_URI)
    expect(callback.searchParams.get('state')).toBe(request.state)
    expect(callback.searchParams.get('iss')).toBe(as.issuer)
    const code = callback.searchParams.get('code')
    expect(code).toBeTruthy()

    const { status, body } = await tokenRequest(as, basic, {
      grant_type: 'authorization_code',
      code: code!,
      redirect_uri: REDIRECT_URI,
      code_verifier: request.codeVerifier,
    })
    expect(status).toBe(200)
    expect(body.access_token).toEqual(expect.any(String))
    expect(body.refresh_token).toEqual(expect.any(String))
    expect(body.id_token).toEqual(expect.any(String))
    expect(body.token_type).toBe('Bearer')
    expect(body.expires_in).toBe(42)
    expect(body.scope?.split(' ').sort()).toEqual(['api:read', 'offline_access', 'openid'])
    expect(as.stats().tokenCalls).toEqual({ authorization_code: 1, refresh_token: 0, total: 1 })
  })

  it('uses the login name as the account id', async () => {
    const { body } = await obtainTokens(as, basic, { login: 'carol' })
    const userinfo = await fetch(new URL('/me', as.issuer), {
      headers: { authorization: `Bearer ${body.access_token}` },
    })
    expect(await userinfo.json()).toEqual({ sub: 'carol' })
  })

  it('accepts client_secret_post for the confidential client', async () => {
    const { status, body } = await obtainTokens(as, {
      method: 'client_secret_post',
      ...as.clients.confidential,
    })
    expect(status).toBe(200)
    expect(body.refresh_token).toEqual(expect.any(String))
  })

  it('rejects a wrong client secret with invalid_client, and counts the failed call', async () => {
    as.resetStats()
    const { status, body } = await refresh(as, { ...basic, secret: 'wrong' } as ClientAuth, 'whatever')
    expect(status).toBe(401)
    expect(body.error).toBe('invalid_client')
    expect(as.stats().tokenCalls).toEqual({ authorization_code: 0, refresh_token: 1, total: 1 })
  })

  it.each(['RS256', 'PS256', 'PS512', 'ES256', 'EdDSA'] as const)(
    'accepts private_key_jwt signed with %s',
    async (alg) => {
      const auth: ClientAuth = {
        method: 'private_key_jwt',
        id: as.clients.privateKeyJwt.id,
        key: as.clients.privateKeyJwt.keys[alg],
      }
      const first = await obtainTokens(as, auth)
      expect(first.status).toBe(200)
      const second = await refresh(as, auth, first.body.refresh_token)
      expect(second.status).toBe(200)
      expect(second.body.access_token).toEqual(expect.any(String))
    },
  )

  it('hands out one private JWK per algorithm, with its kid and alg', () => {
    // oidc-provider refuses client JWKS with private members, so the server holds public halves.
    for (const [alg, key] of Object.entries(as.clients.privateKeyJwt.keys)) {
      expect(key).toMatchObject({ alg, kid: expect.any(String), d: expect.any(String) })
    }
  })

  it('serves a public client with PKCE and no secret', async () => {
    const { status, body } = await obtainTokens(as, { method: 'none', id: as.clients.public.id })
    expect(status).toBe(200)
    expect(body.refresh_token).toEqual(expect.any(String))
  })

  it('requires PKCE: a request without code_challenge is refused on the callback', async () => {
    const request = buildAuthorizationRequest(as, as.clients.confidential.id, {})
    request.url.searchParams.delete('code_challenge')
    request.url.searchParams.delete('code_challenge_method')
    const callback = await driveConsent(request.url, { redirectUriPrefix: REDIRECT_URI })
    expect(callback.searchParams.get('error')).toBe('invalid_request')
    expect(callback.searchParams.get('code')).toBeNull()
  })

  it('accepts only the S256 code challenge method', async () => {
    const request = buildAuthorizationRequest(as, as.clients.confidential.id, {
      code_challenge_method: 'plain',
    })
    const callback = await driveConsent(request.url, { redirectUriPrefix: REDIRECT_URI })
    expect(callback.searchParams.get('error')).toBe('invalid_request')
  })

  it('rejects a wrong code_verifier with invalid_grant', async () => {
    const request = buildAuthorizationRequest(as, as.clients.confidential.id)
    const callback = await driveConsent(request.url, { redirectUriPrefix: REDIRECT_URI })
    const { status, body } = await tokenRequest(as, basic, {
      grant_type: 'authorization_code',
      code: callback.searchParams.get('code')!,
      redirect_uri: REDIRECT_URI,
      code_verifier: 'x'.repeat(43),
    })
    expect(status).toBe(400)
    expect(body.error).toBe('invalid_grant')
  })

  it('returns error=access_denied with state and iss when the user cancels at the consent page', async () => {
    const request = buildAuthorizationRequest(as, as.clients.confidential.id)
    const callback = await driveConsent(request.url, { redirectUriPrefix: REDIRECT_URI, approve: false })
    expect(callback.searchParams.get('error')).toBe('access_denied')
    expect(callback.searchParams.get('state')).toBe(request.state)
    expect(callback.searchParams.get('iss')).toBe(as.issuer)
    expect(callback.searchParams.get('code')).toBeNull()
  })

  it('issues a refresh token to a plain OAuth 2.0 request (no openid, no prompt=consent)', async () => {
    const request = buildAuthorizationRequest(as, as.clients.confidential.id, {
      scope: 'offline_access api:read',
    })
    request.url.searchParams.delete('prompt')
    const callback = await driveConsent(request.url, { redirectUriPrefix: REDIRECT_URI })
    expect(callback.searchParams.get('iss')).toBe(as.issuer)
    const { status, body } = await tokenRequest(as, basic, {
      grant_type: 'authorization_code',
      code: callback.searchParams.get('code')!,
      redirect_uri: REDIRECT_URI,
      code_verifier: request.codeVerifier,
    })
    expect(status).toBe(200)
    expect(body.refresh_token).toEqual(expect.any(String))
    expect(body.id_token).toBeUndefined()
    // Without prompt=consent oidc-provider drops offline_access from the request (OIDC Core 11).
    expect(body.scope).toBe('api:read')
    expect((await refresh(as, basic, body.refresh_token)).status).toBe(200)
  })

  it('accepts a loopback redirect URI on any port', async () => {
    const redirectUri = 'http://127.0.0.1:39999/auth/callback'
    const request = buildAuthorizationRequest(as, as.clients.confidential.id, { redirect_uri: redirectUri })
    const callback = await driveConsent(request.url, { redirectUriPrefix: redirectUri })
    expect(callback.searchParams.get('code')).toBeTruthy()
  })

  it('rejects an unregistered redirect URI without redirecting to it', async () => {
    const request = buildAuthorizationRequest(as, as.clients.confidential.id, {
      redirect_uri: 'http://127.0.0.1:4567/elsewhere',
    })
    await expect(driveConsent(request.url, { redirectUriPrefix: 'http://127.0.0.1:4567/' })).rejects.toThrow(
      /400.*invalid_redirect_uri/,
    )
  })

  it('rotates refresh tokens; reusing a rotated one gets invalid_grant and revokes the grant', async () => {
    const { body: initial } = await obtainTokens(as, basic)
    as.resetStats()

    const rotated = await refresh(as, basic, initial.refresh_token)
    expect(rotated.status).toBe(200)
    expect(rotated.body.refresh_token).toEqual(expect.any(String))
    expect(rotated.body.refresh_token).not.toBe(initial.refresh_token)
    expect(rotated.body.expires_in).toBe(42)

    const reuse = await refresh(as, basic, initial.refresh_token)
    expect(reuse.status).toBe(400)
    expect(reuse.body.error).toBe('invalid_grant')

    const afterReuse = await refresh(as, basic, rotated.body.refresh_token)
    expect(afterReuse.status).toBe(400)
    expect(afterReuse.body.error).toBe('invalid_grant')

    expect(as.stats()).toEqual({
      tokenCalls: { authorization_code: 0, refresh_token: 3, total: 3 },
      grantsRevoked: 1,
      refreshTokenReuse: 1,
      revocationCalls: 0,
      pushedAuthorizationRequests: 0,
    })
  })

  it('detects concurrent use of one refresh token: one request wins, the grant is revoked', async () => {
    const { body: initial } = await obtainTokens(as, basic)
    as.resetStats()

    const results = await Promise.all([
      refresh(as, basic, initial.refresh_token),
      refresh(as, basic, initial.refresh_token),
    ])
    expect(results.map((result) => result.status).sort()).toEqual([200, 400])
    const winner = results.find((result) => result.status === 200)!
    const loser = results.find((result) => result.status === 400)!
    expect(loser.body.error).toBe('invalid_grant')

    const next = await refresh(as, basic, winner.body.refresh_token)
    expect(next.status).toBe(400)
    expect(next.body.error).toBe('invalid_grant')
    expect(as.stats()).toMatchObject({ grantsRevoked: 1, refreshTokenReuse: 1 })
    expect(as.stats().tokenCalls.refresh_token).toBe(3)
  })

  it('revokes the grant when the refresh token is revoked (RFC 7009)', async () => {
    const { body } = await obtainTokens(as, basic)
    as.resetStats()
    const revocation = await fetch(new URL('/token/revocation', as.issuer), {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${as.clients.confidential.id}:${as.clients.confidential.secret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ token: body.refresh_token!, token_type_hint: 'refresh_token' }),
    })
    expect(revocation.status).toBe(200)
    expect((await refresh(as, basic, body.refresh_token)).body.error).toBe('invalid_grant')
    expect(as.stats()).toMatchObject({ revocationCalls: 1, grantsRevoked: 1 })
  })

  it('revokeGrantsOf kills every grant of that user and no one else', async () => {
    const dave1 = await obtainTokens(as, basic, { login: 'dave' })
    const dave2 = await obtainTokens(as, { method: 'none', id: as.clients.public.id }, { login: 'dave' })
    const erin = await obtainTokens(as, basic, { login: 'erin' })
    as.resetStats()

    await as.revokeGrantsOf('dave')

    expect((await refresh(as, basic, dave1.body.refresh_token)).body.error).toBe('invalid_grant')
    expect(
      (await refresh(as, { method: 'none', id: as.clients.public.id }, dave2.body.refresh_token)).body.error,
    ).toBe('invalid_grant')
    expect((await refresh(as, basic, erin.body.refresh_token)).status).toBe(200)
    expect(as.stats().grantsRevoked).toBe(2)

    const again = await obtainTokens(as, basic, { login: 'dave' })
    expect(again.status).toBe(200)
    expect((await refresh(as, basic, again.body.refresh_token)).status).toBe(200)
  })

  it('introspects its access tokens', async () => {
    const { body } = await obtainTokens(as, basic, { login: 'frank' })
    const response = await fetch(new URL('/token/introspection', as.issuer), {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${as.clients.confidential.id}:${as.clients.confidential.secret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ token: body.access_token! }),
    })
    expect(await response.json()).toMatchObject({
      active: true,
      sub: 'frank',
      client_id: as.clients.confidential.id,
    })
  })
})

describe('control endpoints', () => {
  let as: TestAuthorizationServer
  beforeAll(async () => {
    as = await startTestAuthorizationServer()
  })
  afterAll(() => as.close())

  it('serves the counters at GET /__ongoing/stats and resets them at POST /__ongoing/reset', async () => {
    const auth: ClientAuth = { method: 'client_secret_basic', ...as.clients.confidential }
    const { body } = await obtainTokens(as, auth)
    await refresh(as, auth, body.refresh_token)

    const stats = await fetch(new URL('/__ongoing/stats', as.issuer))
    expect(stats.headers.get('content-type')).toBe('application/json')
    expect(await stats.json()).toEqual({
      tokenCalls: { authorization_code: 1, refresh_token: 1, total: 2 },
      grantsRevoked: 0,
      refreshTokenReuse: 0,
      revocationCalls: 0,
      pushedAuthorizationRequests: 0,
    })

    expect((await fetch(new URL('/__ongoing/reset', as.issuer), { method: 'POST' })).status).toBe(204)
    expect(as.stats().tokenCalls.total).toBe(0)
  })

  it('revokes a user grants at POST /__ongoing/revoke-grants?accountId=…', async () => {
    const auth: ClientAuth = { method: 'client_secret_basic', ...as.clients.confidential }
    const { body } = await obtainTokens(as, auth, { login: 'grace' })
    const response = await fetch(new URL('/__ongoing/revoke-grants?accountId=grace', as.issuer), {
      method: 'POST',
    })
    expect(response.status).toBe(204)
    expect((await refresh(as, auth, body.refresh_token)).body.error).toBe('invalid_grant')
  })

  it('answers 404 to unknown control paths and 400 to revoke-grants without accountId', async () => {
    expect((await fetch(new URL('/__ongoing/nope', as.issuer))).status).toBe(404)
    expect((await fetch(new URL('/__ongoing/revoke-grants', as.issuer), { method: 'POST' })).status).toBe(400)
  })
})

describe('options', () => {
  it('keeps the refresh token when rotation is off, and allows its reuse', async () => {
    const as = await startTestAuthorizationServer({ rotateRefreshToken: false })
    try {
      const auth: ClientAuth = { method: 'client_secret_basic', ...as.clients.confidential }
      const { body } = await obtainTokens(as, auth)
      const first = await refresh(as, auth, body.refresh_token)
      const second = await refresh(as, auth, body.refresh_token)
      expect([first.status, second.status]).toEqual([200, 200])
      expect(first.body.refresh_token).toBe(body.refresh_token)
      expect(as.stats()).toMatchObject({ grantsRevoked: 0, refreshTokenReuse: 0 })
    } finally {
      await as.close()
    }
  })

  it('expires refresh tokens after refreshTokenTTLSeconds', async () => {
    const as = await startTestAuthorizationServer({ refreshTokenTTLSeconds: 1 })
    try {
      const auth: ClientAuth = { method: 'client_secret_basic', ...as.clients.confidential }
      const { body } = await obtainTokens(as, auth)
      await new Promise((resolve) => setTimeout(resolve, 2_100))
      const expired = await refresh(as, auth, body.refresh_token)
      expect(expired.status).toBe(400)
      expect(expired.body.error).toBe('invalid_grant')
    } finally {
      await as.close()
    }
  })

  it('listens on the requested port', async () => {
    const probe = await startTestAuthorizationServer()
    const port = Number(probe.url.port)
    await probe.close()
    const as = await startTestAuthorizationServer({ port })
    try {
      expect(as.issuer).toBe(`http://127.0.0.1:${port}`)
    } finally {
      await as.close()
    }
  })

  it('accepts extra redirect URIs, custom schemes included', async () => {
    const redirectUri = 'com.example.app:/oauth/callback'
    const as = await startTestAuthorizationServer({ redirectUris: [redirectUri] })
    try {
      const request = buildAuthorizationRequest(as, as.clients.public.id, { redirect_uri: redirectUri })
      const callback = await driveConsent(request.url, { redirectUriPrefix: redirectUri })
      expect(callback.searchParams.get('code')).toBeTruthy()
    } finally {
      await as.close()
    }
  })

  it.each([
    [{ accessTokenTTLSeconds: 0 }, /accessTokenTTLSeconds/],
    [{ refreshTokenTTLSeconds: 1.5 }, /refreshTokenTTLSeconds/],
    [{ port: 70_000 }, /port/],
    [{ redirectUris: ['not a url'] }, /redirectUris/],
    [{ scopes: ['has space'] }, /scopes/],
    [{ pushedAuthorizationRequests: 'always' as never }, /pushedAuthorizationRequests/],
  ])('throws TypeError for %j', async (options, message) => {
    await expect(startTestAuthorizationServer(options)).rejects.toThrow(TypeError)
    await expect(startTestAuthorizationServer(options)).rejects.toThrow(message)
  })
})

describe('pushed authorization requests (RFC 9126)', () => {
  /** Pushes `request` (its query) to the server's PAR endpoint with client_secret_basic. */
  async function push(as: TestAuthorizationServer, request: URL) {
    const { id, secret } = as.clients.confidential
    const response = await fetch(new URL('/request', as.issuer), {
      method: 'POST',
      headers: { authorization: `Basic ${btoa(`${id}:${secret}`)}` },
      body: request.searchParams,
    })
    return { status: response.status, body: (await response.json()) as Record<string, unknown> }
  }

  async function metadataOf(as: TestAuthorizationServer) {
    const response = await fetch(new URL('/.well-known/oauth-authorization-server', as.issuer))
    return (await response.json()) as Record<string, unknown>
  }

  it('offers PAR by default, optional: a plain request and a pushed one both go through', async () => {
    const as = await startTestAuthorizationServer()
    try {
      const metadata = await metadataOf(as)
      expect(metadata.pushed_authorization_request_endpoint).toBe(`${as.issuer}/request`)
      expect(metadata.require_pushed_authorization_requests).toBeUndefined()
      const plain = buildAuthorizationRequest(as, as.clients.confidential.id)
      expect(
        (await driveConsent(plain.url, { redirectUriPrefix: REDIRECT_URI })).searchParams.has('code'),
      ).toBe(true)
      expect(as.stats().pushedAuthorizationRequests).toBe(0)
      const pushed = await push(as, buildAuthorizationRequest(as, as.clients.confidential.id).url)
      expect(pushed.status).toBe(201)
      expect(pushed.body).toEqual({
        request_uri: expect.stringMatching(/^urn:ietf:params:oauth:request_uri:/),
        expires_in: 60,
      })
      expect(as.stats().pushedAuthorizationRequests).toBe(1)
    } finally {
      await as.close()
    }
  })

  it("'required' refuses a request that was not pushed, and takes a pushed one", async () => {
    const as = await startTestAuthorizationServer({ pushedAuthorizationRequests: 'required' })
    try {
      expect(await metadataOf(as)).toMatchObject({
        pushed_authorization_request_endpoint: `${as.issuer}/request`,
        require_pushed_authorization_requests: true,
      })
      const plain = buildAuthorizationRequest(as, as.clients.confidential.id)
      const refused = await driveConsent(plain.url, { redirectUriPrefix: REDIRECT_URI })
      expect(Object.fromEntries(refused.searchParams)).toMatchObject({
        error: 'invalid_request',
        error_description: 'Pushed Authorization Request must be used',
      })
      expect(refused.searchParams.has('code')).toBe(false)

      const request = buildAuthorizationRequest(as, as.clients.confidential.id)
      const pushed = await push(as, request.url)
      expect(pushed.status).toBe(201)
      const url = new URL('/auth', as.issuer)
      url.searchParams.set('client_id', as.clients.confidential.id)
      url.searchParams.set('request_uri', pushed.body.request_uri as string)
      const callback = await driveConsent(url, { redirectUriPrefix: REDIRECT_URI })
      expect(callback.searchParams.get('state')).toBe(request.state)
      const code = callback.searchParams.get('code') as string
      const { status } = await tokenRequest(
        as,
        { method: 'client_secret_basic', ...as.clients.confidential },
        {
          grant_type: 'authorization_code',
          code,
          redirect_uri: REDIRECT_URI,
          code_verifier: request.codeVerifier,
        },
      )
      expect(status).toBe(200)
      expect(as.stats()).toMatchObject({
        pushedAuthorizationRequests: 1,
        tokenCalls: { authorization_code: 1 },
      })
    } finally {
      await as.close()
    }
  })

  it('false offers no PAR endpoint', async () => {
    const as = await startTestAuthorizationServer({ pushedAuthorizationRequests: false })
    try {
      const metadata = await metadataOf(as)
      expect(metadata.pushed_authorization_request_endpoint).toBeUndefined()
      expect(metadata.require_pushed_authorization_requests).toBeUndefined()
      const pushed = await fetch(new URL('/request', as.issuer), { method: 'POST' })
      expect(pushed.status).toBe(404)
      expect(as.stats().pushedAuthorizationRequests).toBe(0)
    } finally {
      await as.close()
    }
  })
})
