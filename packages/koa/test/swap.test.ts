import { OngoingAccess } from '@ongoing/core'
import Koa from 'koa'
import request from 'supertest'
import { describe, expect, it } from 'vitest'
import { listen, offlineAccess } from '../../../test/adapters/parity.js'
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

// No authorization server is reached below: every request is refused before a token call.
const createAccess = () => offlineAccess({ redirectUri: 'http://127.0.0.1:7777/callback' })

function appWith(...middleware: Koa.Middleware[]) {
  const app = new Koa()
  app.silent = true
  for (const m of middleware) app.use(m)
  return app.callback()
}

describe('tokenSwapRouter', () => {
  it('checks its options once, when the middleware is made', () => {
    const access = createAccess()
    expect(() => tokenSwapRouter({} as OngoingAccess)).toThrow(TypeError)
    for (const prefix of ['token', '/token/', '/'])
      expect(() => tokenSwapRouter(access, { prefix })).toThrow(TypeError)
    expect(() => tokenSwapRouter(access, { maxBodyBytes: 10 })).toThrow(TypeError)
    expect(tokenSwapRouter(access).name).toBe('tokenSwapRouterMiddleware')
  })

  it("serves <prefix>/swap and <prefix>/refresh: '' and a deeper prefix", async () => {
    const root = appWith(tokenSwapRouter(createAccess(), { prefix: '' }))
    const swap = await request(root).post('/swap').type('form').send('code=')
    expect(swap.status).toBe(400)
    expect(swap.body).toEqual({ error: 'invalid_request', error_description: '`code` is missing or empty' })
    expect((await request(root).post('/token/swap').type('form').send('code=')).status).toBe(404)
    const deep = appWith(tokenSwapRouter(createAccess(), { prefix: '/mobile/token' }))
    const refresh = await request(deep).post('/mobile/token/refresh').type('form').send('refresh_token=x')
    expect(refresh.status).toBe(400)
    expect(refresh.body).toMatchObject({ error: 'invalid_grant' })
  })

  it('after a body parser that consumed the stream, uses its rawBody', async () => {
    const bodyParser = async (ctx: Koa.Context, next: Koa.Next) => {
      const chunks: Buffer[] = []
      for await (const chunk of ctx.req) chunks.push(chunk as Buffer)
      const rawBody = Buffer.concat(chunks).toString()
      Object.assign(ctx.request, { rawBody, body: Object.fromEntries(new URLSearchParams(rawBody)) })
      await next()
    }
    const app = appWith(bodyParser, tokenSwapRouter(createAccess()))
    const response = await request(app)
      .post('/token/swap')
      .type('form')
      .send('code=x&redirect_uri=https%3A%2F%2Fevil.example%2Fcb')
    expect(response.status).toBe(400)
    // Not "code is missing": the parsed body reached the service.
    expect(response.body).toMatchObject({ error_description: '`redirect_uri` is not registered' })
  })
})
