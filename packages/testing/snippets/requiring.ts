// The full form of the README's `describeRequiring` snippet: the file runs under Vitest in a
// project with no `dist/index.cjs`, and, outside CI, the suite is reported skipped with the reason
// in its name (under CI=true it would fail).
// The snippet's imports stand where it has them; imports run first wherever they stand, then the
// statements in order, so the lines above the snippet run before it.
// ../harness.js is test/snippets/harness.ts, written beside this file's folder in the project the test makes.

import assert from 'node:assert/strict'
import { runUnderVitest } from '../harness.js'

// Run with node, this file runs itself under Vitest (as `vitest run` would) and checks what Vitest
// reported: the suite skipped, the problem in its name.
const reported = await runUnderVitest(import.meta.url)
if (reported !== undefined) {
  assert.deepEqual(reported, [
    {
      name: 'the CommonJS build [SKIPPED: run pnpm build first] > require()s',
      mode: 'skip',
      state: undefined,
    },
  ])
  process.exit(0)
}

import { existsSync } from 'node:fs'
import { describeRequiring } from '@ongoing/testing'
import { it } from 'vitest'

describeRequiring(
  'the CommonJS build',
  existsSync('dist/index.cjs') ? undefined : 'run pnpm build first',
  () => {
    it('require()s', () => {
      /* … */
    })
  },
)
