import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
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
  it('require()s @ongoing/core and uses it, private_key_jwt (jose loaded on first use) included', () => {
    const out = execFileSync(process.execPath, ['consumer.cjs'], { cwd: here, encoding: 'utf8' })
    expect(JSON.parse(out)).toEqual({
      host: 'as.example',
      challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code: 'ERR_CONSENT_REQUIRED',
      isError: true,
      refreshed: true,
      assertionHeader: 'ES256',
    })
  })

  it.each(['index.js', 'index.cjs'])(
    'dist/%s loads jose only when a flow needs it, never at load',
    (file) => {
      const text = readFileSync(
        fileURLToPath(new URL(`../../packages/core/dist/${file}`, import.meta.url)),
        'utf8',
      )
      expect(text).toContain('import("jose")')
      expect(text).not.toMatch(/^import [^;]* from "jose"|require\("jose"\)/m)
    },
  )

  it.each(['tsconfig.node16.json', 'tsconfig.node10.json'])(
    'typechecks against the published types (%s)',
    (config) => {
      const tsc = require.resolve('typescript/bin/tsc')
      execFileSync(process.execPath, [tsc, '-p', config], { cwd: here, encoding: 'utf8' })
    },
  )
})
