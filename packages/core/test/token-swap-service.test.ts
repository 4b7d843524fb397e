import { afterEach, describe, expect, it, vi } from 'vitest'
import { TokenSwapService } from '../src/adapter.js'
import { createMemoryRateLimiter, OngoingAccess } from '../src/index.js'
import { json, SECRET } from './fake-as.js'

const FORM = 'application/x-www-form-urlencoded'

/** Two authorization servers behind one intercepting `fetch`, counting token calls per server. */
function twoServers() {
  const calls: Record<string, URLSearchParams[]> = {}
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const request = new Request(input, init)
    const url = new URL(request.url)
    const body = new URLSearchParams(await request.text())
    calls[url.origin] = [...(calls[url.origin] ?? []), body]
    return json({ access_token: `at-from-${url.host}`, token_type: 'Bearer', expires_in: 3600 })
  }
  const accessAt = (issuer: string) =>
    new OngoingAccess({
      issuer,
      endpoints: { authorization: `${issuer}/authorize`, token: `${issuer}/token` },
      // The same client id and the same application secret at both servers.
      client: { id: 'shared-client-id', secret: 'client-secret' },
      redirectUri: 'https://app.test/auth/callback',
      scope: '',
      secret: SECRET,
      fetch,
    })
  return { calls, accessAt }
}

const refreshForm = (handle: string) => ({
  contentType: FORM,
  body: new URLSearchParams({ refresh_token: handle }).toString(),
  clientAddress: '192.0.2.1',
})

describe('TokenSwapService handles', () => {
  it('regression (issue 17, item 11): a handle sealed for one issuer is refused by the swap service of another issuer with the same client id and secret', async () => {
    const { calls, accessAt } = twoServers()
    const one = new TokenSwapService(accessAt('https://one.as.test'), { rateLimit: false })
    const two = new TokenSwapService(accessAt('https://two.as.test'), { rateLimit: false })
    const handle = one.sealHandle('rt-issued-by-one')

    const refused = await two.refresh(refreshForm(handle))
    expect(refused.status).toBe(400)
    expect(refused.json.error).toBe('invalid_grant')
    expect(JSON.stringify(refused)).not.toContain('rt-issued-by-one')
    expect(calls['https://two.as.test']).toBeUndefined()
    expect(calls['https://one.as.test']).toBeUndefined()

    // The issuer's own service still opens it, and sends the refresh token only to its server.
    const accepted = await one.refresh(refreshForm(handle))
    expect(accepted.status).toBe(200)
    expect(calls['https://one.as.test']?.map((body) => body.get('refresh_token'))).toEqual([
      'rt-issued-by-one',
    ])
    expect(calls['https://two.as.test']).toBeUndefined()
  })
})

describe('createMemoryRateLimiter', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('regression (issue 17, item 12): 200,000 distinct addresses in one window keep a bounded table, and rotating addresses does not get past the limit', () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const limiter = createMemoryRateLimiter(30, 60_000)
    const victim = '198.51.100.7'
    for (let i = 0; i < 29; i++) expect(limiter(victim)).toBe(true)

    let allowed = 0
    for (let i = 0; i < 200_000; i++) {
      if (limiter(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`)) allowed++
    }
    // Each address the table could still hold got its call; the rest shared one budget of 30.
    expect(allowed).toBeLessThanOrEqual(100_000 + 30)
    expect(limiter.size).toBeLessThanOrEqual(100_000)
    // The flood did not reset the victim's count: one call left, then refused.
    expect(limiter(victim)).toBe(true)
    expect(limiter(victim)).toBe(false)

    // A new window starts from an empty table.
    vi.setSystemTime(Date.now() + 60_000)
    expect(limiter('10.0.0.1')).toBe(true)
    expect(limiter.size).toBe(1)
  })

  it('regression (issue 17, item 12): two addresses in one IPv6 /64 share a budget, and ::ffff:a.b.c.d counts as a.b.c.d', () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const limiter = createMemoryRateLimiter(3, 60_000)
    expect(limiter('2001:db8:1:2::1')).toBe(true)
    expect(limiter('2001:db8:1:2:ffff:ffff:ffff:fffe')).toBe(true)
    expect(limiter('2001:0db8:0001:0002:0000:0000:0000:0009')).toBe(true)
    expect(limiter('2001:db8:1:2::abcd')).toBe(false)
    expect(limiter('fe80::1%eth0')).toBe(true)
    // The next /64 has its own budget.
    expect(limiter('2001:db8:1:3::1')).toBe(true)

    const mapped = createMemoryRateLimiter(2, 60_000)
    expect(mapped('203.0.113.5')).toBe(true)
    expect(mapped('::ffff:203.0.113.5')).toBe(true)
    expect(mapped('::ffff:cb00:7105')).toBe(false) // the same address, written in hex
    expect(mapped('203.0.113.6')).toBe(true)
    expect(mapped.size).toBe(2)
  })

  it('still limits: `limit` calls per address and window, then false until the next window', () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const limiter = createMemoryRateLimiter(5, 1_000)
    const answers = Array.from({ length: 7 }, () => limiter('192.0.2.10'))
    expect(answers).toEqual([true, true, true, true, true, false, false])
    expect(limiter('192.0.2.11')).toBe(true)
    vi.setSystemTime(Date.now() + 999)
    expect(limiter('192.0.2.10')).toBe(false)
    vi.setSystemTime(Date.now() + 1)
    expect(limiter('192.0.2.10')).toBe(true)
  })

  it('refuses a bad option at once', () => {
    expect(() => createMemoryRateLimiter(0, 60_000)).toThrow(TypeError)
    expect(() => createMemoryRateLimiter(1.5, 60_000)).toThrow(TypeError)
    expect(() => createMemoryRateLimiter(30, 0)).toThrow(TypeError)
    expect(() => createMemoryRateLimiter(30, 60_000, { maxKeys: 0 })).toThrow(TypeError)
  })

  it('regression (issue 17, item 12): the swap service answers 429 to the 31st call of a minute from one IPv6 /64, without a token call', async () => {
    const { calls, accessAt } = twoServers()
    const service = new TokenSwapService(accessAt('https://one.as.test'))
    const statuses: number[] = []
    for (let i = 1; i <= 31; i++) {
      const response = await service.refresh({
        contentType: FORM,
        body: 'refresh_token=not-a-handle',
        clientAddress: `2001:db8:aa:bb::${i.toString(16)}`,
      })
      statuses.push(response.status)
    }
    expect(statuses.filter((status) => status === 400)).toHaveLength(30)
    expect(statuses[30]).toBe(429)
    expect(Object.keys(calls)).toHaveLength(0)
  })
})
