// The Genrefy scenario in a real Chromium: connect through the example provider's sign-in and
// consent pages, see the genres, outlive the access token, reload, and still see them after
// exactly one refresh (counted by the app and by the provider); then "Refresh now". Runs the
// example as a user would (`node app.mjs` on the built packages), on free ports. The helpers below
// (starting a script, Chromium, screenshots) serve the digi.me example's test too.
//
// Needs Debian's `chromium` (or CHROMIUM_PATH). Under CI=true a missing browser fails the test;
// elsewhere the test is skipped with a warning.
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { type RedisServer, redisServerAvailability, requireOrSkip, startRedisServer } from '@ongoing/testing'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterEach, expect, it, type TestContext } from 'vitest'
import { expectNoTokenMaterial } from '../examples/support.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const ACCESS_TOKEN_TTL_SECONDS = 5
export const root = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url))

/** One of the example apps. */
export interface GenrefyExample {
  /** For the test name: `Express`. */
  name: string
  /** For file names: `express`. */
  slug: string
  /** The app's entry point, relative to the repository root. */
  script: string
  /** The provider's variable for the app's URL: `EXPRESS_APP_URL`. */
  appUrlVariable: string
  /** What the app prints once it listens. */
  ready: RegExp
}

/** Registers the scenarios as tests of `example`. */
export function testGenrefyExample(example: GenrefyExample): void {
  const children: ChildProcess[] = []
  let browser: Browser | undefined
  let redis: RedisServer | undefined

  afterEach(async () => {
    await browser?.close()
    browser = undefined
    for (const child of children.splice(0)) child.kill('SIGTERM')
    await redis?.deleteKeys(`genrefy-${example.slug}:`)
    await redis?.close()
    redis = undefined
  })

  /**
   * Starts the provider, the app and a browser page; skips (or, under CI, fails) without Chromium.
   * `appEnv` adds to the app's environment.
   */
  async function setUp(ctx: TestContext, appEnv: Record<string, string> = {}) {
    requireChromium(ctx)
    const appPort = await freePort()
    const appUrl = `http://localhost:${appPort}`
    const provider = start(children, 'examples/provider/server.mjs', {
      PORT: '0',
      ACCESS_TOKEN_TTL: String(ACCESS_TOKEN_TTL_SECONDS),
      [example.appUrlVariable]: appUrl,
    })
    const issuer = (await provider.line(/^provider: (\S+)/))[1]!
    const env = {
      PORT: String(appPort),
      ISSUER: issuer,
      JOB_EVERY_SECONDS: '3600', // the job would refresh too; these tests count the page's refreshes
      ...appEnv,
    }
    let app = start(children, example.script, env)
    await app.line(example.ready)
    /** Stops the app's process and starts it again, as a deployment would. */
    const restartApp = async () => {
      await stop(app.child)
      app = start(children, example.script, env)
      await app.line(example.ready)
      return app
    }

    browser = await launchChromium()
    const page = await openPage(ctx, browser, example.slug)
    return { page, provider, app, restartApp, appUrl, issuer }
  }

  it(`${example.name}: keeps showing the genres after the access token expires, with one refresh`, async (ctx) => {
    const { page, provider, appUrl, issuer } = await setUp(ctx)
    await screenshotOnFailure(page, `${example.slug}-example`, async () => {
      await page.goto(appUrl)
      expect(await page.getAttribute('#home', 'data-state')).toBe('not-connected')
      await page.click('#connect')
      await page.waitForURL(`${issuer}/interaction/**`)
      expect(await page.title()).toBe('Sign in: local music service') // the provider's own pages
      await page.fill('input[name=login]', 'alice')
      await page.fill('input[name=password]', 'any password')
      await page.click('#sign-in') // the provider's sign-in page
      // Its consent page says what the user grants, offline_access included.
      expect(await page.textContent('h1')).toMatch(
        /^Genrefy wants ongoing access to your listening history, including when you\s+are not using it$/,
      )
      expect(await page.locator('.scopes code').allTextContents()).toEqual(['api:read', 'offline_access'])
      await page.click('#allow')
      await page.waitForURL(`${appUrl}/genres`)

      const genres = await page.locator('#genres li .genre').allTextContents()
      expect(genres.length).toBeGreaterThan(2)
      expect(await page.textContent('h2')).toBe('Top genres of alice')
      expect(await page.textContent('#refresh-count')).toBe('0')
      expect(provider.count(/grant_type=authorization_code .* 200$/)).toBe(1)
      expect(provider.count(/grant_type=refresh_token/)).toBe(0)

      const expiresAt = Number(await page.getAttribute('#expires-in', 'data-expires-at'))
      expect(expiresAt - Date.now()).toBeLessThanOrEqual(ACCESS_TOKEN_TTL_SECONDS * 1000)
      await sleep(expiresAt - Date.now() + 500)

      await page.reload()
      expect(await page.locator('#genres li .genre').allTextContents()).toEqual(genres)
      expect(await page.textContent('#refresh-count')).toBe('1')
      expect(Number(await page.getAttribute('#expires-in', 'data-expires-at'))).toBeGreaterThan(Date.now())
      await sleep(200) // the provider logs each token request before answering; let its output arrive
      expect(provider.count(/grant_type=refresh_token .* 200$/)).toBe(1)
      expect(provider.count(/grant_type=/)).toBe(2)

      mkdirSync(root('test-results'), { recursive: true })
      await page.screenshot({ path: root(`test-results/${example.slug}-example.png`), fullPage: true })

      // "Refresh now": a same-origin POST to the router's /refresh, then the page reloads.
      await Promise.all([page.waitForEvent('load'), page.click('#refresh-now')])
      expect(await page.textContent('#refresh-count')).toBe('2')
      await sleep(200)
      expect(provider.count(/grant_type=refresh_token .* 200$/)).toBe(2)

      // Back home, the app shows the connected state, and links the genres.
      await page.goto(appUrl)
      expect(await page.getAttribute('#home', 'data-state')).toBe('connected')
      expect(await page.locator('#connect').count()).toBe(0)
      await page.click('#see-genres')
      await page.waitForURL(`${appUrl}/genres`)
      await sleep(200)
      expect(provider.count(/grant_type=/)).toBe(3) // showing the state cost no token call
    })
  }, 120_000)

  it(`${example.name}: the job walks the grants in Redis across a restart; /grants shows active, then consent_required once the provider revoked them`, async (ctx) => {
    requireChromium(ctx)
    requireRedis(ctx)
    redis = await startRedisServer()
    const { page, app, restartApp, appUrl, issuer } = await setUp(ctx, {
      REDIS_URL: redis.url,
      JOB_EVERY_SECONDS: '1',
    })
    const rows = page.locator('#grant-table tbody tr')
    await screenshotOnFailure(page, `${example.slug}-grants`, async () => {
      await page.goto(appUrl)
      await page.click('#grants') // the home page links the grants page
      await page.waitForURL(`${appUrl}/grants`)
      expect(await page.textContent('#no-grants')).toContain('No grant is stored yet')

      await page.goto(appUrl)
      await page.click('#connect')
      await page.waitForURL(`${issuer}/interaction/**`)
      await page.fill('input[name=login]', 'alice')
      await page.fill('input[name=password]', 'any password')
      await page.click('#sign-in')
      await page.click('#allow')
      await page.waitForURL(`${appUrl}/genres`)

      await page.goto(`${appUrl}/grants`)
      expect(await rows.count()).toBe(1)
      const userKey = (await rows.getAttribute('data-user-key'))!
      expect(userKey).toMatch(/^[A-Za-z0-9_-]{22}$/) // the random key in the app's cookie
      expect(await rows.getAttribute('data-status')).toBe('active')
      expect(await rows.locator('.next-refresh').textContent()).toMatch(/\(in \d+ s\)/)
      expect(await rows.locator('.failures').textContent()).toBe('0')
      expectNoTokenMaterial(await page.content())
      await until('the job to read alice’s history', () => app.count(/^background job: read 1 of 1 /) > 0)

      // A restart: the grant is in Redis, so the job reads on, and alice is still connected.
      const restarted = await restartApp()
      await until('the restarted job to read it', () => restarted.count(/^background job: read 1 of 1 /) > 0)
      await page.goto(`${appUrl}/grants`)
      expect(await rows.getAttribute('data-user-key')).toBe(userKey)
      expect(await rows.getAttribute('data-status')).toBe('active')
      await page.goto(`${appUrl}/genres`)
      expect(page.url()).toBe(`${appUrl}/genres`) // no consent again
      expect(await page.textContent('h2')).toBe('Top genres of alice')

      // alice withdraws the app's access at the provider: the job's next call finds the grant dead.
      const revoked = await fetch(`${issuer}/__ongoing/revoke-grants?accountId=alice`, { method: 'POST' })
      expect(revoked.status).toBe(204)
      await until('the grant to be consent_required', async () => {
        await page.goto(`${appUrl}/grants`)
        return (await rows.getAttribute('data-status')) === 'consent_required'
      })
      expect(await rows.locator('.consent-required').textContent()).toMatch(
        /^invalid_grant\s+since \d\d:\d\d:\d\d/,
      )
      expect(await page.textContent('#summary')).toBe('1 grant: 0 active, 0 failing, 1 consent required.')
      expectNoTokenMaterial(await page.content())
      await page.goto(appUrl) // the home page says so too, and offers to connect again
      expect(await page.getAttribute('#home', 'data-state')).toBe('consent_required')
      expect(await page.textContent('#home .reason')).toBe('invalid_grant')
      await page.goto(`${appUrl}/grants`)
      mkdirSync(root('test-results'), { recursive: true })
      await page.screenshot({ path: root(`test-results/${example.slug}-grants.png`), fullPage: true })

      // Back at the genres, alice is sent through consent again, and her new grant is active.
      await page.goto(`${appUrl}/genres`)
      await page.waitForURL(`${issuer}/interaction/**`)
      await page.click('#allow') // signed in still: only the consent page
      await page.waitForURL(`${appUrl}/genres`)
      await page.goto(`${appUrl}/grants`)
      expect(await rows.getAttribute('data-user-key')).toBe(userKey)
      expect(await rows.getAttribute('data-status')).toBe('active')
    })
  }, 120_000)

  it(`${example.name}: a cancelled consent shows a page to try again, and calls no token endpoint`, async (ctx) => {
    const { page, provider, appUrl, issuer } = await setUp(ctx)
    await screenshotOnFailure(page, `${example.slug}-cancel`, async () => {
      await page.goto(appUrl)
      await page.click('#connect')
      await page.waitForURL(`${issuer}/interaction/**`)
      const [callback] = await Promise.all([
        page.waitForResponse((response) => response.url().startsWith(`${appUrl}/auth/callback?`)),
        page.click('#cancel'), // the provider's sign-in page: back to the app with error=access_denied
      ])
      expect(callback.status()).toBe(403)
      expect(await page.textContent('#error')).toContain('You cancelled')
      expect(provider.count(/grant_type=/)).toBe(0)

      await page.click('#connect') // "Try again"
      await page.waitForURL(`${issuer}/interaction/**`)
    })
  }, 120_000)
}

/** Skips the test without a Redis to start or reach, with the reason; under CI=true fails it instead. */
export function requireRedis(ctx: TestContext): void {
  const redis = redisServerAvailability()
  requireOrSkip(ctx, redis.available ? undefined : `no Redis: ${redis.reason}`)
}

/**
 * Skips the test without Chromium, with the reason; under CI=true fails it instead (nothing may
 * pass as a skip there).
 */
export function requireChromium(ctx: TestContext): void {
  requireOrSkip(
    ctx,
    existsSync(CHROMIUM)
      ? undefined
      : `Chromium not found at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`,
  )
}

/** Chromium, headless, with nothing running in the background that would reach the network. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  })
}

/** A page in a fresh, temporary profile, that can reach loopback only. */
export async function openPage(ctx: TestContext, browser: Browser, slug: string): Promise<Page> {
  const page = await browser.newPage()
  page.setDefaultTimeout(10_000)
  // Loopback only: nothing a page loads may leave the machine.
  await page.route(
    (url) => url.hostname !== 'localhost' && url.hostname !== '127.0.0.1',
    (route) => route.abort(),
  )
  ctx.onTestFailed(() => console.error(`failed on ${page.url()}: see test-results/${slug}-*failure.png`))
  return page
}

/** Runs `steps`; on failure, saves a screenshot of the page as it was: `test-results/<name>-failure.png`. */
export async function screenshotOnFailure(page: Page, name: string, steps: () => Promise<void>) {
  try {
    await steps()
  } catch (error) {
    mkdirSync(root('test-results'), { recursive: true })
    await page.screenshot({ path: root(`test-results/${name}-failure.png`), fullPage: true })
    throw error
  }
}

/**
 * Starts `node <script>` with `env` and collects its output lines. `REDIS_URL` and `DATABASE_URL`
 * are taken from `env` only, not from this process's environment (where they point the test suites
 * at a Redis or a PostgreSQL): the apps keep their grants in the store a test gives them, and
 * refuse to start with both.
 */
export function start(children: ChildProcess[], script: string, env: Record<string, string>) {
  const inherited = { ...process.env }
  delete inherited.REDIS_URL
  delete inherited.DATABASE_URL
  const child = spawn(process.execPath, [root(script)], {
    cwd: root(script.slice(0, script.lastIndexOf('/'))),
    env: { ...inherited, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  const lines: string[] = []
  let stderr = ''
  let pending = ''
  const waiters = new Set<() => void>()
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (pending + chunk).split('\n')
    pending = parts.pop()!
    lines.push(...parts)
    for (const wake of waiters) wake()
  })
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000)
  })
  child.on('exit', () => {
    for (const wake of waiters) wake()
  })
  return {
    child,
    /**
     * Waits for a line matching `pattern`: 30 s at most. A start takes under a second alone, but
     * a 2-core CI machine running the other suites beside this one once took over 10 s.
     */
    line(pattern: RegExp): Promise<RegExpMatchArray> {
      return new Promise((resolve, reject) => {
        const started = Date.now()
        const timer = setTimeout(() => check(true), 30_000)
        const check = (timedOut = false) => {
          const match = lines.map((line) => line.match(pattern)).find(Boolean)
          if (match) resolve(match)
          else if (timedOut || child.exitCode !== null || child.signalCode !== null)
            reject(
              new Error(
                `${script} did not print ${pattern} in ${Date.now() - started} ms (exit code ${child.exitCode}, signal ${child.signalCode}); stderr:\n${stderr}`,
              ),
            )
          else return
          clearTimeout(timer)
          waiters.delete(check)
        }
        waiters.add(check)
        check()
      })
    },
    count: (pattern: RegExp) => lines.filter((line) => pattern.test(line)).length,
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, 'localhost', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
    server.on('error', reject)
  })
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)))
}

/** Resolves with `check()`'s first truthy value, tried every 100 ms; fails after `timeoutMs` saying `what`. */
export async function until<T>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs = 20_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value as NonNullable<T>
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(100)
  }
}

/** Stops a started script (SIGTERM) and waits until it has exited. */
export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  await new Promise((resolve) => {
    child.once('exit', resolve)
    child.kill('SIGTERM')
  })
}
