import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describeRequiring } from '@ongoing/testing'
import { expect, it } from 'vitest'
import { builtPackagesProblem } from '../built-packages.js'

const here = fileURLToPath(new URL('.', import.meta.url))
const require = createRequire(import.meta.url)
const problem = builtPackagesProblem(['core'], 'index.cjs')

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
      routesAnswer: [401, 'consent_required'],
    })
  })

  it.each(['.js', '.cjs'])('dist/*%s loads jose only when a flow needs it, never at load', (extension) => {
    const dist = fileURLToPath(new URL('../../packages/core/dist/', import.meta.url))
    // The entries and the chunk they share.
    const texts = readdirSync(dist)
      .filter((file) => file.endsWith(extension))
      .map((file) => readFileSync(join(dist, file), 'utf8'))
    expect(texts.length).toBeGreaterThanOrEqual(3)
    const all = texts.join('\n')
    expect(all.match(/\bimport\((["'])jose\1\)/g)).toHaveLength(1)
    expect(all).not.toMatch(/^import [^;]* from ["']jose["']|require\(["']jose["']\)/m)
  })

  it.each(['tsconfig.node16.json', 'tsconfig.node10.json'])(
    'typechecks against the published types (%s)',
    (config) => {
      const tsc = require.resolve('typescript/bin/tsc')
      execFileSync(process.execPath, [tsc, '-p', config], { cwd: here, encoding: 'utf8' })
    },
  )
})
