import { OngoingAccess } from '@ongoing/core'
import { startTestAuthorizationServer, type TestAuthorizationServer } from '@ongoing/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { APP_SECRET, accessFor, consentAs, REDIRECT_URI } from './real-as.js'

/** A fetch that records the path of every request it passes on. */
function recordingFetch() {
  const paths: string[] = []
  const wrapped: typeof fetch = (input, init) => {
    paths.push(new URL(input instanceof Request ? input.url : String(input)).pathname)
    return fetch(input, init)
  }
  return { paths, fetch: wrapped }
}

// oidc-provider takes printable ASCII only (RFC 6749 Appendix A.2 VSCHAR).
const SPECIAL_SECRET = 'p@ss word+/=%:&-long-enough-secret'

describe('against a server that does not support every client authentication', () => {
  let as: TestAuthorizationServer
  beforeAll(async () => {
    as = await startTestAuthorizationServer({
      clientAuthMethods: ['client_secret_post', 'private_key_jwt'],
      clientAuthSigningAlgorithms: ['RS256'],
      confidentialClientSecret: SPECIAL_SECRET,
    })
  }, 20_000)
  afterAll(() => as?.close())

  it('regression (issue 18): client_secret_basic is refused by ready() and startConsent, before any token call', async () => {
    const recorded = recordingFetch()
    const access = accessFor(as, { client: as.clients.confidential, fetch: recorded.fetch })
    as.resetStats()
    const expected = {
      name: 'OngoingAccessError',
      code: 'ERR_CONFIGURATION',
      message:
        'Authorization server does not support this client: the client authenticates with client_secret_basic ' +
        '(`client.authMethod`), but the server lists token_endpoint_auth_methods_supported: client_secret_post, ' +
        'private_key_jwt',
    }
    await expect(access.ready()).rejects.toMatchObject(expected)
    await expect(access.startConsent({ userKey: 'basic-user' })).rejects.toMatchObject(expected)
    expect(as.stats().tokenCalls).toMatchObject({ authorization_code: 0, refresh_token: 0 })
    expect(recorded.paths.every((path) => path.startsWith('/.well-known/'))).toBe(true)
  })

  it('regression (issue 18): private_key_jwt with an algorithm the server does not list is refused', async () => {
    const recorded = recordingFetch()
    const access = new OngoingAccess({
      issuer: as.issuer,
      client: { id: as.clients.privateKeyJwt.id, privateKey: as.clients.privateKeyJwt.keys.ES256 as never },
      redirectUri: REDIRECT_URI,
      scope: 'offline_access api:read',
      secret: APP_SECRET,
      fetch: recorded.fetch,
    })
    as.resetStats()
    await expect(access.startConsent({ userKey: 'pk-user' })).rejects.toMatchObject({
      code: 'ERR_CONFIGURATION',
      message: expect.stringMatching(
        /with ES256 \(`client\.alg`\), but the server lists token_endpoint_auth_signing_alg_values_supported: RS256$/,
      ),
    })
    expect(as.stats().tokenCalls).toMatchObject({ authorization_code: 0, refresh_token: 0 })
    expect(recorded.paths.every((path) => path.startsWith('/.well-known/'))).toBe(true)
  })

  it('regression (issue 18): the supported choices work end to end, a secret with special characters included', async () => {
    const post = accessFor(as, { client: { ...as.clients.confidential, authMethod: 'client_secret_post' } })
    await expect(post.ready()).resolves.toMatchObject({
      tokenEndpointAuthMethods: ['client_secret_post', 'private_key_jwt'],
    })
    await consentAs(post, 'post-user')
    expect((await post.getAccessToken('post-user', { forceRefresh: true })).refreshed).toBe(true)

    const rs256 = new OngoingAccess({
      issuer: as.issuer,
      client: { id: as.clients.privateKeyJwt.id, privateKey: as.clients.privateKeyJwt.keys.RS256 as never },
      redirectUri: REDIRECT_URI,
      scope: 'offline_access api:read',
      secret: APP_SECRET,
    })
    await consentAs(rs256, 'rs256-user')
  }, 20_000)
})

describe('invalid_client with a secret client_secret_basic form-encodes', () => {
  let as: TestAuthorizationServer
  beforeAll(async () => {
    as = await startTestAuthorizationServer({ confidentialClientSecret: SPECIAL_SECRET })
  }, 20_000)
  afterAll(() => as?.close())

  it('regression (issue 18): the error names client_secret_post and never the secret', async () => {
    const wrong = `${SPECIAL_SECRET}-but-wrong`
    const access = accessFor(as, { client: { id: as.clients.confidential.id, secret: wrong } })
    const err = await consentAs(access, 'wrong-secret-user').then(
      () => undefined,
      (e: Error) => e,
    )
    expect(err).toMatchObject({ code: 'ERR_TOKEN_ENDPOINT', oauthError: 'invalid_client', status: 401 })
    expect(err!.message).toBe(
      'Token endpoint answered with an error: invalid_client (status 401). The client secret has characters that ' +
        'client_secret_basic form-encodes before base64 (RFC 6749 §2.3.1), which some servers do not decode: ' +
        "try `client: { id, secret, authMethod: 'client_secret_post' }`.",
    )
    for (const part of [wrong, SPECIAL_SECRET, encodeURIComponent(SPECIAL_SECRET), 'p@ss'])
      expect(err!.message).not.toContain(part)
  }, 20_000)

  it('this server decodes the form-encoded secret, so the right one works with either method', async () => {
    for (const authMethod of ['client_secret_basic', 'client_secret_post'] as const) {
      const access = accessFor(as, { client: { ...as.clients.confidential, authMethod } })
      await consentAs(access, `special-${authMethod}`)
    }
  }, 20_000)
})
