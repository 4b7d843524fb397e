// The grants page the examples share (examples/genrefy): what it shows of each GrantInfo, escaped,
// and nothing else.
import { describe, expect, it } from 'vitest'
import { firstGrants, type GrantHealth, renderGrantsPage } from '../../examples/genrefy/index.cjs'
import { expectNoTokenMaterial, grantRows } from './support.js'

const job = { everySeconds: 10, lastRunAt: undefined, usersRead: 0 }
const now = Date.now()

describe('renderGrantsPage', () => {
  it('shows a failing grant’s failures, its last error and the next try', () => {
    const failing: GrantHealth = {
      userKey: 'user-1',
      status: 'failing',
      expiresAt: now + 20_000,
      lastRefreshedAt: now - 10_000,
      nextRefreshAt: now + 5_000,
      failures: 2,
      lastError: { code: 'ERR_TOKEN_ENDPOINT', status: 503, nextAttemptAt: now + 5_000 },
    }
    const html = renderGrantsPage({ framework: 'Test', grants: [failing], job })
    const [row] = grantRows(html)
    expect(row).toMatchObject({ userKey: 'user-1', status: 'failing' })
    expect(row!.cells.failures).toBe('2')
    expect(row!.cells['last-error']).toMatch(
      /^ERR_TOKEN_ENDPOINT \(503\) next try \d\d:\d\d:\d\d \(in \d s\)$/,
    )
    expect(row!.cells['consent-required']).toBe('–')
    expect(html).toContain('1 grant: 0 active, 1 failing, 0 consent required.')
  })

  it('escapes what it shows: a user key is the app’s, and may hold anything', () => {
    const userKey = '<script>alert("x")</script>&\''
    const html = renderGrantsPage({
      framework: '<b>',
      grants: [
        {
          userKey,
          status: 'consent_required',
          expiresAt: now,
          failures: 0,
          consentRequired: { reason: 'invalid_grant', at: now, oauthError: '<i>dead</i>' },
        },
      ],
      job,
    })
    expect(html).not.toContain('<script>')
    expect(html).not.toContain('<i>dead</i>')
    expect(html).not.toContain('<b>')
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;')
    expect(grantRows(html)[0]!.userKey).toBe(userKey)
  })

  it('shows only the fields it knows, never one a grant object might carry besides', () => {
    const grant = {
      userKey: 'user-2',
      status: 'active' as const,
      expiresAt: now + 30_000,
      failures: 0,
      accessToken: 'ya29.a0AfB_byC3QwErTyUiOpAsDfGhJkLzXcVbNm1234567890abcdef',
      refreshToken: 'rt-secret-value',
    }
    const html = renderGrantsPage({ framework: 'Test', grants: [grant], job })
    expectNoTokenMaterial(html, [grant.accessToken, grant.refreshToken])
  })

  it('says when there is no grant, and when there are more than it shows', async () => {
    expect(renderGrantsPage({ framework: 'Test', grants: [], job })).toContain('id="no-grants"')
    async function* grants() {
      for (let i = 0; i < 5; i++)
        yield { userKey: `user-${i}`, status: 'active' as const, expiresAt: now, failures: 0 }
    }
    const first = await firstGrants(grants(), 3)
    expect(first.grants.map((grant) => grant.userKey)).toEqual(['user-0', 'user-1', 'user-2'])
    expect(first.more).toBe(true)
    expect(await firstGrants(grants(), 5)).toMatchObject({ more: false })
    const html = renderGrantsPage({ framework: 'Test', ...first, job })
    expect(html).toContain('3+ grants: 3 active, 0 failing, 0 consent required (the first 3 shown).')
  })
})
