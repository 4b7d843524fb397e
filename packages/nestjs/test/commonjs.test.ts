import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { copyFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describeRequiring } from '@ongoing/testing'
import { afterAll, expect, it } from 'vitest'
import { freePort } from '../../../test/adapters/parity.js'
import { builtPackagesProblem } from '../../../test/built-packages.js'

const packageDir = fileURLToPath(new URL('..', import.meta.url))

// `nest new`'s tsconfig (Nest 11: nodenext; earlier: commonjs with node10 resolution).
const nestNew = {
  emitDecoratorMetadata: true,
  experimentalDecorators: true,
  allowSyntheticDefaultImports: true,
  esModuleInterop: true,
  target: 'ES2023',
  outDir: './dist',
  skipLibCheck: true,
  strictNullChecks: true,
  noImplicitAny: false,
  types: ['node'],
}
const variants = {
  nodenext: {
    module: 'nodenext',
    moduleResolution: 'nodenext',
    resolvePackageJsonExports: true,
    isolatedModules: true,
  },
  commonjs: { module: 'commonjs', moduleResolution: 'node10' },
}

const dirs: string[] = []
const children: ChildProcess[] = []
afterAll(() => {
  for (const child of children) child.kill()
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

/** A project outside the workspace whose node_modules link what `nest new` + `@ongoing/nestjs` install. */
async function createProject(compilerOptions: object): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'ongoing-nest-cjs-'))
  dirs.push(dir)
  const link = (name: string, target: string) => {
    mkdirSync(dirname(join(dir, 'node_modules', name)), { recursive: true })
    symlinkSync(target, join(dir, 'node_modules', name), 'dir')
  }
  const installed = (name: string) => realpathSync(join(packageDir, 'node_modules', name))
  for (const name of [
    '@nestjs/common',
    '@nestjs/core',
    '@nestjs/platform-express',
    'reflect-metadata',
    'rxjs',
    '@types/express',
  ]) {
    link(name, installed(name))
  }
  link('@types/node', realpathSync(join(packageDir, '..', '..', 'node_modules', '@types', 'node')))
  link('@ongoing/nestjs', packageDir)
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'nest-app', private: true }))
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { ...nestNew, ...compilerOptions }, include: ['src'] }),
  )
  mkdirSync(join(dir, 'src'))
  await copyFile(join(packageDir, 'test', 'commonjs-app', 'main.ts'), join(dir, 'src', 'main.ts'))
  return dir
}

describeRequiring(
  'a CommonJS Nest app (nest new) using the published build',
  builtPackagesProblem(['core', 'nestjs'], 'index.cjs'),
  () => {
    it.each(Object.entries(variants))(
      'compiles (%s), starts, and serves consent, the guard and OngoingAccess',
      async (_name, options) => {
        const dir = await createProject(options)
        const tsc = createRequire(join(packageDir, '..', '..', 'package.json')).resolve('typescript/bin/tsc')
        execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: dir, encoding: 'utf8' })

        const port = await freePort()
        const child = spawn(process.execPath, ['dist/main.js'], {
          cwd: dir,
          env: { ...process.env, PORT: String(port) },
          stdio: ['ignore', 'pipe', 'pipe'],
        })
        children.push(child)
        let stderr = ''
        child.stderr?.on('data', (data) => {
          stderr += data
        })
        const line = await Promise.race([
          once(child.stdout as NodeJS.ReadableStream, 'data').then(([data]) => String(data)),
          once(child, 'close').then(([code]) =>
            Promise.reject(new Error(`the app exited with ${code}: ${stderr}`)),
          ),
        ])
        expect(JSON.parse(line)).toEqual({ ready: true, moduleType: 'object' }) // CommonJS

        const base = `http://127.0.0.1:${port}`
        const consent = await fetch(`${base}/auth/consent`, { redirect: 'manual' })
        expect(consent.status).toBe(302)
        const location = new URL(consent.headers.get('location') as string)
        expect(location.origin + location.pathname).toBe('http://127.0.0.1:9/authorize')
        expect(location.searchParams.get('redirect_uri')).toBe(`${base}/auth/callback`)

        const anonymous = await fetch(`${base}/me`, { headers: { accept: 'application/json' } })
        expect(anonymous.status).toBe(401)
        expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/)

        expect((await fetch(`${base}/seed?user=zoe`)).status).toBe(200)
        const zoe = await fetch(`${base}/me`, { headers: { 'x-user': 'zoe' } })
        expect(await zoe.json()).toEqual({ accessToken: 'at-zoe' })
        child.kill()
      },
      120_000, // two tsc runs over Nest's types, slow on a busy machine
    )
  },
)
