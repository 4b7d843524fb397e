import { generateKeyPairSync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import type { OngoingAccess, OngoingAccessOptions } from '../src/index.js'
import { httpStatusOf } from '../src/web/http-status.js'
import { consent, createAccess, createFakeAS, type FakeAS, ISSUER, json } from './fake-as.js'

/** The fake AS, counting discovery requests and every request that is not discovery. */
function countingAS(metadata: Record<string, unknown>) {
  const fake = createFakeAS()
  fake.metadata = metadata
  const seen = { discovery: 0, other: [] as string[] }
  const inner = fake.fetch
  fake.fetch = (input, init) => {
    const url = new URL(new Request(input, init).url)
    if (url.pathname.startsWith('/.well-known/')) seen.discovery++
    else seen.other.push(url.pathname)
    return inner(input, init)
  }
  return { fake, seen }
}

function tokenCalls(fake: FakeAS): number {
  return fake.calls.authorization_code + fake.calls.refresh_token
}

async function refusal(access: OngoingAccess): Promise<Error> {
  const fromReady = await access.ready().then(
    () => undefined,
    (err: Error) => err,
  )
  const fromConsent = await access.startConsent({ userKey: 'u' }).then(
    () => undefined,
    (err: Error) => err,
  )
  expect(fromReady).toMatchObject({ name: 'OngoingAccessError', code: 'ERR_CONFIGURATION' })
  expect(fromConsent).toMatchObject({ code: 'ERR_CONFIGURATION', message: fromReady!.message })
  return fromReady!
}

describe('server support is checked before consent', () => {
  it('regression (issue 18): client_secret_post is refused when the server lists only client_secret_basic', async () => {
    const { fake, seen } = countingAS({ token_endpoint_auth_methods_supported: ['client_secret_basic'] })
    const access = createAccess(fake, {
      client: { id: 'app', secret: 'app-secret', authMethod: 'client_secret_post' },
    })
    const err = await refusal(access)
    expect(err.message).toBe(
      'Authorization server does not support this client: the client authenticates with client_secret_post ' +
        '(`client.authMethod`), but the server lists token_endpoint_auth_methods_supported: client_secret_basic',
    )
    expect(err.message).not.toContain('app-secret')
    expect(httpStatusOf(err)).toBe(500)
    expect(tokenCalls(fake)).toBe(0)
    expect(seen.other).toEqual([])
  })

  it('regression (issue 18): an absent token_endpoint_auth_methods_supported means client_secret_basic only (RFC 8414)', async () => {
    const { fake } = countingAS({})
    const post = createAccess(fake, {
      client: { id: 'app', secret: 'app-secret', authMethod: 'client_secret_post' },
    })
    expect((await refusal(post)).message).toContain(
      'token_endpoint_auth_methods_supported: client_secret_basic',
    )
    const publicClient = createAccess(fake, { client: { id: 'app', authMethod: 'none' } })
    expect((await refusal(publicClient)).message).toContain('authenticates with none')
    // The default method passes.
    await expect(createAccess(fake).ready()).resolves.toMatchObject({
      tokenEndpointAuthMethods: ['client_secret_basic'],
    })
    expect(tokenCalls(fake)).toBe(0)
  })

  it("regression (issue 18): private_key_jwt's algorithm is checked against token_endpoint_auth_signing_alg_values_supported", async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const { fake, seen } = countingAS({
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: ['RS256', 'PS256'],
    })
    const access = createAccess(fake, { client: { id: 'pk-app', privateKey } })
    expect((await refusal(access)).message).toBe(
      'Authorization server does not support this client: the client signs private_key_jwt assertions with ES256 ' +
        '(`client.alg`), but the server lists token_endpoint_auth_signing_alg_values_supported: RS256, PS256',
    )
    expect(tokenCalls(fake)).toBe(0)
    expect(seen.other).toEqual([])
    // A listed algorithm passes.
    fake.metadata = { ...fake.metadata, token_endpoint_auth_signing_alg_values_supported: ['ES256'] }
    await expect(createAccess(fake, { client: { id: 'pk-app', privateKey } }).ready()).resolves.toBeDefined()
  })

  it('regression (issue 18): PKCE S256 is checked against code_challenge_methods_supported; absent allows it', async () => {
    const { fake, seen } = countingAS({ code_challenge_methods_supported: ['plain'] })
    expect((await refusal(createAccess(fake))).message).toBe(
      'Authorization server does not support this client: the client uses PKCE with S256, but the server lists ' +
        'code_challenge_methods_supported: plain',
    )
    expect(seen.other).toEqual([])
    fake.metadata = {}
    const access = createAccess(fake)
    await consent(access)
    expect(fake.calls.authorization_code).toBe(1)
  })

  it('regression (issue 18): ready() discovers once and is cached like metadata(); a refusal is tried again', async () => {
    const { fake, seen } = countingAS({
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'private_key_jwt'],
      code_challenge_methods_supported: ['S256'],
    })
    const access = createAccess(fake)
    const metadata = await access.ready()
    expect(metadata).toMatchObject({ token: `${ISSUER}/token`, codeChallengeMethods: ['S256'] })
    expect(await access.ready()).toBe(metadata)
    expect(await access.metadata()).toBe(metadata)
    expect(seen.discovery).toBe(1)

    const { fake: narrow, seen: narrowSeen } = countingAS({ token_endpoint_auth_methods_supported: ['none'] })
    const refused = createAccess(narrow)
    await expect(refused.ready()).rejects.toMatchObject({ code: 'ERR_CONFIGURATION' })
    narrow.metadata = { token_endpoint_auth_methods_supported: ['client_secret_basic'] }
    await expect(refused.ready()).resolves.toBeDefined()
    expect(narrowSeen.discovery).toBe(2)
  })

  it('with `endpoints` (no discovery) nothing is known, so nothing is refused', async () => {
    const fake = createFakeAS()
    const options: Partial<OngoingAccessOptions> = {
      client: { id: 'app', secret: 'app-secret', authMethod: 'client_secret_post' },
      endpoints: { authorization: `${ISSUER}/authorize`, token: `${ISSUER}/token` },
    }
    await expect(createAccess(fake, options).ready()).resolves.toMatchObject({ token: `${ISSUER}/token` })
  })

  it('regression (issue 18): a malformed list is an invalid response, not a silent pass', async () => {
    const { fake } = countingAS({ token_endpoint_auth_methods_supported: 'client_secret_post' })
    await expect(createAccess(fake).ready()).rejects.toMatchObject({
      code: 'ERR_INVALID_RESPONSE',
      message: expect.stringContaining(
        '`token_endpoint_auth_methods_supported` that is not an array of strings',
      ),
    })
  })
})

describe('client secrets with special characters', () => {
  const SPECIAL = 'p@ss word+/=%:é'
  const invalidClient = () => json({ error: 'invalid_client' }, 401)

  it('regression (issue 18): invalid_client under client_secret_basic with a form-encoded secret names client_secret_post, without the secret', async () => {
    const fake = createFakeAS()
    fake.answer(invalidClient)
    const access = createAccess(fake, { client: { id: 'app', secret: SPECIAL } })
    const err = await consent(access).then(
      () => undefined,
      (e: Error) => e,
    )
    expect(err).toMatchObject({ code: 'ERR_TOKEN_ENDPOINT', oauthError: 'invalid_client', status: 401 })
    expect(err!.message).toBe(
      'Token endpoint answered with an error: invalid_client (status 401). The client secret has characters that ' +
        'client_secret_basic form-encodes before base64 (RFC 6749 §2.3.1), which some servers do not decode: ' +
        "try `client: { id, secret, authMethod: 'client_secret_post' }`.",
    )
    for (const part of [SPECIAL, encodeURIComponent(SPECIAL), 'p@ss'])
      expect(err!.message).not.toContain(part)
    // The secret really was form-encoded in the Basic header.
    expect(fake.calls.authorization_code).toBe(1)
  })

  it('no hint for a secret form-encoding leaves alone, nor under client_secret_post', async () => {
    const fake = createFakeAS()
    fake.metadata = { token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'] }
    fake.answer(invalidClient)
    for (const client of [
      { id: 'app', secret: 'plain-secret_123.~' },
      { id: 'app', secret: SPECIAL, authMethod: 'client_secret_post' as const },
    ]) {
      const err = await consent(createAccess(fake, { client })).then(
        () => undefined,
        (e: Error) => e,
      )
      expect(err!.message).toBe('Token endpoint answered with an error: invalid_client (status 401)')
    }
  })

  it('client_secret_post sends the secret as it is, in the body', async () => {
    const fake = createFakeAS()
    fake.metadata = { token_endpoint_auth_methods_supported: ['client_secret_post'] }
    const access = createAccess(fake, {
      client: { id: 'app', secret: SPECIAL, authMethod: 'client_secret_post' },
    })
    await consent(access)
    expect(fake.bodies[0]!.get('client_secret')).toBe(SPECIAL)
    expect(fake.bodies[0]!.get('client_id')).toBe('app')
  })
})
