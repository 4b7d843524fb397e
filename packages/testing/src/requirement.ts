import type { TestContext } from 'vitest'
import { vitestFor } from './vitest-api.js'

/** True when `CI` is set to anything but `''`, `0` or `false`. */
export function isCI(): boolean {
  const ci = process.env.CI
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false'
}

function skipping(name: string, problem: string): string {
  const message = `[ongoing] SKIPPING "${name}": ${problem}. Under CI=true this fails.`
  console.warn(`\n${message}\n`)
  return message
}

/**
 * `describe` for a suite that needs something a machine may lack (a `redis-server`, the built
 * packages, a browser). `problem` says what is missing, or is `undefined` when nothing is. A suite
 * that cannot run is never dropped silently: under `CI` it fails with `problem`; elsewhere it is
 * reported as skipped, with `problem` in its name and a warning on stderr.
 *
 * @example
 * ```ts
 * const problem = existsSync(cli) ? undefined : 'dist/cli.js is missing (run pnpm build)'
 * describeRequiring('the CLI', problem, () => {
 *   it('…', () => { … })
 * })
 * ```
 */
export function describeRequiring(name: string, problem: string | undefined, suite: () => void): void {
  const { describe, it } = vitestFor('describeRequiring')
  if (problem === undefined) {
    describe(name, suite)
  } else if (isCI()) {
    describe(name, () => {
      it('has what it needs to run (required under CI)', () => {
        throw new Error(`${name}: ${problem}`)
      })
    })
  } else {
    skipping(name, problem)
    describe.skip(`${name} [SKIPPED: ${problem}]`, suite)
  }
}

/**
 * The same for one test, from inside it: returns when `problem` is `undefined`; otherwise throws
 * under `CI`, and skips the test (with `problem` as its note) elsewhere.
 *
 * @example
 * ```ts
 * it('shows the page', async (ctx) => {
 *   requireOrSkip(ctx, existsSync(chromium) ? undefined : 'no Chromium')
 *   …
 * })
 * ```
 */
export function requireOrSkip(ctx: TestContext, problem: string | undefined): void {
  if (problem === undefined) return
  if (isCI()) throw new Error(`${ctx.task.name}: ${problem}`)
  ctx.skip(skipping(ctx.task.name, problem))
}
