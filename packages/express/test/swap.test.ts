import { OngoingAccess } from '@ongoing/core'
import express5, { type ErrorRequestHandler } from 'express'
import express4 from 'express4'
import request from 'supertest'
import { describe, expect, it } from 'vitest'
import { listen, offlineAccess } from '../../../test/adapters/parity.js'
import { runSwapParitySuite, type SwapHarness } from '../../../test/adapters/swap-parity.js'
import { tokenSwapRouter } from '../src/index.js'

function expressHarness(name: string, express: typeof express5, parseFirst = false): SwapHarness {
  return {
    name,
    // express.urlencoded()'s default limit: 100 KB.
    bodyParserLimitBytes: parseFirst ? 100 * 1024 : undefined,
    async start(accessOptions, swapOptions) {
      const access = new OngoingAccess(accessOptions)
      const app = express()
      if (parseFirst) app.use(express.urlencoded({ extended: true }), express.json())
      app.use('/token', tokenSwapRouter(access, swapOptions))
      return listen(app, accessOptions.redirectUri)
    },
  }
}

runSwapParitySuite(expressHarness('Express 5', express5))
runSwapParitySuite(expressHarness('Express 4', express4 as unknown as typeof express5))
runSwapParitySuite(expressHarness('Express 5 after express.urlencoded()', express5, true))
runSwapParitySuite(
  expressHarness('Express 4 after express.urlencoded()', express4 as unknown as typeof express5, true),
)

// No authorization server is reached below: every request is refused before a token call.
const createAccess = () => offlineAccess({ redirectUri: 'http://127.0.0.1:7777/callback' })

describe('tokenSwapRouter', () => {
  it('checks its options once, when the middleware is made', () => {
    const access = createAccess()
    expect(() => tokenSwapRouter({} as OngoingAccess)).toThrow(TypeError)
    expect(() => tokenSwapRouter(access, { maxBodyBytes: 10 })).toThrow(TypeError)
    expect(() => tokenSwapRouter(access, { redirectUris: [] })).toThrow(TypeError)
    expect(() => tokenSwapRouter(access, { rateLimit: 30 as never })).toThrow(TypeError)
    expect(tokenSwapRouter(access).name).toBe('tokenSwapRouterMiddleware')
  })

  it('serves /swap and /refresh relative to where it is mounted, the root included', async () => {
    const app = express5()
    app.use(tokenSwapRouter(createAccess()))
    const swap = await request(app).post('/swap').type('form').send('code=')
    expect(swap.status).toBe(400)
    expect(swap.body).toEqual({ error: 'invalid_request', error_description: '`code` is missing or empty' })
    const refresh = await request(app).post('/refresh').type('form').send('refresh_token=nope')
    expect(refresh.status).toBe(400)
    expect(refresh.body).toMatchObject({ error: 'invalid_grant' })
    expect((await request(app).post('/token/swap').type('form').send('code=x')).status).toBe(404)
  })

  it("hands an error it cannot answer (a failing rate limiter) to the app's error handling", async () => {
    const errors: unknown[] = []
    const app = express5()
    app.use(
      '/token',
      tokenSwapRouter(createAccess(), {
        rateLimit: () => {
          throw new Error('limiter down')
        },
      }),
    )
    const record: ErrorRequestHandler = (err, _req, res, _next) => {
      errors.push(err)
      res.status(503).end()
    }
    app.use(record)
    expect((await request(app).post('/token/swap').type('form').send('code=x')).status).toBe(503)
    expect(errors).toEqual([new Error('limiter down')])
  })
})
