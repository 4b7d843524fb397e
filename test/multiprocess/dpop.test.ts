// DPoP across processes: a grant made in this process is refreshed in another one that shares the
// store (Redis, PostgreSQL), and that process's API call through `fetch` is accepted. The key
// travels with the grant, sealed: the store never holds it in clear.
import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { OngoingAccess, type OngoingAccessOptions } from '@ongoing/core'
import {
  type DPoPResourceServer,
  driveConsent,
  startDPoPResourceServer,
  startTestAuthorizationServer,
  type TestAuthorizationServer,
} from '@ongoing/testing'
import pg from 'pg'
import { afterAll, beforeAll, expect, it } from 'vitest'
import {
  type Backend,
  backends,
  type ClosableStore,
  digest,
  openStore,
  REDIRECT_URI,
  type StoreConfig,
  type StoreServer,
} from './support.js'

const SECRET = `dpop-secret-${'d'.repeat(32)}`
const TTL_SECONDS = 2
const workerPath = fileURLToPath(new URL('./dpop-worker.mjs', import.meta.url))

interface Called {
  type: 'called'
  status: number
  tokenType: string
  refreshed: boolean
  digest: string
}

function nextMessage<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const listener = (message: { type: string; message?: string }) => {
      if (message.type === 'failed') {
        child.off('message', listener)
        reject(new Error(`worker failed: ${message.message}`))
      } else if (message.type === type) {
        child.off('message', listener)
        resolve(message as T)
      }
    }
    child.on('message', listener)
  })
}

/** A value as the store could hold it: raw, base64, base64url, hex. */
function forms(value: string): string[] {
  const raw = Buffer.from(value, 'utf8')
  return [value, raw.toString('base64'), raw.toString('base64url'), raw.toString('hex')]
}

/**
 * Every column of every row of a PostgresTokenStore's three tables, as text (a bytea column: as
 * UTF-8 and as raw bytes).
 */
async function postgresColumns(config: Extract<StoreConfig, { kind: 'postgres' }>): Promise<string> {
  const client = new pg.Client({ connectionString: config.url })
  await client.connect()
  try {
    const texts: string[] = []
    for (const suffix of ['', '_locks', '_claims']) {
      const { rows } = await client.query(`SELECT * FROM "${config.table}${suffix}"`)
      for (const row of rows)
        for (const column of Object.values(row)) {
          if (column === null) continue
          if (Buffer.isBuffer(column)) texts.push(column.toString('utf8'), column.toString('latin1'))
          else texts.push(String(column))
        }
    }
    return texts.join('\n')
  } finally {
    await client.end()
  }
}

function dpopAcrossProcesses(backend: Backend): void {
  let server: StoreServer
  let as: TestAuthorizationServer
  let rs: DPoPResourceServer
  let storeConfig: StoreConfig

  beforeAll(async () => {
    server = await backend.start()
    storeConfig = server.namespace()
    as = await startTestAuthorizationServer({
      accessTokenTTLSeconds: TTL_SECONDS,
      rotateRefreshToken: true,
      pushedAuthorizationRequests: 'required',
    })
    rs = await startDPoPResourceServer({
      introspect: async (token) => {
        const { id, secret } = as.clients.confidential
        const response = await fetch(`${as.issuer}/token/introspection`, {
          method: 'POST',
          headers: { authorization: `Basic ${btoa(`${id}:${secret}`)}` },
          body: new URLSearchParams({ token }),
        })
        return (await response.json()) as { active: boolean }
      },
    })
  }, 60_000)
  afterAll(async () => {
    if (storeConfig !== undefined) await server?.clear(storeConfig)
    await rs?.close()
    await as?.close()
    await server?.close()
  })

  /**
   * The store holds the grant sealed: no token, and nothing of the key (not even `"d":`), in any
   * value it gives back nor, for PostgreSQL, in any column of its tables, raw or encoded. The key's
   * `d` is read the way only the app can: by opening the sealed record.
   */
  async function expectNothingInClear(access: OngoingAccess, store: ClosableStore, tokens: string[]) {
    const { keys } = await store.list!('', { cursor: undefined, limit: 100 })
    const values: string[] = []
    let d: string | undefined
    for (const key of keys) {
      const value = (await store.get(key))?.value ?? ''
      values.push(value)
      for (const token of tokens) expect(value).not.toContain(token)
      expect(value).not.toMatch(/"d"|"kty"/)
      const json = access.sealer.open('token-store', value, key)
      const jwk =
        json === undefined ? undefined : (JSON.parse(json) as { dk?: { jwk: { d: string } } }).dk?.jwk
      if (jwk !== undefined) d = jwk.d
    }
    expect(d).toMatch(/^[\w-]{43}$/)
    const secrets = [d!, ...tokens].flatMap(forms)
    for (const value of values) for (const form of secrets) expect(value).not.toContain(form)
    if (storeConfig.kind === 'postgres') {
      const stored = await postgresColumns(storeConfig)
      expect(stored.length).toBeGreaterThan(0)
      for (const form of secrets) expect(stored).not.toContain(form)
    }
  }

  it('a grant made in one process is refreshed once by both when it expires, and the other process calls the API with its key', async () => {
    const options: OngoingAccessOptions = {
      issuer: as.issuer,
      client: as.clients.confidential,
      redirectUri: REDIRECT_URI,
      scope: 'offline_access api:read',
      authorizationParams: { prompt: 'consent' },
      secret: SECRET,
      refreshSkewSeconds: 0,
      dpop: true,
    }
    // A PostgreSQL table is created here (migrate()), once, before the worker starts.
    const store = await openStore(storeConfig)
    const a = new OngoingAccess({ ...options, store })
    const child = fork(workerPath, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    try {
      const ready = nextMessage(child, 'ready')
      child.send({ type: 'init', config: { store: storeConfig, options } })
      await ready

      const started = await a.startConsent({ userKey: 'alice', returnTo: '/after' })
      const callbackUrl = await driveConsent(started.url, { redirectUriPrefix: REDIRECT_URI, login: 'alice' })
      const { token } = await a.finishConsent({ callbackUrl, transaction: started.transaction })
      expect(token.tokenType).toBe('DPoP')

      await expectNothingInClear(a, store, [token.value])

      await new Promise((resolve) => setTimeout(resolve, TTL_SECONDS * 1000 + 100))
      as.resetStats()
      const called = nextMessage<Called>(child, 'called')
      child.send({ type: 'call', userKey: 'alice', url: `${rs.url}/me` })
      const [fromA, fromB] = await Promise.all([a.getAccessToken('alice'), called])
      expect(as.stats().tokenCalls.refresh_token).toBe(1)
      expect(as.stats().refreshTokenReuse).toBe(0)
      expect(fromB.digest).toBe(digest(fromA.value))
      expect(fromB.tokenType).toBe('DPoP')
      expect(fromB.status).toBe(200)
      expect(rs.stats().accepted).toBe(1)
      // And back in this process, with the same key.
      expect((await a.fetch('alice', `${rs.url}/me`)).status).toBe(200)
      expect(rs.stats().accepted).toBe(2)

      // After the refresh, still nothing in clear: neither token, nor the key.
      await expectNothingInClear(a, store, [token.value, fromA.value])
    } finally {
      child.send({ type: 'exit' })
      a.close()
      await store.close()
    }
  })
}

for (const backend of backends) {
  backend.describe(`DPoP across two processes sharing ${backend.label} (RFC 9449)`, () =>
    dpopAcrossProcesses(backend),
  )
}
