import { startTestAuthorizationServer, type TestAuthorizationServer } from '@ongoing/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { accessFor, consentAs } from './real-as.js'
import { startTestAPI } from './test-api.js'

describe('regression (issue 18): access.fetch after a 401 without a standard challenge', () => {
  let as: TestAuthorizationServer
  let api: Awaited<ReturnType<typeof startTestAPI>>
  const lines: string[] = []
  const logger = (level: string, message: string, fields: Record<string, unknown>) => {
    lines.push(`${level} ${message} ${JSON.stringify(fields)}`)
  }

  beforeAll(async () => {
    as = await startTestAuthorizationServer({ accessTokenTTLSeconds: 60 })
    api = await startTestAPI()
  })
  afterAll(async () => {
    await api?.close()
    await as?.close()
  })

  /** Consents `userKey`, rejects its first token at the API, and counts what one fetch causes. */
  async function fetchOnce(userKey: string, path: string, rejectFirst = true) {
    const access = accessFor(as, { logger })
    const { token } = await consentAs(access, userKey)
    if (rejectFirst) api.rejected.add(token.value)
    as.resetStats()
    const before = api.calls.length
    lines.length = 0
    const response = await access.fetch(userKey, `${api.url}${path}`)
    const calls = api.calls.slice(before)
    const secrets = [token.value, ...calls.map((call) => call.token)]
    for (const line of lines) for (const secret of secrets) expect(line).not.toContain(secret)
    return { response, calls, first: token.value, refreshes: as.stats().tokenCalls.refresh_token }
  }

  for (const [kind, label] of [
    ['none', 'no challenge'],
    ['basic', 'a `Basic realm=x` challenge'],
    ['bearer-realm', 'a Bearer challenge naming no error'],
    ['quoted-error', 'invalid_token after an error_description quoting another error'],
  ] as const) {
    it(`regression (issue 18): a 401 with ${label} refreshes once and retries once`, async () => {
      const { response, calls, first, refreshes } = await fetchOnce(`u-${kind}`, `/${kind}`)
      expect(response.status).toBe(200)
      expect(refreshes).toBe(1)
      expect(calls).toHaveLength(2)
      expect(calls[0]?.token).toBe(first)
      expect(calls[1]?.token).not.toBe(first)
    })
  }

  it('regression (issue 18): a 401 without a challenge that persists: one refresh, one retry, the 401 returned', async () => {
    const { response, calls, refreshes } = await fetchOnce('u-always', '/always/none', false)
    expect(response.status).toBe(401)
    expect(refreshes).toBe(1)
    expect(calls).toHaveLength(2)
  })

  it('regression (issue 18): a 401 naming insufficient_scope is returned as is, without a refresh', async () => {
    const { response, calls, refreshes } = await fetchOnce('u-scope', '/insufficient-scope')
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toContain('insufficient_scope')
    expect(refreshes).toBe(0)
    expect(calls).toHaveLength(1)
  })
})
