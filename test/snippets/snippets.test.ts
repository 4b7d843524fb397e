// Every TypeScript or JavaScript block in README.md, packages/*/README.md, examples/**/README.md
// and docs/*.md is run or compiled here, as a user would paste it into a fresh project that
// installed the packed packages.
//
// The line right before each such block says what to do with it (a block without one fails):
//
//   <!-- snippet: run -->              a whole program: run with node, must exit 0
//   <!-- snippet: serve /path -->      a whole server: started with PORT, driven through its consent
//                                      routes under /auth (redirect to the authorization server, a
//                                      cancelled consent answered without a stack trace, a full
//                                      consent), then GET /path with the user's cookies must be 200
//   <!-- snippet: typecheck -->        a fragment: compiled with tsc (strict for TypeScript, checkJs
//                                      for JavaScript) against the packed types; names it takes as
//                                      given (`access`, `app`, `options`…) are declared in given.d.ts
//   <!-- snippet: full file.mjs [run | serve /path | typecheck] -->
//                                      the block is an excerpt of file.mjs (relative to the Markdown
//                                      file; a `// …` line stands for lines left out), and the file
//                                      is what runs (default `run`) or compiles
//   <!-- snippet: full file.mjs tested-by test/x.test.ts -->
//                                      an excerpt of a file that a test of the repository runs (an
//                                      example app): checked to be faithful, not run again here
//   <!-- snippet: skip reason -->      only for shell, SQL, config or output blocks
//
// A block whose first line is `// name.mjs` is written under that name (so the next block can
// import it); `// name.mjs (continued)` appends to it. TypeScript is compiled with tsc, then run.
// Programs read ISSUER, CLIENT_ID, CLIENT_SECRET, ONGOING_SECRET, API_URL, PORT, REDIS_URL and
// DATABASE_URL from process.env: a test authorization server on loopback, an API that accepts only
// the tokens it issued, and real Redis and PostgreSQL servers when a snippet names them.
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import {
  describeRequiring,
  driveConsent,
  type PostgresServer,
  postgresServerAvailability,
  type RedisServer,
  redisServerAvailability,
  requireOrSkip,
  startPostgresServer,
  startRedisServer,
  startTestAuthorizationServer,
  type TestAuthorizationServer,
} from '@ongoing/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { builtPackagesProblem } from '../built-packages.js'
import { codeBlocks, markdownFiles, type Snippet, toSnippet } from './markdown.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
const here = fileURLToPath(new URL('.', import.meta.url))
const PACKAGES = ['core', 'digime', 'express', 'koa', 'nestjs', 'postgres', 'redis', 'testing']

/** What the snippets import besides the packages, at the versions the repository's lockfile has. */
const THIRD_PARTY: Record<string, string> = {
  '@koa/router': '15.7.0',
  '@nestjs/common': '11.2.10',
  '@nestjs/config': '4.0.4',
  '@nestjs/core': '11.2.10',
  '@nestjs/platform-express': '11.2.10',
  '@nestjs/schedule': '6.1.3',
  '@opentelemetry/api': '1.9.1',
  '@opentelemetry/sdk-metrics': '2.12.1',
  '@types/express': '5.0.6',
  '@types/express-session': '1.19.0',
  '@types/koa': '3.0.3',
  '@types/node': '20.19.43',
  '@types/passport': '1.0.17',
  '@types/pg': '8.23.1',
  express: '5.3.0',
  'express-session': '1.19.0',
  ioredis: '5.11.1',
  jose: '6.2.18',
  koa: '3.3.0',
  passport: '0.7.0',
  pg: '8.23.1',
  'reflect-metadata': '0.2.2',
  rxjs: '7.8.2',
  typescript: '5.9.3',
  vitest: '4.1.12',
}

const parsed = markdownFiles(root).flatMap((file) =>
  codeBlocks(root, file).map((block) => toSnippet(root, block)),
)
const markerProblems = parsed.filter((entry): entry is string => typeof entry === 'string')
const snippets = parsed.filter((entry): entry is Snippet => typeof entry !== 'string')
// `tested` blocks were checked against their file when parsed; their file runs in its own test.
const checked = snippets.filter((snippet) => snippet.what.kind !== 'skip' && snippet.what.kind !== 'tested')
const label = (snippet: Snippet) =>
  `${snippet.readme}:${snippet.line} (${snippet.what.kind}${snippet.fullForm ? `, full form ${snippet.fullForm}` : ''})`

describe('snippet markers', () => {
  it('every TypeScript and JavaScript block is marked, every marker is valid, every full form matches', () => {
    expect(markerProblems).toEqual([])
  })

  it('the root README begins with an Express server that runs, and every package README with its install line', () => {
    const [install, first] = snippets.filter((snippet) => snippet.readme === 'README.md')
    expect(install?.code).toBe('npm install @ongoing/express @ongoing/core express\n')
    expect(first?.what).toEqual({ kind: 'serve', path: '/history' })
    for (const name of PACKAGES) {
      const readme = `packages/${name}/README.md`
      const install = snippets.find((snippet) => snippet.readme === readme)
      expect(install?.lang, `${readme}: first block`).toBe('sh')
      expect(install?.code, `${readme}: first block`).toMatch(
        new RegExp(`^npm install (--save-dev )?@ongoing/${name}\\b`),
      )
    }
  })
})

const problem = builtPackagesProblem(PACKAGES)

interface Written {
  snippet: Snippet
  /** Relative to the project: the file tsc compiles or node runs. */
  file: string
  /** First line of the snippet's own text in `file` (1-based): it may be appended to another's. */
  offset: number
}

describeRequiring('README snippets, as pasted into a fresh project', problem, () => {
  let work: string
  let project: string
  let unavailable: string | undefined
  let as: TestAuthorizationServer | undefined
  let api: Awaited<ReturnType<typeof startAPI>> | undefined
  let redis: RedisServer | undefined
  let postgres: PostgresServer | undefined
  const written = new Map<Snippet, Written>()
  const compileErrors: string[] = []
  const env: Record<string, string> = {}

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'ongoing-snippets-'))
    project = join(work, 'project')
    mkdirSync(join(work, 'tarballs'), { recursive: true })
    mkdirSync(project)
    // Packed as published: `workspace:*` becomes the version, `files` decides what ships.
    await Promise.all(
      PACKAGES.map((name) =>
        run('pnpm', ['pack', '--pack-destination', join(work, 'tarballs')], join(root, 'packages', name)),
      ),
    )
    const tarballs = Object.fromEntries(
      PACKAGES.map((name) => {
        const { version } = JSON.parse(readFileSync(join(root, 'packages', name, 'package.json'), 'utf8'))
        return [`@ongoing/${name}`, `file:${join(work, 'tarballs', `ongoing-${name}-${version}.tgz`)}`]
      }),
    )
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({
        name: 'fresh-app',
        private: true,
        type: 'module',
        dependencies: { ...tarballs, ...THIRD_PARTY },
        pnpm: { overrides: tarballs },
      }),
    )
    try {
      // From the pnpm store alone when it has everything; otherwise the registry fills the gaps.
      const install = ['install', '--ignore-workspace', '--config.confirmModulesPurge=false']
      await run('pnpm', [...install, '--offline'], project).catch(() =>
        run('pnpm', [...install, '--prefer-offline'], project),
      )
    } catch (error) {
      unavailable = `the fresh project could not be installed (no network?): ${(error as Error).message.slice(0, 500)}`
      console.warn(`\n*** snippets: SKIPPED: ${unavailable}\n`)
      return
    }
    writeSnippets(project, written)
    compileErrors.push(...(await compile(project, written)))

    as = await startTestAuthorizationServer({ accessTokenTTLSeconds: 60 })
    api = await startAPI(as)
    Object.assign(env, {
      ISSUER: as.issuer,
      CLIENT_ID: as.clients.confidential.id,
      CLIENT_SECRET: as.clients.confidential.secret,
      ONGOING_SECRET: randomBytes(32).toString('base64url'),
      API_URL: api.url,
    })
    const needs = (name: string) =>
      checked.some((snippet) => snippet.what.kind !== 'typecheck' && snippet.source.includes(name))
    if (needs('REDIS_URL') && redisServerAvailability().available) {
      redis = await startRedisServer()
      env.REDIS_URL = redis.url
    }
    if (needs('DATABASE_URL') && postgresServerAvailability().available) {
      postgres = await startPostgresServer()
      env.DATABASE_URL = postgres.url
    }
  }, 240_000)

  afterAll(async () => {
    await api?.close()
    await as?.close()
    await redis?.close()
    await postgres?.close()
    if (work !== undefined) rmSync(work, { recursive: true, force: true })
  })

  it('the compile reports nothing outside the snippets', (ctx) => {
    requireOrSkip(ctx, unavailable)
    const snippetFiles = [...written.values()].map((entry) => entry.file)
    expect(compileErrors.filter((error) => !snippetFiles.some((file) => error.startsWith(file)))).toEqual([])
  })

  it.for(checked.map((snippet) => [label(snippet), snippet] as const))('%s', async ([, snippet], ctx) => {
    requireOrSkip(ctx, unavailable)
    const entry = written.get(snippet)
    if (entry === undefined) throw new Error('not written')
    const length = snippet.source.split('\n').length
    const errors = compileErrors
      .filter((error) => {
        const line = Number(/^[^(]+\((\d+),/.exec(error)?.[1])
        return error.startsWith(`${entry.file}(`) && line >= entry.offset && line < entry.offset + length
      })
      .map((error) => readmeLine(error, entry))
    expect(errors, 'tsc').toEqual([])
    if (snippet.what.kind === 'typecheck') return
    for (const name of ['REDIS_URL', 'DATABASE_URL']) {
      if (snippet.source.includes(name)) {
        requireOrSkip(ctx, env[name] === undefined ? `${name}: no server could be started` : undefined)
      }
    }
    const program =
      snippet.language === 'ts'
        ? join('out', entry.file.replace(/^snippets\//, '').replace(/\.m?ts$/, '.js'))
        : entry.file
    if (snippet.what.kind === 'run') {
      const { code, output } = await runProgram(project, program, env)
      expect(code, output).toBe(0)
      return
    }
    if (snippet.what.kind !== 'serve') throw new Error(`not runnable: ${snippet.what.kind}`)
    await serveAndDrive(project, program, env, snippet.what.path, as as TestAuthorizationServer, api as API)
  })
})

/** Runs a command, rejecting with its output when it fails. */
async function run(command: string, args: string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)(command, args, { cwd, maxBuffer: 16 * 1024 * 1024 })
    return stdout
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string }
    throw new Error(`${command} ${args.join(' ')} failed in ${basename(cwd)}: ${stderr || stdout}`)
  }
}

/** Writes each snippet into `project/snippets/<markdown file>/`, under its own name or its line. */
function writeSnippets(project: string, written: Map<Snippet, Written>) {
  // What the full forms share, as `../harness.js` from each snippet folder (see harness.ts).
  mkdirSync(join(project, 'snippets'), { recursive: true })
  writeFileSync(join(project, 'snippets', 'harness.ts'), readFileSync(join(here, 'harness.ts'), 'utf8'))
  for (const snippet of checked) {
    const dir = `snippets/${snippet.readme.replace(/\.md$/, '').replace(/[^\w]+/g, '-')}`
    mkdirSync(join(project, dir), { recursive: true })
    const named = /^\/\/ ([\w.-]+\.(?:m?js|m?ts))( \(continued\))?/.exec(snippet.source)
    const extension = snippet.language === 'ts' ? 'ts' : 'mjs'
    const name = snippet.fullForm
      ? basename(snippet.fullForm)
      : (named?.[1] ?? `L${snippet.line}.${extension}`)
    const file = `${dir}/${name}`
    if (named?.[2] !== undefined && existsSync(join(project, file))) {
      const before = [...written.values()].filter((entry) => entry.file === file)
      const lines = before.reduce((sum, entry) => sum + entry.snippet.source.split('\n').length - 1, 0)
      appendFileSync(join(project, file), snippet.source)
      written.set(snippet, { snippet, file, offset: lines + 1 })
      continue
    }
    // A fragment without import or export is a script to tsc; `export {}` makes it a module.
    const isModule = /^(import|export) /m.test(snippet.source)
    writeFileSync(join(project, file), isModule ? snippet.source : `${snippet.source}export {}\n`)
    written.set(snippet, { snippet, file, offset: 1 })
  }
}

/** Compiles the TypeScript (strict, emitted to out/) and checks the JavaScript; returns tsc's errors. */
async function compile(project: string, written: Map<Snippet, Written>): Promise<string[]> {
  writeFileSync(join(project, 'given.d.ts'), readFileSync(join(here, 'given.d.ts'), 'utf8'))
  const common = {
    target: 'es2022',
    module: 'nodenext',
    moduleResolution: 'nodenext',
    lib: ['es2023'],
    types: ['node'],
    skipLibCheck: true,
    experimentalDecorators: true,
    emitDecoratorMetadata: true,
    noEmitOnError: false,
    pretty: false,
  }
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { ...common, strict: true, outDir: 'out', rootDir: 'snippets' },
      include: ['snippets/**/*.ts', 'given.d.ts'],
    }),
  )
  // JavaScript is checked as a user's editor would, without strict: `process.env.X` is a string.
  const scripts = [...written.values()].filter(
    (entry) => entry.snippet.language === 'js' && entry.snippet.what.kind === 'typecheck',
  )
  writeFileSync(
    join(project, 'tsconfig.js.json'),
    JSON.stringify({
      compilerOptions: { ...common, allowJs: true, checkJs: true, noEmit: true },
      files: ['given.d.ts', ...new Set(scripts.map((entry) => entry.file))],
    }),
  )
  const tsc = join(project, 'node_modules', 'typescript', 'bin', 'tsc')
  const outputs = await Promise.all(
    ['tsconfig.json', 'tsconfig.js.json'].map(
      (config) =>
        new Promise<string>((resolve) => {
          execFile(
            process.execPath,
            [tsc, '-p', config],
            { cwd: project, maxBuffer: 16 * 1024 * 1024 },
            (_, stdout) => resolve(stdout),
          )
        }),
    ),
  )
  return outputs.flatMap((out) => out.split('\n')).filter((line) => /error TS\d+/.test(line))
}

/** A tsc error, with the Markdown file's line in place of the written file's. */
function readmeLine(error: string, entry: Written): string {
  const at = /^[^(]+\((\d+),(\d+)\): (.*)$/.exec(error)
  if (at === null) return error
  const line = Number(at[1]) - entry.offset + 1
  if (entry.snippet.fullForm !== undefined) return `${entry.snippet.fullForm}:${line}: ${at[3]}`
  return `${entry.snippet.readme}:${entry.snippet.line + line}: ${at[3]}`
}

/** Runs a program of the project to its end (at most 60 s). */
function runProgram(project: string, program: string, env: Record<string, string>) {
  return new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(process.execPath, [program], {
      cwd: project,
      env: { PATH: process.env.PATH ?? '', ...env, PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk) => (output += chunk))
    child.stderr.on('data', (chunk) => (output += chunk))
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, output })
    })
  })
}

type API = Awaited<ReturnType<typeof startAPI>>

/**
 * The API the snippets call (`API_URL`): it asks the authorization server to introspect each
 * bearer token and answers 200 with JSON only for an active one, 401 otherwise.
 */
async function startAPI(as: TestAuthorizationServer) {
  const calls: { path: string; active: boolean }[] = []
  const basic = `Basic ${btoa(`${as.clients.confidential.id}:${as.clients.confidential.secret}`)}`
  const server: Server = createServer(async (req, res) => {
    const token = /^(?:Bearer|DPoP) (.+)$/.exec(req.headers.authorization ?? '')?.[1]
    let active = false
    if (token !== undefined) {
      const answer = await fetch(new URL('/token/introspection', as.issuer), {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token }),
      })
      active = ((await answer.json()) as { active?: boolean }).active === true
    }
    calls.push({ path: req.url ?? '', active })
    if (!active) {
      res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' }).end()
      return
    }
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ plays: [{ title: 'Blue' }] }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

/** A free loopback port, for a server snippet's PORT. */
async function freePort(): Promise<number> {
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, resolve))
  const { port } = probe.address() as AddressInfo
  await new Promise<void>((resolve) => probe.close(() => resolve()))
  return port
}

/** A cookie jar of one browser: what the app set, sent back on the next request. */
class Jar {
  readonly cookies = new Map<string, string>()
  take(response: Response) {
    for (const cookie of response.headers.getSetCookie()) {
      const [pair = ''] = cookie.split(';')
      const at = pair.indexOf('=')
      const name = pair.slice(0, at).trim()
      const gone = /max-age=0|expires=Thu, 01 Jan 1970/i.test(cookie) || pair.slice(at + 1) === ''
      if (gone) this.cookies.delete(name)
      else this.cookies.set(name, pair.slice(at + 1))
    }
  }
  header() {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ')
  }
}

const STACK_TRACE = /\bat [\w.<>]+ \(|\.[cm]?js:\d+:\d+|node:internal/

/**
 * Starts a server snippet, waits for it to print its URL, and walks a user through it: the
 * consent route redirects to the authorization server; a cancelled consent gets an answer with no
 * stack trace in it; a full consent ends on `returnTo`, and `path` then answers 200.
 */
async function serveAndDrive(
  project: string,
  program: string,
  env: Record<string, string>,
  path: string | undefined,
  as: TestAuthorizationServer,
  api: API,
) {
  const port = await freePort()
  const origin = `http://localhost:${port}`
  const child: ChildProcess = spawn(process.execPath, [program], {
    cwd: project,
    env: { PATH: process.env.PATH ?? '', ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "${origin}" line within 30 s:\n${output}`)), 30_000)
      const onData = (chunk: Buffer) => {
        output += chunk
        if (output.includes(origin)) {
          clearTimeout(timer)
          resolve()
        }
      }
      child.stdout?.on('data', onData)
      child.stderr?.on('data', (chunk: Buffer) => (output += chunk))
      child.on('exit', (code) => reject(new Error(`exited (${code}) before listening`)))
    })
    const returnTo = path ?? '/'
    const startConsent = async (jar: Jar) => {
      const consent = await fetch(`${origin}/auth/consent?returnTo=${encodeURIComponent(returnTo)}`, {
        redirect: 'manual',
        headers: { cookie: jar.header() },
      })
      expect(consent.status, 'GET /auth/consent').toBe(302)
      jar.take(consent)
      const location = consent.headers.get('location') ?? ''
      expect(
        location.startsWith(`${as.issuer}/auth?`),
        `redirects to the authorization server: ${location}`,
      ).toBe(true)
      return new URL(location)
    }

    // The user cancels at the authorization server.
    const cancelling = new Jar()
    const cancelled = await driveConsent(await startConsent(cancelling), {
      redirectUriPrefix: `${origin}/`,
      approve: false,
    })
    const denied = await fetch(cancelled, { redirect: 'manual', headers: { cookie: cancelling.header() } })
    const deniedBody = await denied.text()
    expect(denied.status, `a cancelled consent: ${deniedBody}`).toBe(403)
    expect(deniedBody, 'a cancelled consent is answered without a stack trace').not.toMatch(STACK_TRACE)

    // The user approves, comes back to returnTo, and the protected route reads the API.
    const jar = new Jar()
    const callback = await driveConsent(await startConsent(jar), { redirectUriPrefix: `${origin}/` })
    const back = await fetch(callback, { redirect: 'manual', headers: { cookie: jar.header() } })
    expect(back.status, `the callback: ${await back.clone().text()}`).toBe(303)
    expect(back.headers.get('location')).toBe(returnTo)
    jar.take(back)
    if (path === undefined) return
    const before = api.calls.filter((call) => call.active).length
    const page = await fetch(`${origin}${path}`, {
      redirect: 'manual',
      headers: { cookie: jar.header(), accept: 'application/json' },
    })
    expect(page.status, `GET ${path}: ${await page.clone().text()}`).toBe(200)
    expect(api.calls.filter((call) => call.active).length, 'calls to the API with a live token').toBe(
      before + 1,
    )
  } catch (error) {
    throw new Error(`${(error as Error).message}\n--- the server's output:\n${output}`)
  } finally {
    if (child.exitCode === null && child.pid !== undefined) {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
      await exited
      clearTimeout(timer)
    }
  }
}
