import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

// The conformance suite on a store without claimOnce (incomplete-store/), run by a Vitest of its
// own: skipped with the reason by default, failed when the suite is told the store is complete.
const here = dirname(fileURLToPath(import.meta.url))
const vitest = join(dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs')

interface Assertion {
  title: string
  status: string
  failureMessages: string[]
}

function runOnIncompleteStore(complete: boolean): Assertion[] {
  const run = spawnSync(
    process.execPath,
    [vitest, 'run', '--config', join(here, 'incomplete-store', 'vitest.config.ts'), '--reporter=json'],
    { encoding: 'utf8', env: { ...process.env, CONFORMANCE_COMPLETE: complete ? '1' : '0' } },
  )
  const report = JSON.parse(run.stdout.slice(run.stdout.indexOf('{')))
  return report.testResults.flatMap((file: { assertionResults: Assertion[] }) => file.assertionResults)
}

const claims = (results: Assertion[]) => results.filter((r) => /claim/i.test(r.title))

describe('runTokenStoreConformance on a store without claimOnce', () => {
  it('skips the claim cases by default, and runs the rest', () => {
    const results = runOnIncompleteStore(false)
    expect(claims(results).length).toBeGreaterThan(0)
    expect(claims(results).every((r) => r.status === 'skipped')).toBe(true)
    expect(results.filter((r) => !claims(results).includes(r) && r.status !== 'passed')).toEqual([])
  }, 60_000)

  it('fails the claim cases, saying why, when told the store is complete', () => {
    const results = runOnIncompleteStore(true)
    expect(claims(results).length).toBeGreaterThan(0)
    for (const result of claims(results)) {
      expect(result.status).toBe('failed')
      expect(result.failureMessages.join('\n')).toContain(
        'the store has no claimOnce (optional in TokenStore), but the suite was told the store is complete',
      )
    }
    expect(results.filter((r) => r.status === 'skipped')).toEqual([])
  }, 60_000)
})
