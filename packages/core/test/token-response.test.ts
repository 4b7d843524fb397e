import { afterEach, describe, expect, it, vi } from 'vitest'
import { MemoryTokenStore, OngoingAccessError } from '../src/index.js'
import { consent, createAccess, createFakeAS, ISSUER, json, tokens } from './fake-as.js'

async function rejection(promise: Promise<unknown>): Promise<OngoingAccessError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(OngoingAccessError)
  return err as OngoingAccessError
}

/** A consented user whose token is expired, so the next call refreshes. */
async function expiredUser() {
  const fake = createFakeAS()
  const logs: string[] = []
  const access = createAccess(fake, {
    logger: (level, message, fields) => logs.push(`${level} ${message} ${JSON.stringify(fields)}`),
  })
  fake.answer(() => json(tokens({ access_token: 'at-initial', refresh_token: 'rt-initial', expires_in: 0 })))
  await consent(access)
  return { fake, access, logs }
}

const malformed: Array<[string, () => Response, string]> = [
  [
    'an HTML page',
    () => new Response('<html>oops</html>', { status: 200, headers: { 'content-type': 'text/html' } }),
    'ERR_INVALID_RESPONSE',
  ],
  [
    'truncated JSON',
    () => new Response('{"access_token": "at", "tok', { status: 200 }),
    'ERR_INVALID_RESPONSE',
  ],
  ['null', () => new Response('null', { status: 200 }), 'ERR_INVALID_RESPONSE'],
  ['an array', () => json([tokens()]), 'ERR_INVALID_RESPONSE'],
  ['no access_token', () => json({ token_type: 'Bearer', expires_in: 60 }), 'ERR_INVALID_RESPONSE'],
  ['an empty access_token', () => json({ access_token: '', token_type: 'Bearer' }), 'ERR_INVALID_RESPONSE'],
  ['no token_type', () => json({ access_token: 'x', expires_in: 60 }), 'ERR_INVALID_RESPONSE'],
  [
    'a non-numeric expires_in',
    () => json({ access_token: 'x', token_type: 'Bearer', expires_in: 'soon' }),
    'ERR_INVALID_RESPONSE',
  ],
  [
    'a negative expires_in',
    () => json({ access_token: 'x', token_type: 'Bearer', expires_in: -5 }),
    'ERR_INVALID_RESPONSE',
  ],
  ['an unsupported token_type', () => json({ access_token: 'x', token_type: 'MAC' }), 'ERR_INVALID_RESPONSE'],
  [
    'a 200 carrying error',
    () => json({ error: 'server_error', access_token: 'x', token_type: 'Bearer' }),
    'ERR_TOKEN_ENDPOINT',
  ],
  [
    'a redirect',
    () => new Response(null, { status: 302, headers: { location: 'https://elsewhere.test/token' } }),
    'ERR_INVALID_RESPONSE',
  ],
  ['a 10 MB body', () => new Response('x'.repeat(10 * 1024 * 1024), { status: 200 }), 'ERR_INVALID_RESPONSE'],
  [
    'an unbounded streamed body',
    () =>
      new Response(
        new ReadableStream({
          pull(controller) {
            controller.enqueue(new Uint8Array(64 * 1024))
          },
        }),
        { status: 200 },
      ),
    'ERR_INVALID_RESPONSE',
  ],
]

describe('token responses at the code exchange', () => {
  it.each(malformed)(
    '%s → typed error, one call, nothing stored, no token material in the message',
    async (_name, answer, code) => {
      const fake = createFakeAS()
      const store = new MemoryTokenStore()
      const access = createAccess(fake, { store })
      fake.answer(answer)
      const { transaction, state } = await access.startConsent({ userKey: 'alice' })
      const err = await rejection(
        access.finishConsent({
          callbackUrl: `https://app.test/auth/callback?code=the-code&state=${state}&iss=${encodeURIComponent(ISSUER)}`,
          transaction,
        }),
      )
      expect(err.code).toBe(code)
      expect(fake.calls.authorization_code).toBe(1) // never retried
      expect(store.size).toBe(0)
      expect(err.message).not.toMatch(/the-code|rt-|at-\d/)
      await expect(access.getAccessToken('alice')).rejects.toMatchObject({
        code: 'ERR_CONSENT_REQUIRED',
        reason: 'no_grant',
      })
    },
  )

  it('never retries a code exchange, even on 503', async () => {
    const fake = createFakeAS()
    const access = createAccess(fake)
    fake.answer(() => json({ error: 'temporarily_unavailable' }, 503))
    const { transaction, state } = await access.startConsent({ userKey: 'alice' })
    const err = await rejection(
      access.finishConsent({
        callbackUrl: `https://app.test/cb?code=c&state=${state}&iss=${encodeURIComponent(ISSUER)}`,
        transaction,
      }),
    )
    expect(err).toMatchObject({
      code: 'ERR_TOKEN_ENDPOINT',
      status: 503,
      oauthError: 'temporarily_unavailable',
    })
    expect(fake.calls.authorization_code).toBe(1)
  })
})

/** Moves `Date.now` forward by `ms` (a refresh's backoff is read from the clock), until the test ends. */
function later(ms: number): void {
  const now = Date.now()
  vi.useFakeTimers({ toFake: ['Date'] })
  vi.setSystemTime(now + ms)
}

afterEach(() => {
  vi.useRealTimers()
})

describe('token responses at refresh', () => {
  it.each(malformed.filter(([, , code]) => code === 'ERR_INVALID_RESPONSE'))(
    '%s → typed error, not retried, the stored grant kept',
    async (_name, answer, code) => {
      const { fake, access, logs } = await expiredUser()
      fake.answer(answer)
      const err = await rejection(access.getAccessToken('alice'))
      expect(err.code).toBe(code)
      expect(fake.calls.refresh_token).toBe(1)
      // Not tried again at once: the next caller gets the same outcome, with no token call.
      expect(await rejection(access.getAccessToken('alice'))).toMatchObject({ code })
      expect(fake.calls.refresh_token).toBe(1)
      // The grant is not lost: once the wait is over, a good answer refreshes it with the same refresh token.
      later(err.outcomeUnknown ? 5_001 : 1_001)
      fake.answer(() => json(tokens({ access_token: 'at-good' })))
      expect((await access.getAccessToken('alice')).value).toBe('at-good')
      expect(fake.calls.refresh_token).toBe(2)
      expect(fake.bodies.at(-1)?.get('refresh_token')).toBe('rt-initial')
      expect(logs.join('\n')).not.toMatch(/rt-initial|at-initial|at-good|app-secret/)
    },
  )

  it('a malformed 200 leaves the outcome unknown: the server may have rotated the refresh token', async () => {
    const { fake, access } = await expiredUser()
    fake.answer(() => new Response('{"access_token": "at", "tok', { status: 200 }))
    expect(await rejection(access.getAccessToken('alice'))).toMatchObject({
      code: 'ERR_INVALID_RESPONSE',
      outcomeUnknown: true,
    })
  })

  it('retries only what certainly did not reach the server (refused, 429, 503 with Retry-After), then succeeds', async () => {
    const { fake, access } = await expiredUser()
    fake.answer(
      () => {
        throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } })
      },
      () => json({ error: 'temporarily_unavailable' }, 503, { 'retry-after': '0' }),
      () => json(tokens({ access_token: 'at-after-faults' })),
    )
    expect((await access.getAccessToken('alice')).value).toBe('at-after-faults')
    expect(fake.calls.refresh_token).toBe(3)
  })

  it.each<[string, () => Response | Promise<Response>, string]>([
    ['a 500', () => json({ error: 'server_error' }, 500), 'ERR_TOKEN_ENDPOINT'],
    ['a 502', () => json({ error: 'server_error' }, 502), 'ERR_TOKEN_ENDPOINT'],
    ['a 504', () => new Response('gateway timeout', { status: 504 }), 'ERR_TOKEN_ENDPOINT'],
    [
      'a 503 without Retry-After',
      () => json({ error: 'temporarily_unavailable' }, 503),
      'ERR_TOKEN_ENDPOINT',
    ],
    [
      'a reset connection',
      () => {
        throw new TypeError('fetch failed', { cause: { code: 'ECONNRESET' } })
      },
      'ERR_NETWORK',
    ],
  ])(
    '%s: the outcome is unknown, so the refresh token is not presented again at once',
    async (_name, answer, code) => {
      const { fake, access } = await expiredUser()
      fake.answer(answer, () => json(tokens({ access_token: 'at-too-soon' })))
      expect(await rejection(access.getAccessToken('alice'))).toMatchObject({ code, outcomeUnknown: true })
      expect(await rejection(access.getAccessToken('alice'))).toMatchObject({ code, outcomeUnknown: true })
      expect(fake.calls.refresh_token).toBe(1)
    },
  )

  it('with a server that tolerates reuse (refreshTokenReuseGraceSeconds), an unknown outcome is retried at once', async () => {
    const fake = createFakeAS()
    const access = createAccess(fake, {
      retry: { baseDelayMs: 1, maxDelayMs: 5, refreshTokenReuseGraceSeconds: 30 },
    })
    fake.answer(() => json(tokens({ access_token: 'at-0', expires_in: 0 })))
    await consent(access)
    fake.answer(
      () => json({ error: 'server_error' }, 502),
      () => json(tokens({ access_token: 'at-after-502' })),
    )
    expect((await access.getAccessToken('alice')).value).toBe('at-after-502')
    expect(fake.calls.refresh_token).toBe(2)
  })

  it('gives up after the configured attempts with ERR_TOKEN_ENDPOINT and keeps the grant', async () => {
    const { fake, access } = await expiredUser()
    const events: string[] = []
    access.on('refreshError', ({ error, nextAttemptAt }) =>
      events.push(`${error.code} ${error.status} ${typeof nextAttemptAt}`),
    )
    fake.answer(() => json({ error: 'temporarily_unavailable' }, 503, { 'retry-after': '0' }))
    const err = await rejection(access.getAccessToken('alice'))
    expect(events).toEqual(['ERR_TOKEN_ENDPOINT 503 number'])
    expect(err).toMatchObject({ code: 'ERR_TOKEN_ENDPOINT', status: 503, outcomeUnknown: false })
    expect(fake.calls.refresh_token).toBe(3)
    later(1_001)
    fake.answer(() => json(tokens({ access_token: 'at-recovered' })))
    expect((await access.getAccessToken('alice')).value).toBe('at-recovered')
  })

  it('times out a hanging token endpoint, and does not present that refresh token again at once', async () => {
    const fake = createFakeAS()
    const access = createAccess(fake, { requestTimeoutMs: 50 })
    fake.answer(() => json(tokens({ access_token: 'at-0', expires_in: 0 })))
    await consent(access)
    fake.answer(
      () => new Promise<Response>(() => {}),
      () => json(tokens({ access_token: 'at-after-timeout' })),
    )
    const started = Date.now()
    expect(await rejection(access.getAccessToken('alice'))).toMatchObject({
      code: 'ERR_NETWORK',
      outcomeUnknown: true,
    })
    expect(Date.now() - started).toBeLessThan(2_000)
    expect(fake.calls.refresh_token).toBe(1)
  })

  it('honours Retry-After in seconds and as an HTTP date', async () => {
    for (const retryAfter of ['1', new Date(Date.now() + 1_000).toUTCString()]) {
      const { fake, access } = await expiredUser()
      fake.answer(
        () => json({ error: 'slow_down' }, 429, { 'retry-after': retryAfter }),
        () => json(tokens({ access_token: 'at-after-429' })),
      )
      const started = Date.now()
      expect((await access.getAccessToken('alice')).value).toBe('at-after-429')
      expect(Date.now() - started).toBeGreaterThanOrEqual(retryAfter === '1' ? 950 : 1)
      expect(fake.calls.refresh_token).toBe(2)
    }
  })

  it('fails at once when Retry-After is beyond the cap', async () => {
    const { fake, access } = await expiredUser()
    fake.answer(() => json({ error: 'slow_down' }, 429, { 'retry-after': '3600' }))
    const err = await rejection(access.getAccessToken('alice'))
    expect(err).toMatchObject({ code: 'ERR_TOKEN_ENDPOINT', status: 429, retryAfterMs: 3_600_000 })
    expect(fake.calls.refresh_token).toBe(1)
  })

  it('invalid_grant → ConsentRequiredError, no retry, and no loop afterwards', async () => {
    const { fake, access } = await expiredUser()
    const events: string[] = []
    access.on('consentRequired', ({ reason }) => events.push(reason))
    fake.answer(() => json({ error: 'invalid_grant', error_description: 'refresh token expired' }, 400))
    const err = await rejection(access.getAccessToken('alice'))
    expect(err).toMatchObject({ code: 'ERR_CONSENT_REQUIRED', reason: 'invalid_grant' })
    expect(fake.calls.refresh_token).toBe(1)
    // The dead grant's record says why: later calls make no token call at all, and say the same.
    await expect(access.getAccessToken('alice')).rejects.toMatchObject({
      code: 'ERR_CONSENT_REQUIRED',
      reason: 'invalid_grant',
      oauthError: 'invalid_grant',
    })
    expect(fake.calls.refresh_token).toBe(1)
    expect(events).toEqual(['invalid_grant', 'invalid_grant'])
  })

  it('keeps the old refresh token when the server returns none', async () => {
    const { fake, access } = await expiredUser()
    fake.answer(() => json({ access_token: 'at-no-rotation', token_type: 'bearer', expires_in: 0 }))
    expect((await access.getAccessToken('alice')).value).toBe('at-no-rotation')
    fake.answer(() => json(tokens()))
    await access.getAccessToken('alice')
    expect(
      fake.bodies.filter((b) => b.get('grant_type') === 'refresh_token').map((b) => b.get('refresh_token')),
    ).toEqual(['rt-initial', 'rt-initial'])
  })

  // Keycloak names the refresh token's lifetime refresh_expires_in; GitHub (expiring user tokens)
  // names it refresh_token_expires_in. Past it, a token call can only fail: none is made.
  it.each(['refresh_expires_in', 'refresh_token_expires_in'])(
    "a refresh token's lifetime given as %s: past it, consent is required without a token call",
    async (field) => {
      vi.useFakeTimers({ toFake: ['Date'] })
      try {
        const { fake, access } = await expiredUser()
        fake.answer(() => json(tokens({ expires_in: 0, [field]: 60 })))
        await access.getAccessToken('alice')
        expect(fake.calls.refresh_token).toBe(1)
        expect((await access.inspect('alice'))?.refreshExpiresAt).toBe(Date.now() + 60_000)
        vi.setSystemTime(Date.now() + 61_000)
        // The store may already have let the record go with its refresh token (no_grant).
        const err = await rejection(access.getAccessToken('alice'))
        expect(err.code).toBe('ERR_CONSENT_REQUIRED')
        expect(['invalid_grant', 'no_grant']).toContain((err as { reason?: string }).reason)
        expect(fake.calls.refresh_token).toBe(1)
      } finally {
        vi.useRealTimers()
      }
    },
  )
})

export { expiredUser }
