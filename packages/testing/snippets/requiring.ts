// The full form of the README's `describeRequiring` snippet: the file runs under Vitest in a
// project with no `dist/index.cjs`, and, outside CI, the suite is reported skipped with the reason
// in its name (under CI=true it would fail).
// The snippet's imports stand where it has them; imports run first wherever they stand, then the
// statements in order, so the lines above the snippet run before it.
import assert from 'node:assert/strict'
import { basename, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

// Run with node, this file runs itself under Vitest (as `vitest run` would) and checks what Vitest
// reported: the suite skipped, the problem in its name.
if (process.env.VITEST === undefined) {
  const { startVitest } = await import('vitest/node')
  const file = fileURLToPath(import.meta.url)
  const vitest = await startVitest('test', [], {
    watch: false,
    config: false,
    root: dirname(file),
    include: [basename(file)],
  })
  type Task = { name: string; mode: string; result?: { state?: string }; tasks?: Task[] }
  const reported: { name: string; mode: string; state: string | undefined }[] = []
  const walk = (task: Task, path: string[]) => {
    const names = [...path, task.name]
    if (task.tasks === undefined)
      reported.push({ name: names.join(' > '), mode: task.mode, state: task.result?.state })
    else for (const child of task.tasks) walk(child, names)
  }
  for (const file of vitest.state.getFiles() as unknown as Task[])
    for (const task of file.tasks ?? []) walk(task, [])
  await vitest.close()
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
