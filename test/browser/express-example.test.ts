// The Express example in a real Chromium: see genrefy-scenario.ts.
import { testGenrefyExample } from './genrefy-scenario.js'

testGenrefyExample({
  name: 'Express',
  slug: 'express',
  script: 'examples/express/app.mjs',
  appUrlVariable: 'EXPRESS_APP_URL',
  ready: /^express example: /,
})
