import { startTestAuthorizationServer, type TestAuthorizationServer } from '@ongoing/testing'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { accessFor, consentAs } from './real-as.js'

/**
 * Consents `userKey`, then revokes its grant while the server's revocation endpoint cannot be reached:
 * the library logs a warning and forgets the grant locally all the same.
 */
async function failedRevocation(as: TestAuthorizationServer, logger: unknown, userKey: string) {
  const access = accessFor(as, {
    logger: logger as never,
    fetch: async (input, init) => {
      const url = input instanceof Request ? input.url : String(input)
      if (url.endsWith('/token/revocation')) throw new TypeError('fetch failed')
      return fetch(input, init)
    },
  })
  const { token } = await consentAs(access, userKey)
  const outcome = await access.revoke(userKey)
  return { outcome, token }
}

describe('regression (issue 18): the logger option takes console and pino-style loggers as they are', () => {
  let as: TestAuthorizationServer
  beforeAll(async () => {
    as = await startTestAuthorizationServer({ accessTokenTTLSeconds: 60 })
  })
  afterAll(async () => {
    await as?.close()
    vi.restoreAllMocks()
  })

  it('regression (issue 18): console is called (message, fields)', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const info = vi.spyOn(console, 'info').mockImplementation(() => {})
    const { token } = await failedRevocation(as, console, 'console-user')
    const calls = [...warn.mock.calls, ...info.mock.calls]
    expect(calls.length).toBeGreaterThan(0)
    for (const [message, fields] of calls) {
      expect(typeof message).toBe('string')
      expect(message).toMatch(/^ongoing: /)
      expect(typeof fields).toBe('object')
      expect(JSON.stringify([message, fields])).not.toContain(token.value)
    }
    warn.mockRestore()
    info.mockRestore()
  })

  it('regression (issue 18): a pino-like logger is called (fields, message)', async () => {
    const lines: unknown[][] = []
    const record = (...args: unknown[]) => lines.push(args)
    const pinoLike = {
      level: 'info',
      child: () => pinoLike,
      bindings: () => ({}),
      debug: record,
      info: record,
      warn: record,
      error: record,
    }
    const { token } = await failedRevocation(as, pinoLike, 'pino-user')
    expect(lines.length).toBeGreaterThan(0)
    for (const [fields, message] of lines) {
      expect(typeof fields).toBe('object')
      expect(message).toMatch(/^ongoing: /)
      expect(JSON.stringify(lines)).not.toContain(token.value)
    }
  })

  it('regression (issue 18): a logger object that throws changes no outcome', async () => {
    const boom = () => {
      throw new Error('logger down')
    }
    const throwing = { debug: boom, info: boom, warn: boom, error: boom }
    const { outcome } = await failedRevocation(as, throwing, 'throwing-user')
    expect(outcome).toEqual({ revokedAtServer: false })
  })

  it('regression (issue 18): by default a warning reaches console.warn; logger: false silences it', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const { token } = await failedRevocation(as, undefined, 'default-user')
    expect(warn).toHaveBeenCalled()
    expect(JSON.stringify(warn.mock.calls)).not.toContain(token.value)
    warn.mockClear()
    await failedRevocation(as, false, 'silenced-user')
    expect(warn).not.toHaveBeenCalled()
    warn.mockRestore()
  })

  it('regression (issue 18): a logger of another shape throws a TypeError naming the option', () => {
    expect(() => accessFor(as, { logger: { warn: () => {} } as never })).toThrow(
      /`logger` must be a function/,
    )
  })
})
