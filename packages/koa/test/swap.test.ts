import { OngoingAccess } from '@ongoing/core'
import Koa from 'koa'
import { listen } from '../../../test/adapters/parity.js'
import { runSwapParitySuite } from '../../../test/adapters/swap-parity.js'
import { tokenSwapRouter } from '../src/index.js'

runSwapParitySuite({
  name: 'Koa',
  async start(accessOptions, swapOptions) {
    const access = new OngoingAccess(accessOptions)
    const app = new Koa()
    app.silent = true
    app.use(tokenSwapRouter(access, swapOptions)) // the default prefix: /token
    return listen(app.callback(), accessOptions.redirectUri)
  },
})
