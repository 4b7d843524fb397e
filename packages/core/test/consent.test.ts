import { describe, expect, it, vi } from 'vitest'
import { MemoryTokenStore, OngoingAccess, OngoingAccessError } from '../src/index.js'
import { createAccess, createFakeAS, ISSUER, json, SECRET, tokens } from './fake-as.js'

const ISS = encodeURIComponent(ISSUER)
const callback = (query: string) => `https://app.test/auth/callback?${query}`

async function setup() {
  const fake = createFakeAS()
  const store = new MemoryTokenStore()
  const logs: string[] = []
  const access = createAccess(fake, {
    store,
    logger: (l, m, f) => logs.push(`${l} ${m} ${JSON.stringify(f)}`),
  })
  // An existing grant of another user must survive every bad callback untouched.
  fake.answer(() => json(tokens({ access_token: 'at-bob', refresh_token: 'rt-bob' })))
  const bob = await access.startConsent({ userKey: 'bob' })
  await access.finishConsent({
    callbackUrl: callback(`code=c&state=${bob.state}&iss=${ISS}`),
    transaction: bob.transaction,
  })
  fake.calls.authorization_code = 0
  const started = await access.startConsent({ userKey: 'alice', returnTo: '/library' })
  return { fake, store, access, logs, started }
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<OngoingAccessError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(OngoingAccessError)
  expect((err as OngoingAccessError).code).toBe(code)
  return err as OngoingAccessError
}

async function nothingChanged(ctx: Awaited<ReturnType<typeof setup>>, err: OngoingAccessError) {
  expect(ctx.fake.calls.authorization_code).toBe(0)
  expect(ctx.store.size).toBe(1)
  expect((await ctx.access.getAccessToken('bob')).value).toBe('at-bob')
  await expect(ctx.access.getAccessToken('alice')).rejects.toMatchObject({ code: 'ERR_CONSENT_REQUIRED' })
  const leaked = [ctx.started.codeVerifier, ctx.started.transaction, SECRET, 'the-code']
  for (const secret of leaked) {
    expect(err.message).not.toContain(secret)
    expect(ctx.logs.join('\n')).not.toContain(secret)
  }
}

describe('startConsent', () => {
  it('builds an authorization URL with S256, state, and no secrets', async () => {
    const { started } = await setup()
    const { url, state, codeVerifier, transaction } = started
    expect(url.origin + url.pathname).toBe(`${ISSUER}/authorize`)
    const p = url.searchParams
    expect(p.get('response_type')).toBe('code')
    expect(p.get('client_id')).toBe('app')
    expect(p.get('redirect_uri')).toBe('https://app.test/auth/callback')
    expect(p.get('scope')).toBe('offline_access api:read')
    expect(p.get('state')).toBe(state)
    expect(p.get('code_challenge_method')).toBe('S256')
    expect(p.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(url.href).not.toContain(codeVerifier)
    expect(transaction).not.toContain(codeVerifier)
    expect(transaction).not.toContain(state)
  })

  it('sanitizes returnTo', async () => {
    const fake = createFakeAS()
    const access = createAccess(fake)
    fake.answer(() => json(tokens()))
    for (const [returnTo, expected] of [
      ['//evil.com', '/'],
      ['https://evil.com', '/'],
      ['/\\evil.com', '/'],
      ['/%2F%2Fevil.com', '/'],
      ['/ok?x=1', '/ok?x=1'],
    ]) {
      const { transaction, state } = await access.startConsent({ userKey: 'u', returnTo })
      const result = await access.finishConsent({
        callbackUrl: callback(`code=c&state=${state}&iss=${ISS}`),
        transaction,
      })
      expect(result.returnTo).toBe(expected)
    }
  })
})

describe('finishConsent', () => {
  it('exchanges the code with the verifier and stores the grant', async () => {
    const ctx = await setup()
    const { started, access, fake } = ctx
    fake.answer(() => json(tokens({ access_token: 'at-alice' })))
    const result = await access.finishConsent({
      callbackUrl: callback(`code=the-code&state=${started.state}&iss=${ISS}`),
      transaction: started.transaction,
    })
    expect(result).toMatchObject({
      userKey: 'alice',
      returnTo: '/library',
      token: { value: 'at-alice', tokenType: 'Bearer', refreshed: false },
    })
    const body = fake.bodies.at(-1)!
    expect(body.get('code_verifier')).toBe(started.codeVerifier)
    expect(body.get('redirect_uri')).toBe('https://app.test/auth/callback')
    expect((await access.getAccessToken('alice')).value).toBe('at-alice')
    expect(fake.calls.refresh_token).toBe(0)
  })

  const cases: Array<
    [
      string,
      (s: { state: string; transaction: string }) => { url: string; transaction: string | undefined },
      string,
    ]
  > = [
    [
      'a missing transaction',
      (s) => ({ url: `code=the-code&state=${s.state}&iss=${ISS}`, transaction: undefined }),
      'ERR_TRANSACTION',
    ],
    [
      'a tampered transaction',
      (s) => ({
        url: `code=the-code&state=${s.state}&iss=${ISS}`,
        transaction: `${s.transaction.slice(0, 30)}${s.transaction[30] === 'A' ? 'B' : 'A'}${s.transaction.slice(31)}`,
      }),
      'ERR_TRANSACTION',
    ],
    [
      'a truncated transaction',
      (s) => ({ url: `code=the-code&state=${s.state}&iss=${ISS}`, transaction: s.transaction.slice(0, 40) }),
      'ERR_TRANSACTION',
    ],
    [
      'a missing state',
      (s) => ({ url: `code=the-code&iss=${ISS}`, transaction: s.transaction }),
      'ERR_TRANSACTION',
    ],
    [
      'a mismatched state',
      (s) => ({ url: `code=the-code&state=x${s.state}&iss=${ISS}`, transaction: s.transaction }),
      'ERR_TRANSACTION',
    ],
    [
      'a repeated state',
      (s) => ({
        url: `code=the-code&state=${s.state}&state=${s.state}&iss=${ISS}`,
        transaction: s.transaction,
      }),
      'ERR_AUTHORIZATION',
    ],
    [
      'a repeated code',
      (s) => ({ url: `code=the-code&code=other&state=${s.state}&iss=${ISS}`, transaction: s.transaction }),
      'ERR_AUTHORIZATION',
    ],
    [
      'a code with an access_token',
      (s) => ({
        url: `code=the-code&access_token=x&state=${s.state}&iss=${ISS}`,
        transaction: s.transaction,
      }),
      'ERR_AUTHORIZATION',
    ],
    [
      'a missing iss',
      (s) => ({ url: `code=the-code&state=${s.state}`, transaction: s.transaction }),
      'ERR_ISSUER_MISMATCH',
    ],
    [
      'a foreign iss',
      (s) => ({
        url: `code=the-code&state=${s.state}&iss=https%3A%2F%2Fevil.test`,
        transaction: s.transaction,
      }),
      'ERR_ISSUER_MISMATCH',
    ],
    [
      'an iss with a trailing slash',
      (s) => ({ url: `code=the-code&state=${s.state}&iss=${ISS}%2F`, transaction: s.transaction }),
      'ERR_ISSUER_MISMATCH',
    ],
    [
      'an error without iss',
      (s) => ({ url: `error=access_denied&state=${s.state}`, transaction: s.transaction }),
      'ERR_ISSUER_MISMATCH',
    ],
    [
      'access_denied',
      (s) => ({ url: `error=access_denied&state=${s.state}&iss=${ISS}`, transaction: s.transaction }),
      'ERR_CONSENT_DENIED',
    ],
    [
      'result=CANCEL',
      (s) => ({ url: `result=CANCEL&state=${s.state}&iss=${ISS}`, transaction: s.transaction }),
      'ERR_CONSENT_DENIED',
    ],
    [
      'result=ERROR',
      (s) => ({ url: `result=ERROR&state=${s.state}&iss=${ISS}`, transaction: s.transaction }),
      'ERR_AUTHORIZATION',
    ],
    [
      'another error',
      (s) => ({
        url: `error=server_error&error_description=%3Cb%3Ex%3C%2Fb%3E&state=${s.state}&iss=${ISS}`,
        transaction: s.transaction,
      }),
      'ERR_AUTHORIZATION',
    ],
    [
      'no code',
      (s) => ({ url: `state=${s.state}&iss=${ISS}`, transaction: s.transaction }),
      'ERR_AUTHORIZATION',
    ],
    [
      'a parameter over 4 KB',
      (s) => ({ url: `code=${'c'.repeat(5000)}&state=${s.state}&iss=${ISS}`, transaction: s.transaction }),
      'ERR_AUTHORIZATION',
    ],
  ]

  it.each(cases)('%s → typed error, no token call, nothing stored or lost', async (_name, make, code) => {
    const ctx = await setup()
    const { url, transaction } = make(ctx.started)
    const err = await expectCode(ctx.access.finishConsent({ callbackUrl: callback(url), transaction }), code)
    await nothingChanged(ctx, err)
  })

  it('keeps the error description for the app to render escaped', async () => {
    const ctx = await setup()
    const err = await expectCode(
      ctx.access.finishConsent({
        callbackUrl: callback(
          `error=server_error&error_description=%3Cscript%3E&state=${ctx.started.state}&iss=${ISS}`,
        ),
        transaction: ctx.started.transaction,
      }),
      'ERR_AUTHORIZATION',
    )
    expect(err.oauthError).toBe('server_error')
    expect(err.oauthErrorDescription).toBe('<script>')
    expect(err.message).not.toContain('<script>')
  })

  it('refuses a replayed transaction', async () => {
    const ctx = await setup()
    const { started, access, fake } = ctx
    const url = callback(`code=the-code&state=${started.state}&iss=${ISS}`)
    await access.finishConsent({ callbackUrl: url, transaction: started.transaction })
    expect(fake.calls.authorization_code).toBe(1)
    await expectCode(
      access.finishConsent({ callbackUrl: url, transaction: started.transaction }),
      'ERR_TRANSACTION',
    )
    expect(fake.calls.authorization_code).toBe(1)
  })

  it('refuses an expired transaction', async () => {
    const ctx = await setup()
    vi.useFakeTimers({ toFake: ['Date'] })
    try {
      vi.setSystemTime(Date.now() + 601_000)
      const err = await expectCode(
        ctx.access.finishConsent({
          callbackUrl: callback(`code=the-code&state=${ctx.started.state}&iss=${ISS}`),
          transaction: ctx.started.transaction,
        }),
        'ERR_TRANSACTION',
      )
      expect(err.message).toMatch(/expired/)
    } finally {
      vi.useRealTimers()
    }
    expect(ctx.fake.calls.authorization_code).toBe(0)
  })

  it('refuses a transaction sealed by another app (foreign secret) or for another issuer', async () => {
    const ctx = await setup()
    const other = new OngoingAccess({
      issuer: ISSUER,
      client: { id: 'app', secret: 'x' },
      redirectUri: 'https://app.test/auth/callback',
      scope: '',
      secret: 'another-secret-another-secret-another-secret',
      fetch: ctx.fake.fetch,
    })
    const foreign = await other.startConsent({ userKey: 'mallory' })
    await expectCode(
      ctx.access.finishConsent({
        callbackUrl: callback(`code=the-code&state=${foreign.state}&iss=${ISS}`),
        transaction: foreign.transaction,
      }),
      'ERR_TRANSACTION',
    )
    const otherIssuer = new OngoingAccess({
      issuer: 'https://other-as.test',
      endpoints: { authorization: 'https://other-as.test/a', token: 'https://other-as.test/t' },
      client: { id: 'app', secret: 'x' },
      redirectUri: 'https://app.test/auth/callback',
      scope: '',
      secret: SECRET,
      fetch: ctx.fake.fetch,
    })
    const crossIssuer = await otherIssuer.startConsent({ userKey: 'mallory' })
    await expectCode(
      ctx.access.finishConsent({
        callbackUrl: callback(`code=the-code&state=${crossIssuer.state}&iss=${ISS}`),
        transaction: crossIssuer.transaction,
      }),
      'ERR_TRANSACTION',
    )
    expect(ctx.fake.calls.authorization_code).toBe(0)
  })

  it('two tabs consenting at once each finish with their own transaction', async () => {
    const fake = createFakeAS()
    const access = createAccess(fake)
    const one = await access.startConsent({ userKey: 'alice', returnTo: '/one' })
    const two = await access.startConsent({ userKey: 'alice', returnTo: '/two' })
    expect(one.state).not.toBe(two.state)
    await expectCode(
      access.finishConsent({
        callbackUrl: callback(`code=c&state=${two.state}&iss=${ISS}`),
        transaction: one.transaction,
      }),
      'ERR_TRANSACTION',
    )
    const [a, b] = await Promise.all([
      access.finishConsent({
        callbackUrl: callback(`code=c1&state=${one.state}&iss=${ISS}`),
        transaction: one.transaction,
      }),
      access.finishConsent({
        callbackUrl: callback(`code=c2&state=${two.state}&iss=${ISS}`),
        transaction: two.transaction,
      }),
    ])
    expect([a.returnTo, b.returnTo]).toEqual(['/one', '/two'])
  })
})
