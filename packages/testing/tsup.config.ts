import { defineConfig } from 'tsup'

// Vitest can only be imported from ES modules: `require('vitest')` throws. The CommonJS build gets
// a stand-in whose functions throw when called, so `require('@ongoing/testing')` still works for
// the authorization server; the Vitest helpers need `import` (as Vitest test files use).
const vitestStub = `
const fail = () => {
  throw new Error('@ongoing/testing: the Vitest helpers (runTokenStoreConformance, describeWithRedis, describeWithPostgres, describeRequiring, requireOrSkip) need import, not require')
}
export const describe = new Proxy(fail, { get: () => fail })
export const it = describe
export const beforeAll = fail
export const afterAll = fail
export const beforeEach = fail
export const afterEach = fail
export const expect = fail
`

export default defineConfig({
  entry: ['src/index.ts', 'src/cli.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  target: 'node20',
  sourcemap: true,
  // Resolved by the plugin below instead: external for ESM, the stand-in for CommonJS.
  noExternal: [/^vitest$/],
  esbuildPlugins: [
    {
      name: 'vitest-esm-only',
      setup(build) {
        const cjs = build.initialOptions.format === 'cjs'
        build.onResolve({ filter: /^vitest$/ }, () =>
          cjs ? { path: 'vitest', namespace: 'vitest-stub' } : { path: 'vitest', external: true },
        )
        build.onLoad({ filter: /.*/, namespace: 'vitest-stub' }, () => ({
          contents: vitestStub,
          loader: 'js',
        }))
      },
    },
  ],
})
