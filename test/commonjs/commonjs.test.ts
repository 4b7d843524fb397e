import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { describeRequiring } from '@ongoing/testing'
import { expect, it } from 'vitest'

const here = fileURLToPath(new URL('.', import.meta.url))
const require = createRequire(import.meta.url)
const built = existsSync(fileURLToPath(new URL('../../packages/core/dist/index.cjs', import.meta.url)))

const problem = built
  ? undefined
  : 'packages/core/dist is missing: run `pnpm build` first (the root `pnpm test` does)'

describeRequiring('a CommonJS consumer', problem, () => {
  it('require()s @ongoing/core and uses it', () => {
    const out = execFileSync(process.execPath, ['consumer.cjs'], { cwd: here, encoding: 'utf8' })
    expect(JSON.parse(out)).toEqual({
      host: 'as.example',
      challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code: 'ERR_CONSENT_REQUIRED',
      isError: true,
    })
  })

  it.each(['tsconfig.node16.json', 'tsconfig.node10.json'])(
    'typechecks against the published types (%s)',
    (config) => {
      const tsc = require.resolve('typescript/bin/tsc')
      execFileSync(process.execPath, [tsc, '-p', config], { cwd: here, encoding: 'utf8' })
    },
  )
})
