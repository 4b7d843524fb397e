import { execFileSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describeRequiring } from '@ongoing/testing'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { builtPackagesProblem } from '../built-packages.js'

// `@opentelemetry/api` is an optional peer dependency of @ongoing/core, imported at the first
// thing to record (see packages/core/src/metrics.ts). Each case runs the built package, ESM and
// CommonJS, in a process of its own, with a module hook counting how often the package resolves
// `@opentelemetry/api`. "Without it" is the package copied into a folder of its own, beside
// `jose` only, as in an app that does not have OpenTelemetry: a static import of the API there, or
// a dynamic one left unguarded, fails the case.
const here = fileURLToPath(new URL('./metrics-loading/', import.meta.url))
const packageDir = fileURLToPath(new URL('../../packages/core/', import.meta.url))
const problem = builtPackagesProblem(['core']) ?? builtPackagesProblem(['core'], 'index.cjs')

// Without NODE_PATH: pnpm's scripts set one through which CommonJS finds every installed package.
const { NODE_PATH: _, ...env } = process.env
const run = (...args: string[]) =>
  JSON.parse(execFileSync(process.execPath, ['scenario.mjs', ...args], { cwd: here, encoding: 'utf8', env }))

describeRequiring('loading @opentelemetry/api', problem, () => {
  let app: string
  let lonelyCore: string

  beforeAll(() => {
    app = mkdtempSync(join(tmpdir(), 'ongoing-without-otel-'))
    lonelyCore = join(app, 'node_modules', '@ongoing', 'core')
    mkdirSync(lonelyCore, { recursive: true })
    cpSync(join(packageDir, 'package.json'), join(lonelyCore, 'package.json'))
    cpSync(join(packageDir, 'dist'), join(lonelyCore, 'dist'), { recursive: true })
    symlinkSync(
      realpathSync(join(packageDir, 'node_modules', 'jose')),
      join(app, 'node_modules', 'jose'),
      'dir',
    )
  })
  afterAll(() => {
    if (app !== undefined) rmSync(app, { recursive: true, force: true })
  })

  // An SDK is registered (through the API beside the scenario): had the copy found the API, it
  // would have recorded there.
  it.each(['esm', 'cjs'])(
    '%s: without it, refreshes, a dead grant, coalesced calls and a keeper walk go on as ever, unrecorded',
    (format) => {
      expect(run(format, 'refreshes', lonelyCore, '--sdk')).toEqual({
        tokens: 6,
        errors: ['ERR_CONSENT_REQUIRED'],
        apiFindable: false,
        sweep: { listed: 2 },
        collected: {},
        apiResolutions: 1,
        unhandled: [],
      })
    },
  )

  it.each(['esm', 'cjs'])('%s: with it and an SDK registered, the built package records', (format) => {
    expect(run(format, 'refreshes', '--sdk')).toEqual({
      tokens: 6,
      errors: ['ERR_CONSENT_REQUIRED'],
      sweep: { listed: 2 },
      collected: {
        'ongoing.refreshes': { refreshed: 2, consent_required: 1 },
        'ongoing.refresh.duration': { refreshed: 2, consent_required: 1 },
        'ongoing.refresh.coalesced_calls': { in_process: 4 },
        'ongoing.grant.count': { active: 1, failing: 0, consent_required: 1 },
      },
      apiResolutions: 1,
      unhandled: [],
    })
  })

  it('an access that only serves cached tokens never loads it, nor does one with `metrics: false`', () => {
    expect(run('esm', 'cached')).toEqual({ tokens: 100, errors: [], apiResolutions: 0, unhandled: [] })
    expect(run('cjs', 'disabled')).toMatchObject({ tokens: 6, apiResolutions: 0, unhandled: [] })
  })
})
