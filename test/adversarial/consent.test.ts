import { OngoingAccessError } from '@ongoing/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  driveConsent,
  errorText,
  expectNoLeak,
  REDIRECT_URI,
  type Scenario,
  startScenario,
} from './harness.js'

describe('adversarial: consent transactions', () => {
  let s: Scenario
  beforeAll(async () => {
    s = await startScenario()
    await s.consent('victim')
  })
  afterAll(async () => s?.close())

  it('100,000 transactions: no state or verifier repeats, and no URL carries the verifier', async () => {
    const states = new Set<string>()
    const verifiers = new Set<string>()
    for (let i = 0; i < 100_000; i++) {
      const { state, codeVerifier, url } = await s.access.startConsent({ userKey: `u${i % 100}` })
      states.add(state)
      verifiers.add(codeVerifier)
      if (i % 10_000 === 0) expect(url.href).not.toContain(codeVerifier)
    }
    expect(states.size).toBe(100_000)
    expect(verifiers.size).toBe(100_000)
  }, 60_000)

  async function attempt(
    mutate: (ctx: { url: URL; transaction: string; state: string }) => {
      url: URL
      transaction: string | undefined
    },
  ) {
    const started = await s.access.startConsent({ userKey: 'attacker-target' })
    const callback = await driveConsent(started.url, {
      redirectUriPrefix: REDIRECT_URI,
      login: 'attacker-target',
    })
    s.secrets.add(started.codeVerifier)
    s.secrets.add(callback.searchParams.get('code')!)
    const before = await s.store.snapshot()
    s.as.resetStats()
    const { url, transaction } = mutate({
      url: callback,
      transaction: started.transaction,
      state: started.state,
    })
    const err = await s.access.finishConsent({ callbackUrl: url, transaction }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OngoingAccessError)
    expect(s.as.stats().tokenCalls.total).toBe(0)
    expect(await s.store.snapshot()).toEqual(before)
    expectNoLeak(s.secrets, errorText(err), ...s.logs)
    return err as OngoingAccessError
  }

  it.each<
    [
      string,
      (c: { url: URL; transaction: string; state: string }) => { url: URL; transaction: string | undefined },
      string,
    ]
  >([
    [
      'a tampered transaction',
      (c) => ({ url: c.url, transaction: flipCharAt(c.transaction, 30) }),
      'ERR_TRANSACTION',
    ],
    [
      'a truncated transaction',
      (c) => ({ url: c.url, transaction: c.transaction.slice(0, c.transaction.length - 10) }),
      'ERR_TRANSACTION',
    ],
    ['a missing transaction', (c) => ({ url: c.url, transaction: undefined }), 'ERR_TRANSACTION'],
    [
      'state missing',
      (c) => ({ url: withParams(c.url, { state: null }), transaction: c.transaction }),
      'ERR_TRANSACTION',
    ],
    [
      'state mismatched',
      (c) => ({ url: withParams(c.url, { state: 'forged' }), transaction: c.transaction }),
      'ERR_TRANSACTION',
    ],
    [
      'state repeated',
      (c) => ({ url: appended(c.url, 'state', c.state), transaction: c.transaction }),
      'ERR_AUTHORIZATION',
    ],
    [
      'code repeated',
      (c) => ({ url: appended(c.url, 'code', 'second'), transaction: c.transaction }),
      'ERR_AUTHORIZATION',
    ],
    [
      'a code with an access_token',
      (c) => ({ url: appended(c.url, 'access_token', 'injected'), transaction: c.transaction }),
      'ERR_AUTHORIZATION',
    ],
    [
      'iss missing',
      (c) => ({ url: withParams(c.url, { iss: null }), transaction: c.transaction }),
      'ERR_ISSUER_MISMATCH',
    ],
    [
      'iss foreign',
      (c) => ({ url: withParams(c.url, { iss: 'https://evil.test' }), transaction: c.transaction }),
      'ERR_ISSUER_MISMATCH',
    ],
    [
      'iss with a trailing slash',
      (c) => ({
        url: withParams(c.url, { iss: `${c.url.searchParams.get('iss')}/` }),
        transaction: c.transaction,
      }),
      'ERR_ISSUER_MISMATCH',
    ],
    [
      'iss missing on an error response',
      (c) => ({
        url: withParams(c.url, { code: null, iss: null, error: 'access_denied' }),
        transaction: c.transaction,
      }),
      'ERR_ISSUER_MISMATCH',
    ],
    [
      'iss foreign on an error response',
      (c) => ({
        url: withParams(c.url, { code: null, iss: 'https://evil.test', error: 'server_error' }),
        transaction: c.transaction,
      }),
      'ERR_ISSUER_MISMATCH',
    ],
    [
      'a parameter over 4 KB',
      (c) => ({ url: withParams(c.url, { code: 'c'.repeat(4097) }), transaction: c.transaction }),
      'ERR_AUTHORIZATION',
    ],
  ])('%s → %s, 0 token calls, store unchanged, nothing leaked', async (_name, mutate, code) => {
    const err = await attempt(mutate)
    expect(err.code).toBe(code)
  })

  it('a transaction from another user cannot finish a callback meant for the victim', async () => {
    const mallory = await s.access.startConsent({ userKey: 'mallory' })
    const err = await attempt((c) => ({ url: c.url, transaction: mallory.transaction }))
    expect(err.code).toBe('ERR_TRANSACTION')
  })

  it('a replayed transaction is refused on its second use, before any token call', async () => {
    const started = await s.access.startConsent({ userKey: 'replay' })
    const callback = await driveConsent(started.url, { redirectUriPrefix: REDIRECT_URI, login: 'replay' })
    await s.access.finishConsent({ callbackUrl: callback, transaction: started.transaction })
    s.as.resetStats()
    await expect(
      s.access.finishConsent({ callbackUrl: callback, transaction: started.transaction }),
    ).rejects.toMatchObject({ code: 'ERR_TRANSACTION' })
    expect(s.as.stats().tokenCalls.total).toBe(0)
  })

  it('the victim’s grant survived every attack', async () => {
    await expect(s.access.getAccessToken('victim')).resolves.toMatchObject({ tokenType: 'Bearer' })
  })
})

function withParams(url: URL, params: Record<string, string | null>): URL {
  const next = new URL(url)
  for (const [name, value] of Object.entries(params)) {
    if (value === null) next.searchParams.delete(name)
    else next.searchParams.set(name, value)
  }
  return next
}

function appended(url: URL, name: string, value: string): URL {
  const next = new URL(url)
  next.searchParams.append(name, value)
  return next
}

/** Replaces one character with a different one, so the tampering is never a no-op (a fixed `x` already was, 1 time in 64). */
function flipCharAt(text: string, index: number): string {
  const replacement = text[index] === 'x' ? 'y' : 'x'
  return `${text.slice(0, index)}${replacement}${text.slice(index + 1)}`
}
