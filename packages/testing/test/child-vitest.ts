import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const vitest = join(dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs')

/** One test as a child Vitest's JSON report gives it. */
export interface Assertion {
  title: string
  fullName: string
  status: string
  failureMessages: string[]
}

/**
 * Runs the fixtures of `fixtureDir` (a folder next to this file with its own `vitest.config.ts`) in
 * a Vitest of their own, with `env` laid over this process's environment; every test it reported.
 */
export function runChildVitest(fixtureDir: string, env: Record<string, string>): Assertion[] {
  const run = spawnSync(
    process.execPath,
    [vitest, 'run', '--config', join(here, fixtureDir, 'vitest.config.ts'), '--reporter=json'],
    { encoding: 'utf8', env: { ...process.env, ...env } },
  )
  const report = JSON.parse(run.stdout.slice(run.stdout.indexOf('{')))
  return report.testResults.flatMap((file: { assertionResults: Assertion[] }) => file.assertionResults)
}
