// `pnpm demo` as a user meets it: with everything built, `node examples/demo.mjs` prints its banner
// in under 30 s, every URL the banner prints answers 200 with an HTML page that says what it is,
// and an app connects through the example authorization server's own sign-in and consent pages
// (in a real Chromium). A port in use stops the demo with one line. The demo runs with its ports
// moved (DEMO_PORT_OFFSET) to a range that is free, so it never meets a demo a user left running.
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describeRequiring } from '@ongoing/testing'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { launchChromium, openPage, requireChromium, root } from '../browser/genrefy-scenario.js'
import { builtPackagesProblem } from '../built-packages.js'

const DEMO_PORTS = [3001, 3002, 3003, 3004, 3005, 4000, 4001, 4002]
const BANNER_END = 'Ctrl-C stops everything.'

function builtProblem(): string | undefined {
  const packages = builtPackagesProblem([
    'core',
    'express',
    'koa',
    'nestjs',
    'redis',
    'postgres',
    'digime',
    'testing',
  ])
  if (packages !== undefined) return packages
  return existsSync(root('examples/nestjs/dist/main.js'))
    ? undefined
    : 'examples/nestjs/dist is missing (run pnpm demo once, or pnpm --filter example-nestjs build)'
}

/** Whether `port` can be listened on, on both names the demo's servers use. */
async function isFree(port: number): Promise<boolean> {
  for (const host of ['127.0.0.1', 'localhost']) {
    const free = await new Promise<boolean>((resolve) => {
      const probe = createServer()
      probe.once('error', () => resolve(false))
      probe.listen({ port, host }, () => probe.close(() => resolve(true)))
    })
    if (!free) return false
  }
  return true
}

/** An offset that moves every demo port to a free one. */
async function freeOffset(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const offset = 20_000 + Math.floor(Math.random() * 30_000)
    const free = await Promise.all(DEMO_PORTS.map((port) => isFree(port + offset)))
    if (free.every(Boolean)) return offset
  }
  throw new Error('no free range for the demo ports')
}

interface Demo {
  child: ChildProcess
  output: () => string
  exited: Promise<number | null>
}

function startDemo(env: Record<string, string>): Demo {
  const inherited = { ...process.env }
  delete inherited.REDIS_URL // grants in memory, as a first run has them
  delete inherited.DATABASE_URL
  const child = spawn(process.execPath, [root('examples/demo.mjs')], {
    cwd: root(''),
    env: { ...inherited, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk
  })
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return { child, output: () => output, exited }
}

describeRequiring('pnpm demo', builtProblem(), () => {
  let demo: Demo
  let offset: number
  let bannerMs: number
  let scratch: string

  beforeAll(async () => {
    offset = await freeOffset()
    scratch = mkdtempSync(join(tmpdir(), 'ongoing-demo-'))
    const startedAt = Date.now()
    demo = startDemo({
      DEMO_PORT_OFFSET: String(offset),
      // The stand-in's contract, apart from a demo a user runs from this checkout.
      DIGIME_CONTRACT_FILE: join(scratch, 'contract.json'),
    })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no banner in 30 s:\n${demo.output()}`)), 30_000)
      const check = () => {
        if (demo.output().includes(BANNER_END)) {
          clearTimeout(timer)
          resolve()
        }
      }
      demo.child.stdout!.on('data', check)
      demo.exited.then((code) => reject(new Error(`the demo exited (${code}):\n${demo.output()}`)))
      check()
    })
    bannerMs = Date.now() - startedAt
  }, 40_000)

  afterAll(async () => {
    if (demo && demo.child.exitCode === null) {
      demo.child.kill('SIGTERM')
      expect(await demo.exited).toBe(0) // it stops every server it started, then itself
    }
    if (scratch) rmSync(scratch, { recursive: true, force: true })
  })

  it('prints the banner in under 30 s, with the seven URLs on the moved ports', () => {
    expect(bannerMs).toBeLessThan(30_000)
    const banner = demo.output().slice(demo.output().indexOf('Genrefy, three ways'))
    const urls = [...banner.matchAll(/http:\/\/(?:localhost|127\.0\.0\.1):\d+/g)].map(([url]) => url)
    expect(urls).toEqual([
      `http://localhost:${3001 + offset}`,
      `http://localhost:${3002 + offset}`,
      `http://localhost:${3003 + offset}`,
      `http://localhost:${3004 + offset}`,
      `http://127.0.0.1:${4000 + offset}`,
      `http://localhost:${3005 + offset}`,
      `http://127.0.0.1:${4001 + offset}`,
    ])
  })

  it('answers every URL of the banner with 200 and an HTML page that says what it is', async () => {
    const banner = demo.output().slice(demo.output().indexOf('Genrefy, three ways'))
    const urls = [...banner.matchAll(/http:\/\/(?:localhost|127\.0\.0\.1):\d+/g)].map(([url]) => url)
    expect(urls.length).toBe(7)
    const titles: string[] = []
    for (const url of urls) {
      const response = await fetch(url)
      const body = await response.text()
      expect(response.status, url).toBe(200)
      expect(response.headers.get('content-type'), url).toMatch(/^text\/html/)
      expect(body, url).toMatch(/^<!doctype html>/i)
      expect(body, url).not.toMatch(/Cannot GET|Not Found/)
      const title = body.match(/<title>([^<]+)<\/title>/)?.[1]
      expect(title, url).toBeTruthy()
      titles.push(title!)
    }
    expect(titles).toEqual([
      'Genrefy (Express)',
      'Genrefy (Koa)',
      'Genrefy (NestJS)',
      "Genrefy's token swap server",
      'Local authorization server for the Genrefy examples',
      'Genrefy (digi.me)',
      expect.stringMatching(/digi\.me/),
    ])
  })

  it('connects an app through the authorization server’s own sign-in and consent pages', async (ctx) => {
    requireChromium(ctx)
    const appUrl = `http://localhost:${3001 + offset}`
    const issuer = `http://127.0.0.1:${4000 + offset}`
    const browser = await launchChromium()
    try {
      const page = await openPage(ctx, browser, 'demo')
      const external: string[] = []
      page.on('request', (request) => {
        const { hostname } = new URL(request.url())
        if (hostname !== 'localhost' && hostname !== '127.0.0.1') external.push(request.url())
      })
      await page.goto(appUrl)
      expect(await page.getAttribute('#home', 'data-state')).toBe('not-connected')
      await page.click('#connect')
      await page.waitForURL(`${issuer}/interaction/**`)

      expect(await page.title()).toBe('Sign in: local music service')
      expect(await page.textContent('h1')).toBe('Sign in to connect Genrefy')
      mkdirSync(root('test-results'), { recursive: true })
      await page.locator('main').screenshot({ path: root('test-results/demo-sign-in.png') })
      await page.fill('input[name=login]', 'demo-user')
      await page.fill('input[name=password]', 'any password')
      await page.click('#sign-in')

      await page.waitForSelector('#allow')
      expect(await page.title()).toBe('Allow ongoing access: local music service')
      expect((await page.textContent('h1'))?.replace(/\s+/g, ' ')).toBe(
        'Genrefy wants ongoing access to your listening history, including when you are not using it',
      )
      expect(await page.locator('.scopes code').allTextContents()).toEqual(['api:read', 'offline_access'])
      expect(await page.textContent('.scopes')).toContain(
        'when you are not using Genrefy (a refresh token), until you withdraw it',
      )
      await page.locator('main').screenshot({ path: root('test-results/demo-consent.png') })
      await page.click('#allow')

      await page.waitForURL(`${appUrl}/genres`)
      expect(await page.textContent('h2')).toBe('Top genres of demo-user')
      await page.goto(appUrl)
      expect(await page.getAttribute('#home', 'data-state')).toBe('connected')
      expect(external).toEqual([]) // no font, script or anything else from elsewhere
    } finally {
      await browser.close()
    }
  }, 60_000)

  it('stops with one line naming the port when a port is in use', async () => {
    // A second range, 50 up from the running demo's: its Koa port is taken.
    const second = offset + 50
    const holder: Server = createServer()
    await new Promise<void>((resolve) => holder.listen({ port: 3002 + second, host: 'localhost' }, resolve))
    try {
      const blocked = startDemo({ DEMO_PORT_OFFSET: String(second) })
      expect(await blocked.exited).toBe(1)
      expect(blocked.output().trim().split('\n')).toEqual([
        `demo: port ${3002 + second} is in use: koa needs it (EADDRINUSE). Stop what listens there, or move every port with DEMO_PORT_OFFSET=<n>.`,
      ])
    } finally {
      await new Promise((resolve) => holder.close(resolve))
    }
  })

  it.each([
    ['provider/server.mjs', 'PORT', /^provider: port (\d+) is in use: /],
    ['express/app.mjs', 'PORT', /^express example: port (\d+) is in use: /],
    ['koa/app.mjs', 'PORT', /^koa example: port (\d+) is in use: /],
    ['nestjs/dist/main.js', 'PORT', /^nestjs example: port (\d+) is in use: /],
    ['mobile-swap/server.mjs', 'PORT', /^mobile-swap example: port (\d+) is in use: /],
    ['digime-service/server.mjs', 'PORT', /^digime service: port (\d+) is in use: /],
    ['digime-service/server.mjs', 'API_PORT', /^digime service: port (\d+) is in use: /],
    ['digime/app.mjs', 'PORT', /^digime example: port (\d+) is in use: /],
  ])('%s alone, its %s in use, exits 1 with one line', async (script, variable, line) => {
    const holder: Server = createServer()
    await new Promise<void>((resolve) => holder.listen({ port: 0, host: '127.0.0.1' }, resolve))
    const { port } = holder.address() as { port: number }
    // The apps listen on localhost: hold that name's address too, where it is another one.
    const holderLocalhost: Server = createServer()
    await new Promise<void>((resolve) => {
      holderLocalhost.once('error', () => resolve()) // the same address as 127.0.0.1: already held
      holderLocalhost.listen({ port, host: 'localhost' }, resolve)
    })
    try {
      const inherited = { ...process.env }
      delete inherited.REDIS_URL
      delete inherited.DATABASE_URL
      const child = spawn(process.execPath, [root(`examples/${script}`)], {
        cwd: root(`examples/${script.slice(0, script.indexOf('/'))}`),
        env: {
          ...inherited,
          PORT: '0',
          API_PORT: '0',
          [variable]: String(port),
          ISSUER: `http://127.0.0.1:${4000 + offset}`,
          DIGIME_CONTRACT_FILE: join(
            scratch,
            script.startsWith('digime-service') ? 'other.json' : 'contract.json',
          ),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let stderr = ''
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk
      })
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
      const lines = stderr
        .trim()
        .split('\n')
        .filter((text) => !text.startsWith('oidc-provider WARNING'))
      expect(code).toBe(1)
      expect(lines.length, stderr).toBe(1)
      expect(lines[0]).toMatch(line)
      expect(Number(lines[0]!.match(line)![1])).toBe(port)
    } finally {
      await new Promise((resolve) => holder.close(resolve))
      await new Promise((resolve) =>
        holderLocalhost.listening ? holderLocalhost.close(resolve) : resolve(undefined),
      )
    }
  })
})
