import { describe, expect, it } from 'vitest'
import { OngoingAccess, TokenSwapService } from '../src/index.js'
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
