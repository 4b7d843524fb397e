import { OngoingAccess, type OngoingAccessOptions } from '@ongoing/core'
import express5, { type ErrorRequestHandler } from 'express'
import express4 from 'express4'
import {
  type AdapterHarness,
  listen,
  type RunningApp,
  runParitySuite,
} from '../../../test/adapters/parity.js'
import { getOngoing, ongoingRouter, requireAccessToken } from '../src/index.js'

function expressHarness(name: string, express: typeof express5): AdapterHarness {
  return {
    name,
    async start(options: OngoingAccessOptions): Promise<RunningApp> {
      const access = new OngoingAccess(options)
      const errors: unknown[] = []
      const app = express()
      app.set('trust proxy', true)
      app.use('/auth', ongoingRouter(access))
      app.get('/api/me', requireAccessToken(access), (req, res) => {
        res.json(req.ongoing)
      })
      app.get('/api/call', requireAccessToken(access), async (req, res) => {
        const response = await getOngoing(req).fetch(String(req.query.url))
        res.json({ status: response.status, body: await response.text() })
      })
      const record: ErrorRequestHandler = (err, _req, _res, next) => {
        errors.push(err)
        next(err) // on to Express's own final handler
      }
      app.use(record)
      return { access, errors, ...(await listen(app, options.redirectUri)) }
    },
  }
}

runParitySuite(expressHarness('Express 5', express5))
runParitySuite(expressHarness('Express 4', express4 as unknown as typeof express5))
