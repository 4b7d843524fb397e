import { type LogLevel, MemoryTokenStore, OngoingAccess, type OngoingAccessEvents } from '@ongoing/core'
import { driveConsent, startTestAuthorizationServer, type TestAuthorizationServer } from '@ongoing/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { APP_SECRET, REDIRECT_URI } from './real-as.js'

type Warning = OngoingAccessEvents['warning'][0]

interface LogLine {
  level: LogLevel
  message: string
  fields: Record<string, unknown>
}

// These accesses set no `authorizationParams` unless a test says so: whatever `prompt` reaches
// the server is the library's own choice.
function offlineAccess(
  as: TestAuthorizationServer,
  options: Partial<ConstructorParameters<typeof OngoingAccess>[0]> = {},
) {
  const logs: LogLine[] = []
  const warnings: Warning[] = []
  const access = new OngoingAccess({
    issuer: as.issuer,
    client: as.clients.confidential,
    redirectUri: REDIRECT_URI,
    scope: 'openid offline_access api:read',
    secret: APP_SECRET,
    refreshSkewSeconds: 0,
    logger: (level, message, fields) => logs.push({ level, message, fields }),
    ...options,
  })
  access.on('warning', (warning) => {
    warnings.push(warning)
  })
  return { access, logs, warnings }
}

async function consent(access: OngoingAccess, userKey: string, params?: Record<string, string>) {
  const started = await access.startConsent({ userKey, ...(params === undefined ? {} : { params }) })
  const callbackUrl = await driveConsent(started.url, { redirectUriPrefix: REDIRECT_URI, login: userKey })
  const finished = await access.finishConsent({ callbackUrl, transaction: started.transaction })
  return { url: started.url, finished }
}

describe('offline access the OpenID Connect way (server: refresh tokens only for a granted offline_access)', () => {
  let as: TestAuthorizationServer

  beforeAll(async () => {
    as = await startTestAuthorizationServer({ refreshTokens: 'offline_access' })
  })
  afterAll(async () => {
    await as?.close()
  })

  it('regression (issue 18): without authorizationParams, a consent with offline_access sends prompt=consent and yields a refresh token', async () => {
    const { access, warnings, logs } = offlineAccess(as)
    const { url, finished } = await consent(access, 'olivia')
    as.resetStats()
    const refreshed = await access.getAccessToken('olivia', { forceRefresh: true })
    expect(refreshed.refreshed).toBe(true)
    expect(as.stats().tokenCalls.refresh_token).toBe(1)
    expect(finished.token.scope?.split(' ')).toContain('offline_access')
    expect(url.searchParams.get('prompt')).toBe('consent')
    expect(warnings).toEqual([])
    expect(logs.filter((line) => line.level === 'warn')).toEqual([])
    access.close()
  })

  it('regression (issue 18): the same holds for plain OAuth 2.0 (no openid in the scope)', async () => {
    const { access, warnings } = offlineAccess(as, { scope: 'offline_access api:read' })
    const { url, finished } = await consent(access, 'oscar')
    as.resetStats()
    await access.getAccessToken('oscar', { forceRefresh: true })
    expect(as.stats().tokenCalls.refresh_token).toBe(1)
    expect(finished.token.scope?.split(' ')).toContain('offline_access')
    expect(url.searchParams.get('prompt')).toBe('consent')
    expect(warnings).toEqual([])
    access.close()
  })

  it("regression (issue 18): the app's own prompt wins, from authorizationParams or the consent's params, and its outcome is reported", async () => {
    const configured = offlineAccess(as, { authorizationParams: { prompt: 'login' } })
    const first = await consent(configured.access, 'paula')
    expect(first.url.searchParams.get('prompt')).toBe('login')
    expect(configured.warnings.map((w) => w.code)).toEqual(['offline_access_not_granted'])
    configured.access.close()

    const perConsent = offlineAccess(as, { authorizationParams: { prompt: 'consent' } })
    const second = await consent(perConsent.access, 'peter', { prompt: 'login' })
    expect(second.url.searchParams.get('prompt')).toBe('login')
    expect(perConsent.warnings.map((w) => w.code)).toEqual(['offline_access_not_granted'])
    perConsent.access.close()

    // No offline_access asked for: no prompt added.
    const online = offlineAccess(as, { scope: 'openid api:read' })
    const third = await consent(online.access, 'quinn')
    expect(third.url.searchParams.has('prompt')).toBe(false)
    online.access.close()
  })

  it('regression (issue 18): a narrowed scope without a refresh token warns once (event and log) and the grant is still stored', async () => {
    const store = new MemoryTokenStore()
    const { access, warnings, logs } = offlineAccess(as, { store })
    // The app's prompt keeps consent out, so the server narrows the scope and issues no refresh token.
    const { finished } = await consent(access, 'rosa', { prompt: 'login' })
    expect(finished.token.scope?.split(' ')).not.toContain('offline_access')
    expect(warnings).toEqual([
      {
        userKey: 'rosa',
        code: 'offline_access_not_granted',
        message: expect.stringContaining('did not grant `offline_access`'),
      },
    ])
    const warned = logs.filter((line) => line.level === 'warn')
    expect(warned).toHaveLength(1)
    expect(warned[0]?.message).toContain('offline_access')
    expect(warned[0]?.fields).toMatchObject({ userKey: 'rosa', code: 'offline_access_not_granted' })
    expect(JSON.stringify(warned)).not.toContain(finished.token.value)

    // Stored all the same: another instance on the same store serves the access token.
    const other = new OngoingAccess({
      issuer: as.issuer,
      client: as.clients.confidential,
      redirectUri: REDIRECT_URI,
      scope: 'openid offline_access api:read',
      secret: APP_SECRET,
      store,
    })
    expect((await other.getAccessToken('rosa')).value).toBe(finished.token.value)
    other.close()
    access.close()
  })

  it('regression (issue 18): the scope granted in full but no refresh token (stripped by an intercepting fetch) warns no_refresh_token', async () => {
    // oidc-provider issues a refresh token with every granted offline_access: a fetch in front of
    // it removes the refresh token from the code exchange's answer, the scope left as granted.
    const stripping: typeof fetch = async (input, init) => {
      const response = await fetch(input, init)
      const url = input instanceof Request ? input.url : String(input)
      if (url !== `${as.issuer}/token`) return response
      const body = (await response.json()) as Record<string, unknown>
      delete body.refresh_token
      return new Response(JSON.stringify(body), { status: response.status, headers: response.headers })
    }
    const { access, warnings, logs } = offlineAccess(as, { fetch: stripping })
    const { finished } = await consent(access, 'sam')
    expect(finished.token.scope?.split(' ')).toContain('offline_access')
    expect(warnings).toEqual([
      { userKey: 'sam', code: 'no_refresh_token', message: expect.stringContaining('no refresh token') },
    ])
    expect(logs.filter((line) => line.level === 'warn')).toHaveLength(1)
    expect((await access.getAccessToken('sam')).value).toBe(finished.token.value)
    access.close()
  })
})
