// Genrefy on digi.me in a real Chromium: connect through the local digi.me stand-in's consent page,
// see the genres, outlive the access token, reload, and still see them after exactly one refresh
// (counted by the app and by the stand-in); then "Refresh now". And a cancelled consent: a page to
// try again, and no token call. Runs the stand-in and the app as a user would (`node server.mjs`,
// `node app.mjs` on the built packages), on free ports.
//
// Needs Debian's `chromium` (or CHROMIUM_PATH). Under CI=true a missing browser fails the test;
// elsewhere the test is skipped with a warning.
import type { ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { afterEach, expect, it, type TestContext } from 'vitest'
import {
  freePort,
  launchChromium,
  openPage,
  requireChromium,
  root,
  screenshotOnFailure,
  sleep,
  start,
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

afterEach(async () => {
  await browser?.close()
  browser = undefined
  for (const child of children.splice(0)) child.kill('SIGTERM')
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true })
})

/** Starts the stand-in, the app and a browser page; skips (or, under CI, fails) without Chromium. */
async function setUp(ctx: TestContext) {
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
  const app = start(children, 'examples/digime/app.mjs', {
    PORT: String(appPort),
    DIGIME_CONTRACT_FILE: contractFile,
    JOB_EVERY_SECONDS: '3600', // the job would refresh too; these tests count the page's refreshes
  })
  await app.line(/^digime example: /)

  browser = await launchChromium()
  const page = await openPage(ctx, browser, 'digime')
  const stats = async (): Promise<ServiceStats> => {
    const response = await fetch(`${serviceUrl}/__stats`)
    expect(response.status).toBe(200)
    return (await response.json()) as ServiceStats
  }
  return { page, appUrl, consentPage: `${serviceUrl}/apps/saas/authorize?**`, stats }
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
