// The built entries of @ongoing/core export what its sources do, for import and require alike
// (the sources' lists are pinned in packages/core/test/entries.test.ts), and share one copy of
// the classes: an error thrown through the main entry is known to the adapter entry.
import { createRequire } from 'node:module'
import { describeRequiring } from '@ongoing/testing'
import { expect, it } from 'vitest'
import * as adapterSource from '../../packages/core/src/adapter.js'
import * as mainSource from '../../packages/core/src/index.js'
import { builtPackagesProblem } from '../built-packages.js'

const require = createRequire(import.meta.url)
const dist = (file: string) => new URL(`../../packages/core/dist/${file}`, import.meta.url)
const problem = builtPackagesProblem(['core'], 'adapter.cjs') ?? builtPackagesProblem(['core'], 'adapter.js')
const sorted = (names: Iterable<string>) => [...names].sort()

describeRequiring('the built entries of @ongoing/core', problem, () => {
  it.each([
    ['index', mainSource],
    ['adapter', adapterSource],
  ])('dist/%s exports the names of its source, as ESM and as CommonJS', async (entry, source) => {
    const expected = sorted(Object.keys(source))
    const esm = (await import(dist(`${entry}.js`).href)) as object
    const cjs = require(dist(`${entry}.cjs`).pathname) as object
    expect(sorted(Object.keys(esm))).toEqual(expected)
    expect(sorted(Object.keys(cjs))).toEqual(expected)
  })

  it.each(['js', 'cjs'])('the .%s entries share one ConsentRequiredError', async (extension) => {
    const load = (entry: string) =>
      extension === 'cjs'
        ? (require(dist(`${entry}.cjs`).pathname) as Record<string, unknown>)
        : (import(dist(`${entry}.js`).href) as Promise<Record<string, unknown>>)
    const main = (await load('index')) as typeof mainSource
    const adapter = (await load('adapter')) as typeof adapterSource
    const error = new main.ConsentRequiredError('', 'no_grant')
    expect(adapter.httpStatusOf(error)).toBe(401)
    const access = new main.OngoingAccess({
      issuer: 'http://127.0.0.1:9',
      endpoints: { authorization: 'http://127.0.0.1:9/authorize', token: 'http://127.0.0.1:9/token' },
      client: { id: 'app', secret: 'app-secret' },
      redirectUri: 'http://127.0.0.1:3000/auth/callback',
      scope: 'api:read',
      secret: 'a secret of at least thirty-two characters',
    })
    // The routes take the main entry's access, and answer its ConsentRequiredError (no grant) as
    // consent required rather than rethrowing it: the same class on both sides.
    const answer = await new adapter.OngoingRoutes(access).refresh(
      {
        method: 'POST',
        url: '/auth/refresh',
        header: (name) => (name === 'origin' ? 'http://127.0.0.1:3000' : undefined),
      },
      'nobody',
    )
    expect(answer).toMatchObject({ status: 401, json: { error: 'consent_required', reason: 'no_grant' } })
    await access.close()
  })
})
