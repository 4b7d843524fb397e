// Genrefy on digi.me without a browser: the local digi.me stand-in (examples/digime-service) and the
// app (examples/digime) started as a user would, on the built packages, then walked over HTTP: the
// stand-in's own pages, the contract file it hands the app, a consent through its consent page,
// and a restart of the stand-in, after which the app's grant is dead and the browser is sent back
// through consent. (test/browser/digime-example.test.ts does the same story in Chromium.) Then the
// app with its grants in Redis, and in PostgreSQL: its background job walks the grants in the store
// (another instance sharing the store opens them too), reads on after a restart of the app, and
// skips a grant the stand-in revoked; /grants shows each grant's health, and never any token
// material; in PostgreSQL the grants are sealed rows of the app's own table.
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { OngoingAccess, type TokenStore } from '@ongoing/core'
import { digiMe } from '@ongoing/digime'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, root, start, stop, until } from '../browser/genrefy-scenario.js'
import { type ExampleStoreServer, exampleStores, exampleTable, expectGrantsSealedInTable } from './stores.js'
import { CookieJar, expectNoTokenMaterial, grantRows } from './support.js'

interface Contract {
  about: string
  applicationId: string
  contractId: string
  privateKey: string
  baseUrl: string
  consentUrl: string
  keySetUrl: string
}

describe('examples/digime-service and examples/digime, over HTTP', () => {
  const children: ChildProcess[] = []
  let directory: string
  let contractFile: string
  let serviceEnv: Record<string, string>
  let serviceUrl: string
  let appUrl: string
  const jar = new CookieJar()

  /** A navigation of the app's user: cookies kept, redirects not followed. */
  async function navigate(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers)
    headers.set('accept', 'text/html')
    headers.set('sec-fetch-mode', 'navigate')
    if (url.startsWith(appUrl)) headers.set('cookie', jar.header())
    const response = await fetch(url, { ...init, headers, redirect: 'manual' })
    if (url.startsWith(appUrl)) jar.keep(response)
    return response
  }

  const stats = async () => (await fetch(`${serviceUrl}/__stats`)).json()
  const contract = () => JSON.parse(readFileSync(contractFile, 'utf8')) as Contract

  async function startService(): Promise<void> {
    const service = start(children, 'examples/digime-service/server.mjs', serviceEnv)
    serviceUrl = (await service.line(/^digime service: (\S+)/))[1]!
  }

  beforeAll(async () => {
    directory = mkdtempSync(join(tmpdir(), 'genrefy-digime-'))
    contractFile = join(directory, 'contract.json')
    const appPort = await freePort()
    appUrl = `http://localhost:${appPort}`
    // Fixed ports: the app keeps the URLs it read at start, and the stand-in restarts below.
    serviceEnv = {
      PORT: String(await freePort()),
      API_PORT: String(await freePort()),
      DIGIME_APP_URL: appUrl,
      DIGIME_CONTRACT_FILE: contractFile,
    }
    await startService()
    const app = start(children, 'examples/digime/app.mjs', {
      PORT: String(appPort),
      DIGIME_CONTRACT_FILE: contractFile,
      JOB_EVERY_SECONDS: '3600',
    })
    await app.line(/^digime example: /)
  }, 90_000)

  afterAll(() => {
    for (const child of children.splice(0)) child.kill('SIGTERM')
    rmSync(directory, { recursive: true, force: true })
  })

  it('the stand-in says what it is at its root, counts at /__stats, and answers 404 elsewhere', async () => {
    const page = await fetch(serviceUrl)
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toMatch(/^text\/html/)
    expect(await page.text()).toContain('It is <b>not digi.me</b>')
    expect(await stats()).toMatchObject({
      consents: { success: 0, cancel: 0 },
      tokenCalls: { total: 0 },
      dataCalls: { total: 0 },
      refused: {},
    })
    const missing = await fetch(`${serviceUrl}/nothing-here`)
    expect(missing.status).toBe(404)
    expect(missing.headers.get('content-type')).toMatch(/^text\/html/)
  })

  it('hands the app its contract in a file only its owner can read, marked as a demo key', () => {
    expect(statSync(contractFile).mode & 0o777).toBe(0o600)
    const { about, applicationId, contractId, privateKey, baseUrl, consentUrl, keySetUrl } = contract()
    expect(about).toMatch(/Not a digi\.me key/)
    expect({ applicationId, contractId }).toEqual({
      applicationId: 'genrefy-demo',
      contractId: 'listening-history',
    })
    expect(privateKey).toMatch(/^-----BEGIN PRIVATE KEY-----\n/)
    expect(baseUrl).toBe(`http://127.0.0.1:${serviceEnv.API_PORT}/v1.7/`)
    expect(keySetUrl).toBe(`${baseUrl}jwks/oauth`)
    expect(consentUrl).toBe(`${serviceUrl}/apps/saas/`)
  })

  it('a consent through the stand-in’s consent page, then the genres', async () => {
    const consent = await navigate(`${appUrl}/auth/consent?returnTo=/genres`)
    expect(consent.status).toBe(302)
    const consentPage = new URL(consent.headers.get('location')!)
    expect(consentPage.href.startsWith(`${serviceUrl}/apps/saas/authorize?`)).toBe(true)
    const form = await navigate(consentPage.href)
    expect(form.status).toBe(200)
    expect(await form.text()).toContain('id="share"')

    const answer = new URLSearchParams(consentPage.searchParams)
    answer.set('userId', 'dave')
    answer.set('answer', 'share')
    const shared = await navigate(`${serviceUrl}/apps/saas/authorize`, { method: 'POST', body: answer })
    expect(shared.status).toBe(303)
    const callback = new URL(shared.headers.get('location')!)
    expect(callback.href.startsWith(`${appUrl}/auth/callback?`)).toBe(true)
    expect(callback.searchParams.get('success')).toBe('true')

    const back = await navigate(callback.href)
    expect(back.status).toBe(303)
    expect(back.headers.get('location')).toBe('/genres')
    const genres = await navigate(`${appUrl}/genres`)
    expect(genres.status).toBe(200)
    const html = await genres.text()
    expect(html).toContain('<h2>Your top genres</h2>')
    expect(html).toContain('from the last 36 tracks you played')
    expect(await stats()).toMatchObject({
      consents: { success: 1, cancel: 0 },
      tokenCalls: { authorization_code: 1, refresh_token: 0, total: 1 },
      dataCalls: { trigger: 1, fileList: 1, file: 3 },
      unverifiedJwts: 0,
      duplicateNonces: 0,
    })

    // The same consent request answered twice: the stand-in refuses it, the app is not called.
    const again = await navigate(`${serviceUrl}/apps/saas/authorize`, { method: 'POST', body: answer })
    expect(again.status).toBe(303)
    expect(new URL(again.headers.get('location')!).searchParams.get('errorCode')).toBe('INVALID_CODE')
  })

  it('after a restart the stand-in keeps the contract; the dead grant sends the browser to consent', async () => {
    const { privateKey } = contract()
    const service = children[0]!
    await new Promise((resolve) => {
      service.once('exit', resolve)
      service.kill('SIGTERM')
    })
    await startService()
    expect(contract().privateKey).toBe(privateKey)

    // The app's access token is still valid by its own clock; the stand-in forgot every grant.
    const page = await navigate(`${appUrl}/genres`)
    expect(page.status).toBe(302)
    expect(page.headers.get('location')).toBe(`/auth/consent?${new URLSearchParams({ returnTo: '/genres' })}`)
    expect(await stats()).toMatchObject({
      tokenCalls: { authorization_code: 0, refresh_token: 1, total: 1 },
      refused: { invalid_access_token: 1, invalid_refresh_token: 1 },
      unverifiedJwts: 0,
    })
  })

  it('the app without a contract file says to start the stand-in first', async () => {
    const app = spawn(process.execPath, [root('examples/digime/app.mjs')], {
      cwd: root('examples/digime'),
      env: { ...process.env, PORT: String(await freePort()), DIGIME_CONTRACT_FILE: join(directory, 'none') },
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    app.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk
    })
    const code = await new Promise((resolve) => app.once('exit', resolve))
    expect(code).toBe(1)
    expect(stderr).toContain('start the digi.me service first')
  })

  it('the app with both REDIS_URL and DATABASE_URL says to pick one, and connects to neither', async () => {
    // Nothing listens on port 1: an app that went on would fail later, with another message.
    const app = spawn(process.execPath, [root('examples/digime/app.mjs')], {
      cwd: root('examples/digime'),
      env: {
        ...process.env,
        PORT: String(await freePort()),
        DIGIME_CONTRACT_FILE: contractFile,
        REDIS_URL: 'redis://127.0.0.1:1',
        DATABASE_URL: 'postgres://ongoing@127.0.0.1:1/ongoing',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    app.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk
    })
    const code = await new Promise((resolve) => app.once('exit', resolve))
    expect(code).toBe(1)
    expect(stderr).toContain(
      'digime example: both REDIS_URL and DATABASE_URL are set; pick one (the grants live in Redis or in PostgreSQL)',
    )
    expect(stderr).not.toMatch(/ECONNREFUSED/)
  })
})

for (const storeKind of exampleStores) {
  storeKind.describe(`examples/digime over HTTP, with its grants in ${storeKind.name}`, () => {
    const SECRET = 'genrefy-digime examples test secret, 32+ characters'
    const children: ChildProcess[] = []
    const jar = new CookieJar()
    let server: ExampleStoreServer
    let directory: string
    let serviceUrl: string
    let appUrl: string
    let appEnv: Record<string, string>
    let app: ReturnType<typeof start>
    /** Another instance of the app, as a second process would be: the same contract, secret and store. */
    let other: { access: OngoingAccess; store: TokenStore & { close(): Promise<void> } }

    async function navigate(url: string, init: RequestInit = {}): Promise<Response> {
      const headers = new Headers(init.headers)
      headers.set('accept', 'text/html')
      headers.set('sec-fetch-mode', 'navigate')
      if (url.startsWith(appUrl)) headers.set('cookie', jar.header())
      const response = await fetch(url, { ...init, headers, redirect: 'manual' })
      if (url.startsWith(appUrl)) jar.keep(response)
      return response
    }

    async function grantsPage(): Promise<string> {
      const response = await fetch(`${appUrl}/grants`)
      expect(response.status).toBe(200)
      expect(response.headers.get('cache-control')).toBe('no-store')
      return response.text()
    }

    async function startApp(): Promise<void> {
      app = start(children, 'examples/digime/app.mjs', appEnv)
      await app.line(/^digime example: /)
    }

    beforeAll(async () => {
      server = await storeKind.start()
      directory = mkdtempSync(join(tmpdir(), 'genrefy-digime-'))
      const contractFile = join(directory, 'contract.json')
      const appPort = await freePort()
      appUrl = `http://localhost:${appPort}`
      const service = start(children, 'examples/digime-service/server.mjs', {
        PORT: '0',
        API_PORT: '0',
        DIGIME_APP_URL: appUrl,
        DIGIME_CONTRACT_FILE: contractFile,
      })
      serviceUrl = (await service.line(/^digime service: (\S+)/))[1]!
      appEnv = {
        PORT: String(appPort),
        DIGIME_CONTRACT_FILE: contractFile,
        JOB_EVERY_SECONDS: '1',
        ...server.env,
        ONGOING_SECRET: SECRET,
      }
      await startApp()

      const contract = JSON.parse(readFileSync(contractFile, 'utf8')) as Contract
      // Opened once the app started: in PostgreSQL, the app's migrate() made its tables.
      const store = server.open('digime')
      const access = new OngoingAccess({
        profile: digiMe({
          applicationId: contract.applicationId,
          contractId: contract.contractId,
          privateKey: contract.privateKey,
          baseUrl: contract.baseUrl,
          consentUrl: contract.consentUrl,
          keySetUrl: contract.keySetUrl,
        }),
        redirectUri: `${appUrl}/auth/callback`,
        secret: SECRET,
        store,
      })
      other = { access, store }
    }, 90_000)

    afterAll(async () => {
      await Promise.all(children.splice(0).map(stop))
      other?.access.close()
      await other?.store.close()
      await server?.clear('digime')
      await server?.close()
      rmSync(directory, { recursive: true, force: true })
    })

    it('the home page links the grants page, which lists no grant yet', async () => {
      expect(await (await fetch(appUrl)).text()).toContain('<a id="grants" href="/grants">')
      const html = await grantsPage()
      expect(html).toContain('id="no-grants"')
      expect(grantRows(html)).toEqual([])
    })

    it('a consent at the stand-in: the job reads the history, /grants says active', async () => {
      const consent = await navigate(`${appUrl}/auth/consent?returnTo=/genres`)
      const consentPage = new URL(consent.headers.get('location')!)
      const answer = new URLSearchParams(consentPage.searchParams)
      answer.set('userId', 'erin')
      answer.set('answer', 'share')
      const shared = await navigate(`${serviceUrl}/apps/saas/authorize`, { method: 'POST', body: answer })
      const back = await navigate(shared.headers.get('location')!)
      expect(back.headers.get('location')).toBe('/genres')
      expect((await navigate(`${appUrl}/genres`)).status).toBe(200)

      await until('the job to read the history', () => app.count(/^background job: read 1 of 1 /) > 0)
      const html = await grantsPage()
      const [row] = grantRows(html)
      expect(row).toMatchObject({ status: 'active', cells: { failures: '0', 'last-error': '–' } })
      expect(row!.cells['next-refresh']).toMatch(/^\d\d:\d\d:\d\d \(in \d+ s\)$/)
      // The grant's access token, opened from the store by the other instance: not on the page.
      const token = await other.access.getAccessToken(row!.userKey)
      expectNoTokenMaterial(html, [token.value])
    })

    it(`after a restart of the app the job reads the grant from ${storeKind.name} again, and the user is still connected`, async () => {
      await stop(app.child)
      await startApp()
      await until(
        'the restarted job to read the history',
        () => app.count(/^background job: read 1 of 1 /) > 0,
      )
      expect((await navigate(`${appUrl}/genres`)).status).toBe(200) // no consent again
      expect(grantRows(await grantsPage()).map((row) => row.status)).toEqual(['active'])
    })

    if (storeKind.variable === 'DATABASE_URL')
      it(`the grant is a row of the app's own table, ${exampleTable('digime')}, sealed: no token in clear in any column`, async () => {
        const userKeys = grantRows(await grantsPage()).map((row) => row.userKey)
        expect(userKeys).toHaveLength(1)
        await expectGrantsSealedInTable(server.url, 'digime', { secret: SECRET, userKeys })
      })

    it('the user withdraws their consent at the stand-in: the job finds the grant dead, /grants says consent_required', async () => {
      const revoked = await fetch(`${serviceUrl}/__revoke-grants?userId=erin`, { method: 'POST' })
      expect(revoked.status).toBe(204)
      const row = await until('the grant to be consent_required', async () =>
        grantRows(await grantsPage()).find((each) => each.status === 'consent_required'),
      )
      // digi.me's own error code for a dead refresh token, next to the reason it maps to.
      expect(row.cells['consent-required']).toMatch(/^invalid_grant \(InvalidToken\) since \d\d:\d\d:\d\d/)
      expect(await other.access.inspect(row.userKey)).toMatchObject({
        status: 'consent_required',
        consentRequired: { reason: 'invalid_grant', oauthError: 'InvalidToken', status: 401 },
      })
      const html = await grantsPage()
      expect(html).toContain('1 grant: 0 active, 0 failing, 1 consent required')
      expectNoTokenMaterial(html)

      // The job skips it now; the user's next request needs consent again (Node's fetch is no
      // browser navigation, so a 401 naming the consent URL rather than a redirect).
      const page = await navigate(`${appUrl}/genres`)
      expect(page.status).toBe(401)
      expect(await page.json()).toMatchObject({ error: 'consent_required', reason: 'invalid_grant' })
    })
  })
}
