// Tokens at rest in PostgreSQL: OngoingAccess seals every record (encryptTokens, on by default)
// before the store sees it, so no column of any of the store's tables holds a token in clear, nor
// its base64 or base64url form.
import { OngoingAccess, type OngoingAccessOptions } from '@ongoing/core'
import {
  describeWithPostgres,
  driveConsent,
  type PostgresServer,
  startPostgresServer,
  startTestAuthorizationServer,
  type TestAuthorizationServer,
} from '@ongoing/testing'
import pg from 'pg'
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import { PostgresTokenStore } from '../src/index.js'
import { dropTables, uniqueTable } from './helpers.js'

const REDIRECT_URI = 'http://127.0.0.1:3000/callback'
const SCOPE = 'offline_access api:read'
const SECRET = `secret-${'s'.repeat(32)}`

describeWithPostgres('tokens at rest in PostgreSQL', () => {
  let postgres: PostgresServer
  let as: TestAuthorizationServer
  let admin: pg.Pool
  const tables: string[] = []
  const opened: { close(): unknown }[] = []

  beforeAll(async () => {
    postgres = await startPostgresServer()
    admin = new pg.Pool({ connectionString: postgres.url, max: 2 })
    as = await startTestAuthorizationServer({ accessTokenTTLSeconds: 3_600, rotateRefreshToken: true })
  }, 60_000)
  afterEach(async () => {
    for (const each of opened.splice(0).reverse()) await each.close()
    for (const table of tables.splice(0)) await dropTables(postgres.url, table)
  })
  afterAll(async () => {
    await admin?.end()
    await as?.close()
    await postgres?.close()
  })

  async function newAccess(options: Partial<OngoingAccessOptions> = {}) {
    const table = uniqueTable()
    tables.push(table)
    const store = new PostgresTokenStore({ connectionString: postgres.url, table })
    opened.push(store)
    await store.migrate()
    const access = new OngoingAccess({
      issuer: as.issuer,
      client: { id: as.clients.confidential.id, secret: as.clients.confidential.secret },
      redirectUri: REDIRECT_URI,
      scope: SCOPE,
      secret: SECRET,
      store,
      ...options,
    })
    opened.push(access)
    return { access, store, table }
  }

  /** A real consent at the test AS and a code exchange outside the library: the tokens we seed. */
  async function obtainTokens(access: OngoingAccess, userKey: string) {
    const { url, codeVerifier } = await access.startConsent({ userKey })
    const callback = await driveConsent(url, { redirectUriPrefix: REDIRECT_URI, login: userKey })
    const code = callback.searchParams.get('code')
    if (code === null) throw new Error('consent failed')
    const { id, secret } = as.clients.confidential
    const response = await fetch(new URL('/token', as.issuer), {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: REDIRECT_URI,
        code_verifier: codeVerifier,
      }),
    })
    const tokens = (await response.json()) as { access_token: string; refresh_token: string }
    if (!response.ok) throw new Error('code exchange failed')
    return { accessToken: tokens.access_token, refreshToken: tokens.refresh_token }
  }

  /** Every column of every row of the store's three tables, as text (the value column: UTF-8 and raw bytes). */
  async function everything(table: string): Promise<string> {
    const texts: string[] = []
    for (const suffix of ['', '_locks', '_claims']) {
      const { rows } = await admin.query(`SELECT * FROM "${table}${suffix}"`)
      for (const row of rows)
        for (const column of Object.values(row)) {
          if (Buffer.isBuffer(column)) texts.push(column.toString('utf8'), column.toString('latin1'))
          else texts.push(String(column))
        }
    }
    return texts.join('\n')
  }

  function forms(token: string): string[] {
    const raw = Buffer.from(token, 'utf8')
    return [token, raw.toString('base64'), raw.toString('base64url'), raw.toString('hex')]
  }

  it('no refresh or access token appears in any column, raw or base64, before and after a refresh', async () => {
    const { access, table } = await newAccess()
    const seeded = await obtainTokens(access, 'alice')
    await access.restore('alice', { ...seeded, expiresAt: Date.now() - 1_000 })
    as.resetStats()
    // An expired access token: this refreshes, and the rotated refresh token is stored.
    const refreshed = await access.getAccessToken('alice')
    expect(refreshed.refreshed).toBe(true)
    expect(as.stats().tokenCalls.refresh_token).toBe(1)
    const stored = await everything(table)
    expect(stored.length).toBeGreaterThan(0)
    for (const token of [seeded.accessToken, seeded.refreshToken, refreshed.value])
      for (const form of forms(token)) expect(stored).not.toContain(form)
  })

  it('the scan finds tokens when encryptTokens is false (and only then)', async () => {
    const { access, table } = await newAccess({ encryptTokens: false })
    const seeded = await obtainTokens(access, 'bob')
    await access.restore('bob', { ...seeded, expiresIn: 3_600 })
    const stored = await everything(table)
    expect(stored).toContain(seeded.refreshToken)
    expect(stored).toContain(seeded.accessToken)
  })
})
