// Issue 17, item 9: no answer from the authorization server (connection refused, timeout) must be
// `OngoingAccessError` with code ERR_NETWORK wherever it strikes: discovery, code exchange,
// refresh, revocation; on a cold and on a warm instance. finishConsent let a raw error escape.
import { isOngoingAccessError, MemoryTokenStore, type OngoingAccess } from '@ongoing/core'
import { driveConsent } from '@ongoing/testing'
import { describe, expect, it } from 'vitest'
import {
  accessThrough,
  captureLogs,
  consentAs,
  errorText,
  expectNoLeak,
  Gateway,
  REDIRECT_URI,
  silence,
  useStrictServer,
} from './support.js'

/** The error a call failed with (the test fails if it succeeded). */
async function failure(call: Promise<unknown>): Promise<unknown> {
  try {
    await call
  } catch (err) {
    return err
  }
  throw new Error('expected the call to fail')
}

function expectNetworkError(err: unknown, where: string) {
  expect
    .soft(isOngoingAccessError(err), `${where}: an OngoingAccessError (got ${(err as Error)?.name})`)
    .toBe(true)
  expect.soft((err as { code?: string }).code, where).toBe('ERR_NETWORK')
}

describe('engine: ERR_NETWORK for every outage (real server behind a gateway)', () => {
  const server = useStrictServer({ accessTokenTTLSeconds: 60 })

  /** Takes `userKey` through the consent pages; returns what finishConsent needs. */
  async function authorized(access: OngoingAccess, userKey: string) {
    const started = await access.startConsent({ userKey })
    const callbackUrl = await driveConsent(started.url, { redirectUriPrefix: REDIRECT_URI, login: userKey })
    return { callbackUrl, transaction: started.transaction }
  }

  it('regression (issue 17, item 9): finishConsent with the token endpoint refusing connections throws ERR_NETWORK, not a raw error', async () => {
    const gateway = new Gateway(server.as)
    const logs = captureLogs()
    const access = accessThrough(gateway, { logger: logs.logger })
    const callback = await authorized(access, 'exchange-refused')
    gateway.tokenFaults = [() => gateway.refused()]

    const err = await failure(access.finishConsent(callback))

    expectNetworkError(err, 'code exchange, connection refused')
    expect(gateway.attempts.authorization_code).toBe(1)
    expectNoLeak(gateway.secrets, errorText(err), ...logs.lines)
  })

  it('regression (issue 17, item 9): finishConsent with the token endpoint not answering in time throws ERR_NETWORK', async () => {
    const gateway = new Gateway(server.as)
    const access = accessThrough(gateway, { requestTimeoutMs: 300 })
    const callback = await authorized(access, 'exchange-timeout')
    gateway.tokenFaults = [silence]

    const err = await failure(access.finishConsent(callback))

    expectNetworkError(err, 'code exchange, timeout')
    expectNoLeak(gateway.secrets, errorText(err))
  })

  it('regression (issue 17, item 9): an outage gives ERR_NETWORK at discovery (startConsent, finishConsent, refresh) on a cold instance', async () => {
    const store = new MemoryTokenStore()
    const { gateway, access: warm } = await server.consented('outage-cold', { store })
    const callback = await authorized(warm, 'outage-cold-2')
    server.expire()
    gateway.down = true

    expectNetworkError(
      await failure(accessThrough(gateway, { store }).startConsent({ userKey: 'outage-cold' })),
      'startConsent, cold',
    )
    expectNetworkError(
      await failure(accessThrough(gateway, { store }).finishConsent(callback)),
      'finishConsent, cold',
    )
    expectNetworkError(
      await failure(accessThrough(gateway, { store }).getAccessToken('outage-cold')),
      'refresh, cold (discovery)',
    )
  })

  it('regression (issue 17, item 9): an outage gives ERR_NETWORK at refresh on a warm instance (refused, and timed out)', async () => {
    const logs = captureLogs()
    const { gateway, access } = await server.consented('outage-warm', {
      logger: logs.logger,
      requestTimeoutMs: 300,
      retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 5 },
    })
    await consentAs(access, 'timeout-warm')
    server.expire()

    gateway.down = true
    const refused = await failure(access.getAccessToken('outage-warm'))
    gateway.down = false
    gateway.tokenFault = silence
    const timedOut = await failure(access.getAccessToken('timeout-warm'))

    expectNetworkError(refused, 'refresh, warm, connection refused')
    expectNetworkError(timedOut, 'refresh, warm, timeout')
    expect(server.as.stats().grantsRevoked).toBe(0)
    expectNoLeak(gateway.secrets, errorText(refused), errorText(timedOut), ...logs.lines)
  })

  it('regression (issue 17, item 9): revoke during an outage fails with ERR_NETWORK or reports revokedAtServer false, cold and warm', async () => {
    const store = new MemoryTokenStore()
    const { gateway, access: warm } = await server.consented('revoke-outage-cold', { store })
    await consentAs(warm, 'revoke-outage-warm')
    gateway.down = true

    const outcome = async (call: Promise<{ revokedAtServer: boolean }>) =>
      call.then(
        (result) => result,
        (err: unknown) => (isOngoingAccessError(err) ? { code: err.code } : { thrown: (err as Error)?.name }),
      )
    const cold = await outcome(accessThrough(gateway, { store }).revoke('revoke-outage-cold'))
    const hot = await outcome(warm.revoke('revoke-outage-warm'))

    for (const [where, result] of [
      ['cold', cold],
      ['warm', hot],
    ] as const) {
      expect
        .soft([{ revokedAtServer: false }, { code: 'ERR_NETWORK' }], `revoke, ${where}`)
        .toContainEqual(result)
    }
    expect(store.size).toBe(0) // forgotten locally all the same
  })
})
