// vitest is an optional peer dependency: the package's other parts import and run without it.
// A child Node whose module resolution cannot find `vitest` (a resolve hook, as if it were not
// installed) imports the built package, runs the authorization server, and gets a clear error
// from the helpers that need Vitest.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'
import { builtPackagesProblem } from '../../../test/built-packages.js'
import { describeRequiring } from '../src/requirement.js'

const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url))

const withoutVitest = `data:text/javascript,${encodeURIComponent(`
import { register } from 'node:module'
register('data:text/javascript,' + encodeURIComponent(\`
export async function resolve(specifier, context, next) {
  if (specifier === 'vitest' || specifier.startsWith('vitest/')) {
    const error = new Error('Cannot find package vitest')
    error.code = 'ERR_MODULE_NOT_FOUND'
    throw error
  }
  return next(specifier, context)
}\`))
`)}`

const script = `
const testing = await import(${JSON.stringify(dist)})
const as = await testing.startTestAuthorizationServer()
const metadata = await fetch(new URL('/.well-known/openid-configuration', as.issuer))
const report = { metadata: metadata.status, issuer: (await metadata.json()).issuer === as.issuer }
await as.close()
for (const [name, call] of [
  ['describeRequiring', () => testing.describeRequiring('x', undefined, () => {})],
  ['runTokenStoreConformance', () => testing.runTokenStoreConformance('x', async () => ({}))],
]) {
  try { call(); report[name] = 'no error' } catch (error) { report[name] = error.message }
}
try { await import('vitest'); report.vitest = 'found' } catch { report.vitest = 'not found' }
console.log(JSON.stringify(report))
`

describeRequiring('@ongoing/testing without vitest', builtPackagesProblem(['testing']), () => {
  it('imports, runs the authorization server, and says to install vitest only for the Vitest helpers', () => {
    const run = spawnSync(
      process.execPath,
      ['--import', withoutVitest, '--input-type=module', '-e', script],
      {
        encoding: 'utf8',
        timeout: 30_000,
      },
    )
    expect(run.stderr).not.toMatch(/Error/)
    expect(run.status).toBe(0)
    expect(JSON.parse(run.stdout.trim().split('\n').at(-1)!)).toEqual({
      metadata: 200,
      issuer: true,
      describeRequiring:
        '@ongoing/testing: describeRequiring registers Vitest tests; install vitest (>=4) to use it',
      runTokenStoreConformance:
        '@ongoing/testing: runTokenStoreConformance registers Vitest tests; install vitest (>=4) to use it',
      vitest: 'not found',
    })
  })
})
