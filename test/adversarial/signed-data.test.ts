import { createHmac, createSign, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { OngoingAccessError } from '@ongoing/core'
import { exportJWK, SignJWT } from 'jose'
import { beforeAll, describe, expect, it } from 'vitest'
import { createAccess, createFakeAS, ISSUER, json, tokens } from '../../packages/core/test/fake-as.js'

const b64 = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')
const now = () => Math.floor(Date.now() / 1000)
const claims = (extra: Record<string, unknown> = {}) => ({
  iss: ISSUER,
  aud: 'app',
  sub: 'alice',
  iat: now(),
  exp: now() + 300,
  ...extra,
})

let rsa: { privateKey: KeyObject; publicKey: KeyObject }
let attacker: { privateKey: KeyObject; publicKey: KeyObject }
let publicJwk: Record<string, unknown>

beforeAll(async () => {
  rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  attacker = generateKeyPairSync('rsa', { modulusLength: 2048 })
  publicJwk = { ...(await exportJWK(rsa.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }
})

const sign = (
  payload: Record<string, unknown>,
  header: Record<string, unknown> = {},
  key: KeyObject = rsa.privateKey,
) =>
  new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: 'k1', ...header } as { alg: string }).sign(key)

/** A consent whose token response carries `idToken`: as it is, or made for the nonce the consent sent. */
async function consentWithIdToken(idToken: string | ((nonce: string) => Promise<string>)) {
  const fake = createFakeAS()
  fake.jwks = { keys: [publicJwk] }
  const access = createAccess(fake)
  const { transaction, state, url } = await access.startConsent({
    userKey: 'alice',
    scope: 'openid offline_access',
  })
  const nonce = url.searchParams.get('nonce') as string
  const token = typeof idToken === 'string' ? idToken : await idToken(nonce)
  fake.answer(() => json(tokens({ id_token: token })))
  const result = access.finishConsent({
    callbackUrl: `https://app.test/cb?code=c&state=${state}&iss=${encodeURIComponent(ISSUER)}`,
    transaction,
  })
  return { fake, access, result }
}

async function expectRejected(idToken: string | ((nonce: string) => Promise<string>)) {
  const { result, access, fake } = await consentWithIdToken(idToken)
  const err = await result.catch((e: unknown) => e)
  expect(err).toBeInstanceOf(OngoingAccessError)
  expect((err as OngoingAccessError).code).toBe('ERR_INVALID_RESPONSE')
  expect((err as OngoingAccessError).message).not.toMatch(/eyJ/)
  // Refused for what the test is about, before the nonce is looked at.
  expect((err as OngoingAccessError).message).not.toContain('nonce')
  await expect(access.getAccessToken('alice')).rejects.toMatchObject({ code: 'ERR_CONSENT_REQUIRED' })
  return fake
}

describe('ID tokens are verified with the configured JWKS and an allow-list', () => {
  it('accepts a valid RS256 ID token, and returns its claims', async () => {
    const { result } = await consentWithIdToken((nonce) => sign(claims({ nonce })))
    const finished = await result
    expect(finished.userKey).toBe('alice')
    expect(finished.claims).toMatchObject({ sub: 'alice', iss: ISSUER, aud: 'app' })
    expect(Object.isFrozen(finished.claims)).toBe(true)
  })

  it.each([
    ['no nonce', (_nonce: string) => sign(claims())],
    ["another consent's nonce", (_nonce: string) => sign(claims({ nonce: 'replayed-from-another-consent' }))],
    [
      'a nonce that differs in one character',
      (nonce: string) => sign(claims({ nonce: `${nonce.slice(0, -1)}${nonce.endsWith('A') ? 'B' : 'A'}` })),
    ],
    ['a nonce that is not a string', (_nonce: string) => sign(claims({ nonce: 42 }))],
  ])('regression (issue 18): an ID token with %s is refused, and nothing is stored', async (_name, make) => {
    const { result, access } = await consentWithIdToken(make)
    await expect(result).rejects.toMatchObject({
      code: 'ERR_INVALID_RESPONSE',
      message: 'Token endpoint answered with an ID token whose `nonce` is not the one this consent sent',
    })
    await expect(access.getAccessToken('alice')).rejects.toMatchObject({ code: 'ERR_CONSENT_REQUIRED' })
  })

  it.each([
    ['several audiences and no azp', { aud: ['app', 'other'] }],
    ['several audiences and another azp', { aud: ['app', 'other'], azp: 'other' }],
    ['one audience and another azp', { azp: 'other' }],
  ])('an ID token with %s is refused (OpenID Connect Core 3.1.3.7)', async (_name, patch) => {
    const { result } = await consentWithIdToken((nonce) => sign(claims({ nonce, ...patch })))
    await expect(result).rejects.toMatchObject({
      code: 'ERR_INVALID_RESPONSE',
      message: 'Token endpoint answered with an ID token whose `azp` is not this client',
    })
  })

  it('an ID token with several audiences and azp naming this client is accepted', async () => {
    const { result } = await consentWithIdToken((nonce) =>
      sign(claims({ nonce, aud: ['app', 'other'], azp: 'app' })),
    )
    await expect(result).resolves.toMatchObject({ claims: { azp: 'app' } })
  })

  it('alg: none is refused', async () => {
    await expectRejected(`${b64({ alg: 'none' })}.${b64(claims())}.`)
  })

  it.each([
    ['PEM', () => rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string],
    ['PEM with leading whitespace', () => `\n  ${rsa.publicKey.export({ type: 'spki', format: 'pem' })}`],
    ['JWK JSON', () => JSON.stringify(publicJwk)],
  ])('HS256 signed with the RSA public key (%s) is refused', async (_name, secret) => {
    const input = `${b64({ alg: 'HS256', kid: 'k1' })}.${b64(claims())}`
    const signature = createHmac('sha256', secret()).update(input).digest('base64url')
    await expectRejected(`${input}.${signature}`)
  })

  it('RS/PS confusion: a PS256 header over an RS256 signature is refused', async () => {
    const token = await sign(claims())
    const [, payload, signature] = token.split('.')
    await expectRejected(`${b64({ alg: 'PS256', kid: 'k1' })}.${payload}.${signature}`)
  })

  it('an embedded jwk, jku or x5u header is ignored: the attacker’s key is never used', async () => {
    const attackerJwk = await exportJWK(attacker.publicKey)
    for (const header of [
      { jwk: attackerJwk },
      { jku: 'https://evil.test/jwks' },
      { x5u: 'https://evil.test/cert' },
    ]) {
      await expectRejected(await sign(claims(), header, attacker.privateKey))
    }
  })

  it('an unknown crit header is refused', async () => {
    const input = `${b64({ alg: 'RS256', kid: 'k1', crit: ['x-unknown'], 'x-unknown': true })}.${b64(claims())}`
    const signature = createSign('RSA-SHA256').update(input).sign(rsa.privateKey).toString('base64url')
    await expectRejected(`${input}.${signature}`)
  })

  it.each([
    ['a foreign issuer', { iss: 'https://evil.test' }],
    ['another audience', { aud: 'someone-else' }],
    ['an expired token', { exp: now() - 3600 }],
    ['no sub', { sub: undefined }],
  ])('%s is refused', async (_name, patch) => {
    await expectRejected(await sign(claims(patch)))
  })

  it.each([
    ['two parts', 'abc.def'],
    ['four parts', 'a.b.c.d'],
    ['non-base64url characters', 'a*b.c.d'],
    ['a 1 MB token', `${'a'.repeat(1_000_000)}.b.c`],
    ['garbage JSON header', `${b64('{not json')}.${b64(claims())}.sig`],
  ])('a malformed compact serialization (%s) is refused quickly', async (_name, token) => {
    const started = Date.now()
    await expectRejected(token)
    expect(Date.now() - started).toBeLessThan(1_000)
  })

  it.each([
    [
      'PBES2 with a huge p2c',
      { alg: 'PBES2-HS512+A256KW', enc: 'A256GCM', p2c: 2_000_000_000, p2s: 'c2FsdA' },
    ],
    ['a DEFLATE compression bomb', { alg: 'dir', enc: 'A256GCM', zip: 'DEF' }],
  ])('a JWE instead of a JWS (%s) is refused at once, never decrypted', async (_name, header) => {
    const jwe = `${b64(header)}..${b64('iv')}.${'A'.repeat(100_000)}.${b64('tag')}`
    const started = Date.now()
    await expectRejected(jwe)
    expect(Date.now() - started).toBeLessThan(500)
  })

  it('a flood of unknown kids refetches the JWKS at most once per cooldown', async () => {
    const fake = createFakeAS()
    fake.jwks = { keys: [publicJwk] }
    const access = createAccess(fake)
    for (let i = 0; i < 20; i++) {
      fake.answer(async () => json(tokens({ id_token: await sign(claims(), { kid: `unknown-${i}` }) })))
      const { transaction, state } = await access.startConsent({ userKey: `u${i}` })
      await expect(
        access.finishConsent({
          callbackUrl: `https://app.test/cb?code=c&state=${state}&iss=${encodeURIComponent(ISSUER)}`,
          transaction,
        }),
      ).rejects.toMatchObject({ code: 'ERR_INVALID_RESPONSE' })
    }
    expect(fake.calls.jwks).toBeLessThanOrEqual(2)
  })

  it('refuses HMAC and none in the allow-list at construction', () => {
    const fake = createFakeAS()
    for (const bad of [['HS256'], ['none'], []]) {
      expect(() => createAccess(fake, { idTokenSigningAlgorithms: bad })).toThrow(TypeError)
    }
  })
})
