import { describe, expect, it } from 'vitest'
import { type Assertion, runChildVitest } from './child-vitest.js'

// The conformance suite on a store without claimOnce (incomplete-store/), run by a Vitest of its
// own: skipped with the reason by default, failed when the suite is told the store is complete.
const runOnIncompleteStore = (complete: boolean): Assertion[] =>
  runChildVitest('incomplete-store', { CONFORMANCE_COMPLETE: complete ? '1' : '0' })

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
