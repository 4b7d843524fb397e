// Issue 17, item 10: an event listener or a logger that throws (or an async listener that
// rejects) must not fail or change the outcome of a call: a refresh that succeeded still
// resolves, and ConsentRequiredError stays that class (adapters redirect to consent on it).
import { ConsentRequiredError, isOngoingAccessError, type Logger } from '@ongoing/core'
import { describe, expect, it } from 'vitest'
import { accessThrough, expectNoError, Gateway, settle, sleep, useStrictServer } from './support.js'

class ListenerFault extends Error {
  override name = 'ListenerFault'
}

/**
 * Records the promise rejections nobody handled while `run` goes on (in place of the test
 * runner's own handlers, put back afterwards).
 */
async function unhandledRejectionsDuring(run: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = []
  const others = process.listeners('unhandledRejection')
  process.removeAllListeners('unhandledRejection')
  const record = (reason: unknown) => seen.push(reason)
  process.on('unhandledRejection', record)
  try {
    await run()
    await sleep(50)
  } finally {
    process.off('unhandledRejection', record)
    for (const listener of others) process.on('unhandledRejection', listener)
  }
  return seen
}

describe('engine: throwing listeners and loggers (real server)', () => {
  const server = useStrictServer({ accessTokenTTLSeconds: 60 })

  const throwingLogger: Logger = () => {
    throw new ListenerFault('the logger failed')
  }

  it('regression (issue 17, item 10): a `refresh` listener that throws does not fail a refresh that succeeded', async () => {
    const { access } = await server.consented('refresh-listener')
    access.on('refresh', () => {
      throw new ListenerFault('refresh listener failed')
    })
    server.expire()

    const outcome = await settle(access.getAccessToken('refresh-listener'))

    expectNoError(outcome)
    expect('value' in outcome && outcome.value.refreshed).toBe(true)
  })

  it('regression (issue 17, item 10): an async `refresh` listener that rejects leaves no unhandled rejection', async () => {
    const { access } = await server.consented('async-listener')
    access.on('refresh', async () => {
      await sleep(1)
      throw new ListenerFault('async refresh listener failed')
    })
    server.expire()

    let refreshed: boolean | undefined
    const unhandled = await unhandledRejectionsDuring(async () => {
      refreshed = (await access.getAccessToken('async-listener')).refreshed
    })

    expect(refreshed).toBe(true)
    expect(unhandled.map((reason) => (reason as Error)?.message)).toEqual([])
  })

  it('regression (issue 17, item 10): a `consentRequired` listener that throws leaves ConsentRequiredError as it is', async () => {
    const access = accessThrough(new Gateway(server.as))
    access.on('consentRequired', () => {
      throw new ListenerFault('consentRequired listener failed')
    })

    const outcome = await settle(access.getAccessToken('never-consented'))

    expect('error' in outcome && outcome.error).toBeInstanceOf(ConsentRequiredError)
    expect('error' in outcome && outcome.error).toMatchObject({
      code: 'ERR_CONSENT_REQUIRED',
      reason: 'no_grant',
    })
  })

  it('regression (issue 17, item 10): a `refreshError` listener that throws does not replace the refresh’s own error', async () => {
    const { gateway, access } = await server.consented('error-listener', {
      retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 5 },
    })
    access.on('refreshError', () => {
      throw new ListenerFault('refreshError listener failed')
    })
    server.expire()
    gateway.down = true

    const outcome = await settle(access.getAccessToken('error-listener'))

    const error = 'error' in outcome ? outcome.error : undefined
    expect((error as Error | undefined)?.name).not.toBe('ListenerFault')
    expect(isOngoingAccessError(error)).toBe(true)
  })

  it('regression (issue 17, item 10): a logger that throws does not fail a refresh that succeeded', async () => {
    const { gateway, access } = await server.consented('throwing-logger')
    // The same grant through an instance whose logger throws on every line.
    const logging = accessThrough(gateway, { store: access.store, logger: throwingLogger })
    server.expire()

    const outcome = await settle(logging.getAccessToken('throwing-logger'))

    expectNoError(outcome)
    expect('value' in outcome && outcome.value.refreshed).toBe(true)
  })

  it('regression (issue 17, item 10): a logger that throws leaves ConsentRequiredError as it is', async () => {
    const access = accessThrough(new Gateway(server.as), { logger: throwingLogger })

    const outcome = await settle(access.getAccessToken('never-consented'))

    expect('error' in outcome && outcome.error).toBeInstanceOf(ConsentRequiredError)
  })
})
