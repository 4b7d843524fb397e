import { OngoingAccessError } from '@ongoing/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorText, expectNoLeak, type Scenario, startScenario } from './harness.js'

describe('adversarial: pushed authorization requests against a server that requires them', () => {
  let s: Scenario
  beforeAll(async () => {
    s = await startScenario({}, { pushedAuthorizationRequests: 'required' })
    await s.consent('victim')
  })
  afterAll(async () => s?.close())

  /** A consent whose push fails: typed, nothing stored, no token call, nothing leaked. */
  async function failedConsent(userKey: string): Promise<OngoingAccessError> {
    const before = await s.store.snapshot()
    s.as.resetStats()
    const logged = s.logs.length
    const err = await s.access.startConsent({ userKey }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OngoingAccessError)
    expect(s.as.stats().tokenCalls.total).toBe(0)
    expect(await s.store.snapshot()).toEqual(before)
    expect(await s.access.inspect(userKey)).toBeUndefined()
    expectNoLeak(s.secrets, errorText(err), ...s.logs.slice(logged))
    return err as OngoingAccessError
  }

  it('the server’s answer rewritten without request_uri → ERR_INVALID_RESPONSE, the pushed state and challenge unquoted', async () => {
    const pushed: string[] = []
    s.pushFaults.push(async (real) => {
      const answer = (await (await real()).json()) as Record<string, unknown>
      pushed.push(answer.request_uri as string)
      return Response.json({ expires_in: answer.expires_in }, { status: 201 })
    })
    const err = await failedConsent('rewritten')
    expect(err.code).toBe('ERR_INVALID_RESPONSE')
    expect(err.message).toBe(
      'Pushed authorization request endpoint answered 201 but `request_uri` is missing or not a string',
    )
    expect(pushed).toEqual([expect.stringMatching(/^urn:ietf:params:oauth:request_uri:/)])
    expect(s.as.stats().pushedAuthorizationRequests).toBe(1)
  })

  it('the server’s answer with its request_uri turned into a number → ERR_INVALID_RESPONSE', async () => {
    s.pushFaults.push(async (real) => {
      const answer = (await (await real()).json()) as Record<string, unknown>
      return Response.json({ ...answer, request_uri: 7 }, { status: 201 })
    })
    expect((await failedConsent('numeric')).code).toBe('ERR_INVALID_RESPONSE')
  })

  it('a push held past requestTimeoutMs → ERR_NETWORK, and the next consent goes through', async () => {
    const quick = await startScenario({ requestTimeoutMs: 200 }, { pushedAuthorizationRequests: 'required' })
    try {
      quick.pushFaults.push(() => new Promise<Response>(() => {}))
      const err = await quick.access.startConsent({ userKey: 'slow' }).catch((e: unknown) => e)
      expect(err).toMatchObject({
        code: 'ERR_NETWORK',
        message: 'pushed authorization request endpoint: no answer within 200 ms',
      })
      expect(quick.pushAttempts).toBe(1)
      expect(quick.as.stats().pushedAuthorizationRequests).toBe(0) // held before it reached the server
      await quick.consent('slow')
      expect(quick.as.stats()).toMatchObject({
        pushedAuthorizationRequests: 1,
        tokenCalls: { authorization_code: 1 },
      })
    } finally {
      await quick.close()
    }
  })
})
