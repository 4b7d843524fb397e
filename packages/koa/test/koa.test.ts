import { inspect } from 'node:util'
import { ConsentRequiredError, type OngoingAccess } from '@ongoing/core'
import Koa, { type Context, type Next } from 'koa'
import request from 'supertest'
import { describe, expect, it, vi } from 'vitest'
import { countPromises, offlineAccess } from '../../../test/adapters/parity.js'
import { getOngoing, ongoingRouter, requireAccessToken } from '../src/index.js'

const createAccess = offlineAccess

function appWith(...middleware: Koa.Middleware[]) {
  const app = new Koa()
  app.silent = true
  for (const m of middleware) app.use(m)
  return app.callback()
}

const showState = (ctx: Context) => {
  ctx.body = ctx.state.ongoing
}

describe('options', () => {
  it('are checked once, when the middleware is made', () => {
    const access = createAccess()
    const userKey = 'alice' as unknown as () => string
    expect(() => ongoingRouter(access, { userKey })).toThrow(TypeError)
    expect(() => requireAccessToken(access, { userKey })).toThrow(TypeError)
    for (const prefix of ['auth', '/auth/', '/'])
      expect(() => ongoingRouter(access, { prefix })).toThrow(TypeError)
    expect(() => ongoingRouter(access, { cookieName: 'a b' })).toThrow(TypeError)
    expect(() => ongoingRouter({} as OngoingAccess)).toThrow(TypeError)
  })
})

describe('ongoingRouter', () => {
  it('serves its routes under the prefix, the callback being the last segment of redirectUri', async () => {
    const access = createAccess({ redirectUri: 'http://127.0.0.1:3000/oauth/cb' })
    const server = appWith(ongoingRouter(access, { prefix: '/oauth' }), (ctx) => {
      ctx.status = 404
      ctx.body = 'app 404'
    })
    const consent = await request(server).get('/oauth/consent')
    expect(consent.status).toBe(302)
    expect(consent.headers['set-cookie']?.[1]).toMatch(/; Path=\/oauth;/)
    const callback = await request(server).get('/oauth/cb?code=c&state=s')
    expect(callback.status).toBe(400)
    expect(callback.text).toMatch(/transaction/i) // exposed: a 4xx message holds no token material
    for (const path of ['/auth/consent', '/oauth/callback', '/oauth/consent/x']) {
      expect((await request(server).get(path)).text, path).toBe('app 404')
    }
    expect((await request(server).get('/oauth/refresh')).text).toBe('app 404')
  })
})

describe('requireAccessToken', () => {
  it('calls next() synchronously for a cached token: no promise of ours on the hot path', async () => {
    const access = createAccess()
    await access.restore('alice', { accessToken: 'at-alice', refreshToken: 'rt-alice', expiresIn: 3600 })
    const middleware = requireAccessToken(access, { userKey: () => 'alice' })
    const ctx = { state: {}, get: () => '' } as unknown as Context
    const next = vi.fn<Next>(() => undefined as never)
    expect(countPromises(() => middleware(ctx, next))).toBe(0)
    expect(next).toHaveBeenCalledOnce()
    expect(ctx.state.ongoing).toMatchObject({ accessToken: 'at-alice', userKey: 'alice' })
    expect(getOngoing(ctx)).toBe(ctx.state.ongoing)
  })

  it('takes the user key from an async userKey(ctx), else from the cookie', async () => {
    const access = createAccess()
    await access.restore('bob', { accessToken: 'at-bob', refreshToken: 'rt-bob', expiresIn: 3600 })
    const server = appWith(
      requireAccessToken(access, { userKey: async (ctx) => ctx.get('x-user') || undefined }),
      showState,
    )
    const bob = await request(server).get('/api/me').set('X-User', 'bob')
    expect(bob.body).toMatchObject({ accessToken: 'at-bob', userKey: 'bob' })
    const nobody = await request(server).get('/api/me?x=1').set('Accept', 'text/html')
    expect(nobody.status).toBe(302)
    expect(nobody.headers.location).toBe('/auth/consent?returnTo=%2Fapi%2Fme%3Fx%3D1')
  })

  it('throws the ConsentRequiredError itself to Koa, with status, expose and headers laid over it', async () => {
    const access = createAccess({ onRefreshTokenExpired: 'error' })
    const seen: unknown[] = []
    const app = new Koa()
    app.on('error', (err) => seen.push(err))
    app.use(requireAccessToken(access, { userKey: () => 'carol' }))
    const response = await request(app.callback()).get('/api/me')
    expect(response.status).toBe(401)
    expect(response.headers['www-authenticate']).toMatch(/^Bearer error="invalid_token"/)
    expect(seen[0]).toBeInstanceOf(ConsentRequiredError)
    expect(seen[0]).toMatchObject({
      code: 'ERR_CONSENT_REQUIRED',
      status: 401,
      expose: true,
      userKey: 'carol',
    })
  })
})

describe('getOngoing', () => {
  const message = 'ongoing: ctx.state.ongoing is not set; add requireAccessToken(access) before this route'

  it('is the state requireAccessToken set, in a later middleware', async () => {
    const access = createAccess()
    await access.restore('frank', { accessToken: 'at-frank', refreshToken: 'rt-frank', expiresIn: 3600 })
    const server = appWith(requireAccessToken(access, { userKey: () => 'frank' }), (ctx) => {
      const state = getOngoing(ctx)
      ctx.body = { state, same: state === ctx.state.ongoing }
    })
    const response = await request(server).get('/api/me')
    expect(response.status).toBe(200)
    expect(response.body).toEqual({
      state: { accessToken: 'at-frank', expiresAt: expect.any(Number), userKey: 'frank' },
      same: true,
    })
  })

  it('throws an error naming the fix, without token material, where requireAccessToken did not run', async () => {
    const access = createAccess()
    await access.restore('gina', { accessToken: 'at-gina', refreshToken: 'rt-gina', expiresIn: 3600 })
    const protect = requireAccessToken(access, { userKey: () => 'gina' })
    const errors: unknown[] = []
    const app = new Koa()
    app.silent = true
    app.on('error', (err) => errors.push(err))
    app.use(async (ctx, next) => {
      if (ctx.path === '/protected') return protect(ctx, next)
      return next()
    })
    app.use((ctx) => {
      ctx.body = getOngoing(ctx).userKey
    })
    expect((await request(app.callback()).get('/protected')).text).toBe('gina')
    const forgot = await request(app.callback())
      .get('/forgot?access_token=at-query')
      .set('Authorization', 'Bearer at-header')
      .set('Cookie', 'ongoing.uid=sealed-cookie')
    expect(forgot.status).toBe(500)
    expect(forgot.text).not.toContain('ongoing') // a 500's message is not exposed
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBeInstanceOf(Error)
    expect((errors[0] as Error).message).toBe(message)
    const shown = inspect(errors[0], { depth: 5, showHidden: true })
    for (const secret of ['at-gina', 'rt-gina', 'at-query', 'at-header', 'sealed-cookie'])
      expect(shown).not.toContain(secret)
    expect(() => getOngoing({ state: {} })).toThrow(message)
  })
})
