import { it } from 'vitest'
import { describeRequiring, requireOrSkip } from '../../src/requirement.js'

// What a machine without Redis or Chromium meets: run with CI=true, and without.
describeRequiring('a suite that needs Redis', 'no Redis: `redis-server` could not be run', () => {
  it('talks to Redis', () => {})
})

it('a test that needs Chromium', (ctx) => {
  requireOrSkip(ctx, 'Chromium not found at /usr/bin/chromium')
})

describeRequiring('a suite that has what it needs', undefined, () => {
  it('runs', () => {})
})
