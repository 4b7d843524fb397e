// Genrefy on digi.me in a real Chromium: connect through the local digi.me stand-in's consent page,
// see the genres, outlive the access token, reload, and still see them after exactly one refresh
// (counted by the app and by the stand-in); then "Refresh now". And a cancelled consent: a page to
// try again, and no token call. With the app's grants in Redis: the background job reads on after a
// restart of the app, and /grants shows the grant active, then consent_required once the user
// withdrew their consent at the stand-in. Runs the stand-in and the app as a user would
// (`node server.mjs`, `node app.mjs` on the built packages), on free ports.
//
// Needs Debian's `chromium` (or CHROMIUM_PATH). Under CI=true a missing browser fails the test;
// elsewhere the test is skipped with a warning.
import type { ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type RedisServer, startRedisServer } from '@ongoing/testing'
import type { Browser } from 'playwright-core'
import { afterEach, expect, it, type TestContext } from 'vitest'
import { expectNoTokenMaterial } from '../examples/support.js'
import {
  freePort,
  launchChromium,
  openPage,
  requireChromium,
  requireRedis,
  root,
  screenshotOnFailure,
  sleep,
  start,
  stop,
  until,
} from './genrefy-scenario.js'

const ACCESS_TOKEN_TTL_SECONDS = 5

/** The counters of the stand-in's `/__stats`, as far as these tests read them. */
interface ServiceStats {
  consents: { success: number; cancel: number; error: number; invalid: number }
  tokenCalls: { authorization_code: number; refresh_token: number; total: number }
  dataCalls: { trigger: number; fileList: number; file: number; total: number }
  refused: Record<string, number>
  unverifiedJwts: number
  duplicateNonces: number
}

const children: ChildProcess[] = []
const directories: string[] = []
let browser: Browser | undefined
let redis: RedisServer | undefined

afterEach(async () => {
  await browser?.close()
  browser = undefined
  for (const child of children.splice(0)) child.kill('SIGTERM')
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true })
  await redis?.deleteKeys('genrefy-digime:')
  await redis?.close()
  redis = undefined
})

/**
 * Starts the stand-in, the app and a browser page; skips (or, under CI, fails) without Chromium.
 * `appEnv` adds to the app's environment.
 */
async function setUp(ctx: TestContext, appEnv: Record<string, string> = {}) {
  requireChromium(ctx)
  const directory = mkdtempSync(join(tmpdir(), 'genrefy-digime-'))
  directories.push(directory)
  const contractFile = join(directory, 'contract.json')
  const appPort = await freePort()
  const appUrl = `http://localhost:${appPort}`
  const service = start(children, 'examples/digime-service/server.mjs', {
    PORT: '0',
    API_PORT: '0',
    ACCESS_TOKEN_TTL: String(ACCESS_TOKEN_TTL_SECONDS),
    DIGIME_APP_URL: appUrl,
    DIGIME_CONTRACT_FILE: contractFile,
  })
  const serviceUrl = (await service.line(/^digime service: (\S+)/))[1]!
  const env = {
    PORT: String(appPort),
    DIGIME_CONTRACT_FILE: contractFile,
    JOB_EVERY_SECONDS: '3600', // the job would refresh too; these tests count the page's refreshes
    ...appEnv,
  }
  let app = start(children, 'examples/digime/app.mjs', env)
  await app.line(/^digime example: /)
  /** Stops the app's process and starts it again, as a deployment would. */
  const restartApp = async () => {
    await stop(app.child)
    app = start(children, 'examples/digime/app.mjs', env)
    await app.line(/^digime example: /)
    return app
  }

  browser = await launchChromium()
  const page = await openPage(ctx, browser, 'digime')
  const stats = async (): Promise<ServiceStats> => {
    const response = await fetch(`${serviceUrl}/__stats`)
    expect(response.status).toBe(200)
    return (await response.json()) as ServiceStats
  }
  return {
    page,
    app,
    restartApp,
    appUrl,
    serviceUrl,
    consentPage: `${serviceUrl}/apps/saas/authorize?**`,
    stats,
  }
}

it('digi.me: keeps showing the genres after the access token expires, with one refresh', async (ctx) => {
  const { page, appUrl, consentPage, stats } = await setUp(ctx)
  await screenshotOnFailure(page, 'digime-example', async () => {
    await page.goto(appUrl)
    await page.click('#connect')
    await page.waitForURL(consentPage) // after the pushed pre-authorization
    await page.fill('#user-id', 'bob')
    await page.click('#share')
    await page.waitForURL(`${appUrl}/genres`)

    const genres = await page.locator('#genres li .genre').allTextContents()
    expect(genres.length).toBeGreaterThan(2)
    expect(await page.textContent('h2')).toBe('Your top genres')
    // Every file of the data session read: three months of twelve plays.
    expect(await page.textContent('p.muted')).toBe('from the last 36 tracks you played')
    expect(await page.textContent('#refresh-count')).toBe('0')
    expect(await stats()).toMatchObject({
      consents: { success: 1, cancel: 0 },
      tokenCalls: { authorization_code: 1, refresh_token: 0, total: 1 },
      dataCalls: { trigger: 1, fileList: 1, file: 3 },
    })

    const expiresAt = Number(await page.getAttribute('#expires-in', 'data-expires-at'))
    expect(expiresAt - Date.now()).toBeLessThanOrEqual(ACCESS_TOKEN_TTL_SECONDS * 1000)
    await sleep(expiresAt - Date.now() + 500)

    await page.reload()
    expect(await page.locator('#genres li .genre').allTextContents()).toEqual(genres)
    expect(await page.textContent('#refresh-count')).toBe('1')
    expect(Number(await page.getAttribute('#expires-in', 'data-expires-at'))).toBeGreaterThan(Date.now())
    expect(await stats()).toMatchObject({
      tokenCalls: { authorization_code: 1, refresh_token: 1, total: 2 },
      dataCalls: { trigger: 2, fileList: 2, file: 6 },
      refused: {},
      unverifiedJwts: 0,
      duplicateNonces: 0,
    })

    mkdirSync(root('test-results'), { recursive: true })
    await page.screenshot({ path: root('test-results/digime-example.png'), fullPage: true })

    // "Refresh now": a same-origin POST to the router's /refresh, then the page reloads.
    await Promise.all([page.waitForEvent('load'), page.click('#refresh-now')])
    expect(await page.textContent('#refresh-count')).toBe('2')
    expect((await stats()).tokenCalls).toEqual({ authorization_code: 1, refresh_token: 2, total: 3 })
  })
}, 120_000)

it('digi.me: a cancelled consent shows a page to try again, and calls no token endpoint', async (ctx) => {
  const { page, appUrl, consentPage, stats } = await setUp(ctx)
  await screenshotOnFailure(page, 'digime-cancel', async () => {
    await page.goto(appUrl)
    await page.click('#connect')
    await page.waitForURL(consentPage)
    const [callback] = await Promise.all([
      page.waitForResponse((response) => response.url().startsWith(`${appUrl}/auth/callback?`)),
      page.click('#cancel'), // back to the app with success=false&errorCode=USER_CANCEL
    ])
    expect(callback.status()).toBe(403)
    expect(new URL(callback.url()).searchParams.get('errorCode')).toBe('USER_CANCEL')
    expect(await page.textContent('#error')).toContain('You cancelled')
    expect(await stats()).toMatchObject({
      consents: { success: 0, cancel: 1 },
      tokenCalls: { total: 0 },
      dataCalls: { total: 0 },
    })

    await page.click('#connect') // "Try again"
    await page.waitForURL(consentPage)
  })
}, 120_000)

it('digi.me: the job walks the grants in Redis across a restart; /grants shows active, then consent_required once the user withdrew their consent', async (ctx) => {
  requireChromium(ctx)
  requireRedis(ctx)
  redis = await startRedisServer()
  const { page, app, restartApp, appUrl, serviceUrl, consentPage } = await setUp(ctx, {
    REDIS_URL: redis.url,
    JOB_EVERY_SECONDS: '1',
  })
  const rows = page.locator('#grant-table tbody tr')
  await screenshotOnFailure(page, 'digime-grants', async () => {
    await page.goto(appUrl)
    await page.click('#grants') // the home page links the grants page
    await page.waitForURL(`${appUrl}/grants`)
    expect(await page.textContent('#no-grants')).toContain('No grant is stored yet')

    await page.goto(appUrl)
    await page.click('#connect')
    await page.waitForURL(consentPage)
    await page.fill('#user-id', 'frank')
    await page.click('#share')
    await page.waitForURL(`${appUrl}/genres`)

    await page.goto(`${appUrl}/grants`)
    expect(await rows.count()).toBe(1)
    const userKey = (await rows.getAttribute('data-user-key'))!
    expect(userKey).toMatch(/^[A-Za-z0-9_-]{22}$/) // the random key in the app's cookie
    expect(await rows.getAttribute('data-status')).toBe('active')
    expect(await rows.locator('.next-refresh').textContent()).toMatch(/\(in \d+ s\)/)
    expectNoTokenMaterial(await page.content())
    await until('the job to read the history', () => app.count(/^background job: read 1 of 1 /) > 0)

    // A restart: the grant is in Redis, so the job reads on, and the user is still connected.
    const restarted = await restartApp()
    await until('the restarted job to read it', () => restarted.count(/^background job: read 1 of 1 /) > 0)
    await page.goto(`${appUrl}/grants`)
    expect(await rows.getAttribute('data-user-key')).toBe(userKey)
    expect(await rows.getAttribute('data-status')).toBe('active')
    await page.goto(`${appUrl}/genres`)
    expect(page.url()).toBe(`${appUrl}/genres`) // no consent again
    expect(await page.textContent('h2')).toBe('Your top genres')

    // The user withdraws their consent at digi.me: the job's next call finds the grant dead.
    const revoked = await fetch(`${serviceUrl}/__revoke-grants?userId=frank`, { method: 'POST' })
    expect(revoked.status).toBe(204)
    await until('the grant to be consent_required', async () => {
      await page.goto(`${appUrl}/grants`)
      return (await rows.getAttribute('data-status')) === 'consent_required'
    })
    expect(await rows.locator('.consent-required').textContent()).toMatch(
      /^invalid_grant \(InvalidToken\)\s+since \d\d:\d\d:\d\d/,
    )
    expectNoTokenMaterial(await page.content())
    mkdirSync(root('test-results'), { recursive: true })
    await page.screenshot({ path: root('test-results/digime-grants.png'), fullPage: true })

    // Back at the genres, the user consents again, and the new grant is active.
    await page.goto(`${appUrl}/genres`)
    await page.waitForURL(consentPage)
    await page.fill('#user-id', 'frank')
    await page.click('#share')
    await page.waitForURL(`${appUrl}/genres`)
    await page.goto(`${appUrl}/grants`)
    expect(await rows.getAttribute('data-user-key')).toBe(userKey)
    expect(await rows.getAttribute('data-status')).toBe('active')
  })
}, 120_000)
