// The Koa example in a real Chromium: see genrefy-scenario.ts.
import { testGenrefyExample } from './genrefy-scenario.js'

testGenrefyExample({
  name: 'Koa',
  slug: 'koa',
  script: 'examples/koa/app.mjs',
  appUrlVariable: 'KOA_APP_URL',
  ready: /^koa example: /,
})
