import { OngoingAccess, type OngoingAccessOptions } from '@ongoing/core'
import Koa from 'koa'
import {
  type AdapterHarness,
  listen,
  type RunningApp,
  runParitySuite,
} from '../../../test/adapters/parity.js'
import { ongoingRouter, requireAccessToken } from '../src/index.js'

const koa: AdapterHarness = {
  name: 'Koa',
  async start(options: OngoingAccessOptions): Promise<RunningApp> {
    const access = new OngoingAccess(options)
    const errors: unknown[] = []
    const app = new Koa({ proxy: true })
    app.silent = true
    app.on('error', (err) => errors.push(err)) // Koa's own ctx.onerror answers
    app.use(ongoingRouter(access))
    const protect = requireAccessToken(access)
    app.use((ctx, next) => {
      if (ctx.path !== '/api/me') return next()
      return protect(ctx, async () => {
        ctx.body = ctx.state.ongoing
      })
    })
    return { access, errors, ...(await listen(app.callback(), options.redirectUri)) }
  },
}

runParitySuite(koa)
