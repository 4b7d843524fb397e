// `pnpm demo` builds only what is stale (examples/build-stale.mjs): a package or the NestJS example
// whose dist is missing, or older than a source, its package.json or its build config. Checked on
// a made-up tree of the same shape, with --dry-run (it says what it would build, and builds nothing).
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { root } from '../browser/genrefy-scenario.js'

let tree: string

/** Writes `path` under the tree, modified `secondsAgo` seconds ago. */
function file(path: string, secondsAgo: number): void {
  const full = join(tree, path)
  mkdirSync(dirname(full), { recursive: true })
  writeFileSync(full, '')
  const at = new Date(Date.now() - secondsAgo * 1000)
  utimesSync(full, at, at)
}

function buildStale(): string[] {
  const out = execFileSync(process.execPath, [root('examples/build-stale.mjs'), '--dry-run'], {
    env: { ...process.env, BUILD_STALE_ROOT: tree },
    encoding: 'utf8',
  })
  return out.trim().split('\n')
}

describe('examples/build-stale.mjs', () => {
  beforeEach(() => {
    tree = mkdtempSync(join(tmpdir(), 'ongoing-build-stale-'))
    for (const name of ['core', 'express']) {
      file(`packages/${name}/package.json`, 100)
      file(`packages/${name}/tsup.config.ts`, 100)
      file(`packages/${name}/src/index.ts`, 100)
      file(`packages/${name}/src/web/routes.ts`, 100)
      file(`packages/${name}/dist/index.js`, 50)
      file(`packages/${name}/dist/index.d.ts`, 40)
    }
    file('examples/nestjs/package.json', 100)
    file('examples/nestjs/src/main.ts', 100)
    file('examples/nestjs/dist/main.js', 50)
  })
  afterEach(() => rmSync(tree, { recursive: true, force: true }))

  it('builds nothing when every build is newer than its sources', () => {
    expect(buildStale()).toEqual(['build: everything is up to date'])
  })

  it('builds a package whose source (in a subfolder too) changed since its build, and only it', () => {
    file('packages/express/src/web/routes.ts', 10)
    expect(buildStale()).toEqual(['build: packages/express (src changed since the last build)'])
  })

  it('builds a package whose package.json or build config changed', () => {
    file('packages/core/package.json', 10)
    file('packages/express/tsup.config.ts', 10)
    expect(buildStale()).toEqual([
      'build: packages/core (package.json changed since the last build)',
      'build: packages/express (tsup.config.ts changed since the last build)',
    ])
  })

  it('builds what has no dist yet, the NestJS example included (a fresh clone)', () => {
    rmSync(join(tree, 'packages/core/dist'), { recursive: true })
    rmSync(join(tree, 'examples/nestjs/dist'), { recursive: true })
    expect(buildStale()).toEqual([
      'build: packages/core (not built yet)',
      'build: examples/nestjs (not built yet)',
    ])
  })

  it('counts a build from its oldest output: a source newer than part of it is stale', () => {
    file('packages/core/src/index.ts', 45) // after dist/index.js (50 s ago), before index.d.ts (40 s ago)
    expect(buildStale()).toEqual(['build: packages/core (src changed since the last build)'])
  })
})
