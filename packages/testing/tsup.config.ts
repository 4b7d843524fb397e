import { defineConfig } from 'tsup'

// Vitest can only be imported from ES modules: `require('vitest')` throws. The ES module build
// loads it when it is installed (src/vitest-api.ts, with a top-level await); the CommonJS build
// gets a stand-in whose `vitestFor` throws, so `require('@ongoing/testing')` still works for the
// authorization server, and the Vitest helpers need `import` (as Vitest test files use).
const vitestApiStub = `
export function vitestFor(helper) {
  throw new Error('@ongoing/testing: ' + helper + ' registers Vitest tests and needs import, not require')
}
`

export default defineConfig({
  entry: ['src/index.ts', 'src/cli.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  target: 'node20',
  sourcemap: true,
  esbuildPlugins: [
    {
      name: 'vitest-esm-only',
      setup(build) {
        if (build.initialOptions.format !== 'cjs') return
        build.onResolve({ filter: /\/vitest-api\.js$/ }, () => ({
          path: 'vitest-api',
          namespace: 'vitest-stub',
        }))
        build.onLoad({ filter: /.*/, namespace: 'vitest-stub' }, () => ({
          contents: vitestApiStub,
          loader: 'js',
        }))
      },
    },
  ],
})
