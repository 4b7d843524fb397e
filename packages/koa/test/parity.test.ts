import { OngoingAccess, type OngoingAccessOptions } from '@ongoing/core'
import Koa from 'koa'
import {
  type AdapterHarness,
  listen,
  type RunningApp,
  runParitySuite,
} from '../../../test/adapters/parity.js'
import { getOngoing, ongoingRouter, requireAccessToken } from '../src/index.js'

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
      if (ctx.path === '/api/me')
        return protect(ctx, async () => {
          ctx.body = ctx.state.ongoing
        })
      if (ctx.path === '/api/call')
        return protect(ctx, async () => {
          const response = await getOngoing(ctx).fetch(String(ctx.query.url))
          ctx.body = { status: response.status, body: await response.text() }
        })
      return next()
    })
    return { access, errors, ...(await listen(app.callback(), options.redirectUri)) }
  },
}

runParitySuite(koa)
