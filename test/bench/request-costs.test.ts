// bench/request-costs.mjs, the step-by-step costs BENCHMARKS.md quotes: it runs on the built
// packages, on Express's requests and on NestJS's, times every step it names, and refuses to print
// a table when the middleware or the guard did not leave the token where the handler and
// @AccessToken() read it. The figures themselves are
// judged in BENCHMARKS.md, not here.
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describeRequiring } from '@ongoing/testing'
import { expect, it } from 'vitest'
import { builtPackagesProblem } from '../built-packages.js'

const run = promisify(execFile)
const script = fileURLToPath(new URL('../../bench/request-costs.mjs', import.meta.url))

interface Row {
  step: string
  ns: number
  p25: number
  p75: number
}

const protection = {
  express: 'requireAccessToken(access), a cached token',
  nest: 'AccessTokenGuard.canActivate(context), a cached token',
}

describeRequiring('bench/request-costs.mjs', builtPackagesProblem(['core', 'express', 'nestjs']), () => {
  it.each(['express', 'nest'] as const)(
    'times each step of the hot path on fresh %s requests, after checking what it left',
    async (framework) => {
      const { stdout } = await run(process.execPath, [script], {
        env: { ...process.env, BENCH_FRAMEWORK: framework, BENCH_ROUNDS: '12', BENCH_JSON: '1' },
      })
      const result = JSON.parse(stdout) as {
        framework: string
        node: string
        rounds: number
        batch: number
        rows: Row[]
      }
      expect(result).toMatchObject({ framework, node: process.version, rounds: 9, batch: 50 })
      expect(result.rows.map((row) => row.step.trim())).toEqual([
        protection[framework],
        'finding the user key (the sealed cookie, cached)',
        'requestState(userKey): the cached token and the state',
        'of which Date.now()',
        'RequestProperty.set(req, state, res)',
        'req.ongoing, read after it (the handler)',
        'ongoing.get(req, res), read after it (@AccessToken())',
        'reference: req.rawHeaders (own data property)',
        'reference: res.locals (own data property)',
        "reference: a data property of the app's request prototype",
        "reference: req.path (Express's own accessor)",
      ])
      for (const row of result.rows) {
        expect(Number.isFinite(row.ns)).toBe(true)
        expect(row.p25).toBeLessThanOrEqual(row.ns)
        expect(row.ns).toBeLessThanOrEqual(row.p75)
      }
    },
  )

  it('refuses a framework it does not know', async () => {
    await expect(
      run(process.execPath, [script], { env: { ...process.env, BENCH_FRAMEWORK: 'koa', BENCH_ROUNDS: '4' } }),
    ).rejects.toThrow(/BENCH_FRAMEWORK must be express or nest, not koa/)
  })
})
