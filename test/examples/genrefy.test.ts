// Genrefy on Express, Koa and NestJS without a browser, each with its grants in Redis (REDIS_URL),
// then in PostgreSQL (DATABASE_URL): the provider (examples/provider) and the app started as a user
// would, on the built packages, then walked over HTTP. The background job walks the grants in the
// store, not a list of its own: it reads the history of a user whose grant another OngoingAccess
// sharing the store stored, it still reads after a restart of the app, and it skips a grant the
// provider revoked. /grants shows each grant's health (active, then consent_required) and never any
// token material. In PostgreSQL the grants are rows of the app's own table, sealed, with no token in
// clear in any column. An app given both variables refuses to start.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { OngoingAccess, type TokenStore } from '@ongoing/core'
import { driveConsent } from '@ongoing/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, root, start, stop, until } from '../browser/genrefy-scenario.js'
import { type ExampleStoreServer, exampleStores, exampleTable, expectGrantsSealedInTable } from './stores.js'
import { CookieJar, expectNoTokenMaterial, grantRows } from './support.js'

const SECRET = 'genrefy examples test secret, 32+ characters long'

const examples = [
  { name: 'Express', slug: 'express', script: 'examples/express/app.mjs', appUrlVariable: 'EXPRESS_APP_URL' },
  { name: 'Koa', slug: 'koa', script: 'examples/koa/app.mjs', appUrlVariable: 'KOA_APP_URL' },
  {
    name: 'NestJS',
    slug: 'nestjs',
    script: 'examples/nestjs/dist/main.js',
    appUrlVariable: 'NESTJS_APP_URL',
  },
]

let nestBuilt = false
/** TypeScript compiled to CommonJS, as in a `nest new` app: compile it as its `start` script does, once. */
function buildNestExample(): void {
  if (nestBuilt) return
  execFileSync(process.execPath, [root('node_modules/typescript/bin/tsc'), '-p', root('examples/nestjs')])
  nestBuilt = true
}

// Each app with each shared store: Redis first, then PostgreSQL.
const cases = exampleStores.flatMap((storeKind) => examples.map((example) => ({ storeKind, example })))
for (const { storeKind, example } of cases) {
  storeKind.describe(`examples/${example.slug} over HTTP, with its grants in ${storeKind.name}`, () => {
    const children: ChildProcess[] = []
    const jar = new CookieJar()
    let server: ExampleStoreServer
    let issuer: string
    let appUrl: string
    let appEnv: Record<string, string>
    let app: ReturnType<typeof start>
    /** Another instance of the app, as a second process would be: the same client, secret and store. */
    let other: { access: OngoingAccess; store: TokenStore & { close(): Promise<void> } }
    /** Every token the other instance received from the provider. */
    const tokens: string[] = []

    /** A navigation of the app's user: cookies kept, redirects not followed. */
    async function navigate(url: string): Promise<Response> {
      const headers = new Headers({ accept: 'text/html', 'sec-fetch-mode': 'navigate' })
      if (url.startsWith(appUrl)) headers.set('cookie', jar.header())
      const response = await fetch(url, { headers, redirect: 'manual' })
      if (url.startsWith(appUrl)) jar.keep(response)
      return response
    }

    async function grantsPage(): Promise<string> {
      const response = await fetch(`${appUrl}/grants`)
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toMatch(/^text\/html/)
      expect(response.headers.get('cache-control')).toBe('no-store')
      return response.text()
    }

    async function startApp(): Promise<void> {
      app = start(children, example.script, appEnv)
      await app.line(new RegExp(`^${example.slug} example: `))
    }

    beforeAll(async () => {
      if (example.slug === 'nestjs') buildNestExample()
      server = await storeKind.start()
      const appPort = await freePort()
      appUrl = `http://localhost:${appPort}`
      const provider = start(children, 'examples/provider/server.mjs', {
        PORT: '0',
        [example.appUrlVariable]: appUrl,
      })
      issuer = (await provider.line(/^provider: (\S+)/))[1]!
      appEnv = {
        PORT: String(appPort),
        ISSUER: issuer,
        JOB_EVERY_SECONDS: '1',
        ...server.env,
        ONGOING_SECRET: SECRET,
      }
      await startApp()

      // Opened once the app started: in PostgreSQL, the app's migrate() made its tables.
      const store = server.open(example.slug)
      const recordTokens: typeof fetch = async (input, init) => {
        const response = await fetch(input, init)
        const url = input instanceof Request ? input.url : String(input)
        if (new URL(url).pathname === '/token' && response.ok) {
          const body = (await response.clone().json()) as Record<string, unknown>
          for (const name of ['access_token', 'refresh_token', 'id_token']) {
            if (typeof body[name] === 'string') tokens.push(body[name])
          }
        }
        return response
      }
      const access = new OngoingAccess({
        issuer,
        client: { id: `genrefy-${example.slug}`, secret: `genrefy-${example.slug}-dev-secret` },
        redirectUri: `${appUrl}/auth/callback`,
        scope: 'offline_access api:read',
        secret: SECRET,
        store,
        fetch: recordTokens,
      })
      other = { access, store }
    }, 120_000)

    afterAll(async () => {
      await Promise.all(children.splice(0).map(stop))
      other?.access.close()
      await other?.store.close()
      await server?.clear(example.slug)
      await server?.close()
    })

    it('the home page links the grants page, which lists no grant yet', async () => {
      const home = await (await fetch(appUrl)).text()
      expect(home).toContain('<a id="grants" href="/grants">')
      const html = await grantsPage()
      expect(html).toContain('id="no-grants"')
      expect(grantRows(html)).toEqual([])
    })

    it('the job reads the history of a user who connected here, and of one whose grant another instance stored', async () => {
      // dave connects through the app: its consent routes, the provider's pages, the callback.
      const consent = await navigate(`${appUrl}/auth/consent?returnTo=/genres`)
      expect(consent.status).toBe(302)
      const callback = await driveConsent(consent.headers.get('location')!, {
        redirectUriPrefix: `${appUrl}/auth/callback`,
        login: 'dave',
      })
      expect((await navigate(callback.href)).headers.get('location')).toBe('/genres')
      const genres = await navigate(`${appUrl}/genres`)
      expect(genres.status).toBe(200)
      expect(await genres.text()).toContain('<h2>Top genres of dave</h2>')

      // carol's grant is stored by the other instance: this app never saw a request of hers.
      const { url, transaction } = await other.access.startConsent({ userKey: 'carol', returnTo: '/genres' })
      const carolsCallback = await driveConsent(url, {
        redirectUriPrefix: `${appUrl}/auth/callback`,
        login: 'carol',
      })
      await other.access.finishConsent({ callbackUrl: carolsCallback, transaction })
      expect(tokens.length).toBeGreaterThanOrEqual(2) // an access token and a refresh token

      await until('the job to read both histories', () => app.count(/^background job: read 2 of 2 /) > 0)
      const html = await grantsPage()
      const rows = grantRows(html)
      expect(rows.map((row) => row.status)).toEqual(['active', 'active'])
      const carol = rows.find((row) => row.userKey === 'carol')!
      expect(carol.cells).toMatchObject({ failures: '0', 'last-error': '–', 'consent-required': '–' })
      expect(carol.cells['next-refresh']).toMatch(/^\d\d:\d\d:\d\d \(in \d+ s\)$/)
      expect(html).toContain('2 grants: 2 active, 0 failing, 0 consent required')

      // dave's access token, opened from the store by the other instance: not on the page either.
      const dave = rows.find((row) => row.userKey !== 'carol')!
      const davesToken = await other.access.getAccessToken(dave.userKey)
      expectNoTokenMaterial(html, [...tokens, davesToken.value])
    })

    it(`after a restart of the app the job reads the grants from ${storeKind.name} again, and dave is still connected`, async () => {
      await stop(app.child)
      await startApp()
      await until(
        'the restarted job to read both histories',
        () => app.count(/^background job: read 2 of 2 /) > 0,
      )
      const genres = await navigate(`${appUrl}/genres`)
      expect(genres.status).toBe(200) // no consent again: the cookie's user key, the grant in the store
      expect(await genres.text()).toContain('<h2>Top genres of dave</h2>')
      expect(grantRows(await grantsPage()).map((row) => row.status)).toEqual(['active', 'active'])
    })

    if (storeKind.variable === 'DATABASE_URL')
      it(`the grants are rows of the app's own table, ${exampleTable(example.slug)}, sealed: no token in clear in any column`, async () => {
        const userKeys = grantRows(await grantsPage()).map((row) => row.userKey)
        expect(userKeys).toHaveLength(2)
        expect(userKeys).toContain('carol')
        // Each row opens with the app's secret; neither its tokens nor those the other instance
        // received are anywhere in the three tables, in clear or encoded.
        await expectGrantsSealedInTable(server.url, example.slug, { secret: SECRET, userKeys, tokens })
      })

    it('the provider revokes carol’s grants: the job finds hers dead, /grants says consent_required, dave reads on', async () => {
      const revoked = await fetch(`${issuer}/__ongoing/revoke-grants?accountId=carol`, { method: 'POST' })
      expect(revoked.status).toBe(204)

      const carol = await until('carol’s grant to be consent_required', async () =>
        grantRows(await grantsPage()).find(
          (row) => row.userKey === 'carol' && row.status === 'consent_required',
        ),
      )
      expect(carol.cells['consent-required']).toMatch(/^invalid_grant since \d\d:\d\d:\d\d/)
      expect(carol.cells['next-refresh']).toBe('–')
      // Read from the store: every instance says the same.
      expect(await other.access.inspect('carol')).toMatchObject({
        status: 'consent_required',
        consentRequired: { reason: 'invalid_grant', oauthError: 'invalid_grant' },
      })
      const before = app.count(/^background job: read 1 of 1 /)
      await until(
        'the job to read dave’s history alone',
        () => app.count(/^background job: read 1 of 1 /) > before,
      )

      const html = await grantsPage()
      expect(html).toContain('2 grants: 1 active, 0 failing, 1 consent required')
      expect(grantRows(html).find((row) => row.userKey !== 'carol')?.status).toBe('active')
      expectNoTokenMaterial(html, tokens)
    })
  })
}

describe('the examples refuse to start with both REDIS_URL and DATABASE_URL', () => {
  beforeAll(buildNestExample, 120_000)

  for (const example of examples)
    it(`${example.name}: exits with code 1 and says to pick one, before connecting to either`, async () => {
      // Nothing listens on port 1: an app that went on would fail later, with another message.
      const { code, stdout, stderr } = await run(example.script, {
        PORT: '0',
        REDIS_URL: 'redis://127.0.0.1:1',
        DATABASE_URL: 'postgres://ongoing@127.0.0.1:1/ongoing',
      })
      expect(code).toBe(1)
      expect(stderr).toContain(
        `${example.slug} example: both REDIS_URL and DATABASE_URL are set; pick one (the grants live in Redis or in PostgreSQL)`,
      )
      expect(stderr).not.toMatch(/ECONNREFUSED/)
      expect(stdout).not.toMatch(/example: http/)
    })
})

/** Runs `node <script>` with `env` added to this process's environment, until it exits (20 s at most). */
function run(script: string, env: Record<string, string>) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [root(script)], {
      cwd: root(script.slice(0, script.lastIndexOf('/'))),
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk
    })
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${script} did not exit within 20 s; stdout:\n${stdout}\nstderr:\n${stderr}`))
    }, 20_000)
    child.once('error', reject)
    child.once('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}
