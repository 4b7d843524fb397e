// The NestJS example in a real Chromium: see genrefy-scenario.ts. The example is TypeScript
// compiled to CommonJS, as in a `nest new` app: compile it first, as its `start` script does.
import { execFileSync } from 'node:child_process'
import { beforeAll } from 'vitest'
import { root, testGenrefyExample } from './genrefy-scenario.js'

beforeAll(() => {
  execFileSync(process.execPath, [root('node_modules/typescript/bin/tsc'), '-p', root('examples/nestjs')])
})

testGenrefyExample({
  name: 'NestJS',
  slug: 'nestjs',
  script: 'examples/nestjs/dist/main.js',
  appUrlVariable: 'NESTJS_APP_URL',
  ready: /^nestjs example: /,
})
