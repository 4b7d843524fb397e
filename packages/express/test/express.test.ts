import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inspect } from 'node:util'
import { ConsentRequiredError, isOngoingAccessError, type OngoingAccess } from '@ongoing/core'
import express, { type ErrorRequestHandler, type NextFunction, type Request, type Response } from 'express'
import request from 'supertest'
import { describe, expect, it, onTestFinished, vi } from 'vitest'
import { countPromises, offlineAccess } from '../../../test/adapters/parity.js'
import { getOngoing, OngoingStrategy, ongoingRouter, requireAccessToken } from '../src/index.js'

const createAccess = offlineAccess

function fakeRequest(headers: Record<string, string> = {}): Request {
  return { method: 'GET', originalUrl: '/api/me', headers } as unknown as Request
}

describe('options', () => {
  it('are checked once, when the middleware is made', () => {
    const access = createAccess()
    const userKey = 'alice' as unknown as () => string
    expect(() => ongoingRouter(access, { userKey })).toThrow(TypeError)
    expect(() => requireAccessToken(access, { userKey })).toThrow(TypeError)
    expect(() => ongoingRouter(access, { cookieName: 'a b' })).toThrow(TypeError)
    expect(() => requireAccessToken(access, { consentPath: 'consent' })).toThrow(TypeError)
    expect(() => ongoingRouter({} as OngoingAccess)).toThrow(TypeError)
    expect(() => new OngoingStrategy(access, undefined as never)).toThrow(TypeError)
    expect(requireAccessToken(access).name).toBe('requireAccessTokenMiddleware')
    expect(ongoingRouter(access).name).toBe('ongoingRouterMiddleware')
  })
})

describe('requireAccessToken', () => {
  it('calls next() synchronously for a cached token: no promise on the hot path', async () => {
    const access = createAccess()
    await access.restore('alice', { accessToken: 'at-alice', refreshToken: 'rt-alice', expiresIn: 3600 })
    const middleware = requireAccessToken(access, { userKey: () => 'alice' })
    const req = fakeRequest()
    const next = vi.fn()
    const promises = countPromises(() => middleware(req, {} as Response, next))
    expect(next).toHaveBeenCalledWith()
    expect(promises).toBe(0)
    // The measure sees promises where there are some: no grant means a store read.
    const cold = requireAccessToken(createAccess({ onRefreshTokenExpired: 'error' }), {
      userKey: () => 'alice',
    })
    const passed = new Promise((resolve) => {
      expect(countPromises(() => cold(fakeRequest(), {} as Response, resolve))).toBeGreaterThan(0)
    })
    expect(await passed).toMatchObject({ code: 'ERR_CONSENT_REQUIRED' })
    expect(req.ongoing).toEqual({ accessToken: 'at-alice', expiresAt: expect.any(Number), userKey: 'alice' })
    expect(getOngoing(req)).toBe(req.ongoing)
  })

  it('takes the user key from an async userKey(req), else from the cookie', async () => {
    const access = createAccess()
    await access.restore('bob', { accessToken: 'at-bob', refreshToken: 'rt-bob', expiresIn: 3600 })
    const app = express()
    const options = { userKey: async (req: Request) => req.get('x-user') }
    app.use('/auth', ongoingRouter(access, options))
    app.get('/api/me', requireAccessToken(access, options), (req, res) => {
      res.json(req.ongoing)
    })
    const bob = await request(app).get('/api/me').set('X-User', 'bob')
    expect(bob.body).toMatchObject({ accessToken: 'at-bob', userKey: 'bob' })
    const nobody = await request(app).get('/api/me').set('Accept', 'application/json')
    expect(nobody.status).toBe(401)
    expect(nobody.body).toMatchObject({ error: 'consent_required', reason: 'no_grant' })
  })

  it('hands next(err) the ConsentRequiredError itself, with the HTTP answer laid over it', async () => {
    const access = createAccess({ onRefreshTokenExpired: 'error' })
    const err = await new Promise<unknown>((resolve) => {
      requireAccessToken(access, { userKey: () => 'carol' })(
        fakeRequest(),
        {} as Response,
        resolve as NextFunction,
      )
    })
    expect(err).toBeInstanceOf(ConsentRequiredError)
    expect(isOngoingAccessError(err)).toBe(true)
    expect(err).toMatchObject({
      code: 'ERR_CONSENT_REQUIRED',
      reason: 'no_grant',
      userKey: 'carol',
      status: 401,
      statusCode: 401,
      expose: true,
      headers: { 'www-authenticate': expect.stringMatching(/^Bearer error="invalid_token"/) },
    })
  })

  it('sets req.ongoing without adding a property to req, readable after a mounted sub-app', async () => {
    const access = createAccess()
    await access.restore('dave', { accessToken: 'at-dave', refreshToken: 'rt-dave', expiresIn: 3600 })
    const api = express()
    api.use(requireAccessToken(access, { userKey: () => 'dave' }))
    const app = express()
    app.use('/api', api)
    app.get('/api/me', (req, res) => {
      // Back in the parent app, with the parent's request prototype.
      res.json({
        token: req.ongoing?.accessToken,
        own: Object.hasOwn(req, 'ongoing'),
        keys: Object.keys(req).includes('ongoing'),
        logged: inspect(req, { depth: 0 }).includes('at-dave'),
        localsLogged: inspect(res.locals, { depth: 5, showHidden: true }).includes('at-dave'),
        localsKeys: Object.keys(res.locals),
      })
    })
    const other = express()
    other.get('/', (req, res) => res.json({ ongoing: req.ongoing ?? null }))
    expect((await request(app).get('/api/me')).body).toEqual({
      token: 'at-dave',
      own: false,
      keys: false,
      logged: false,
      localsLogged: false,
      localsKeys: [],
    })
    // Another app's requests, where nothing set it, read nothing.
    expect((await request(other).get('/')).body).toEqual({ ongoing: null })
  })

  it("keeps req.ongoing out of a rendered view's options, and readable after res.locals is spread", async () => {
    const access = createAccess()
    await access.restore('erin', { accessToken: 'at-erin', refreshToken: 'rt-erin', expiresIn: 3600 })
    const app = express()
    const seen: string[] = []
    app.engine('txt', (_path, options, callback) => {
      seen.push(inspect(options, { depth: 5, showHidden: true }))
      callback(null, `keys: ${Object.keys(options).sort().join(',')}`)
    })
    app.set('view engine', 'txt')
    const views = mkdtempSync(join(tmpdir(), 'ongoing-views-'))
    onTestFinished(() => rmSync(views, { recursive: true, force: true }))
    writeFileSync(join(views, 'page.txt'), '')
    app.set('views', views)
    app.get('/page', requireAccessToken(access, { userKey: () => 'erin' }), (req, res, next) => {
      res.locals = { ...res.locals, title: 'Library' } // a common way to add locals
      if (getOngoing(req).accessToken !== 'at-erin') return next(new Error('req.ongoing lost'))
      res.render('page.txt', { heading: 'Hi' })
    })
    const response = await request(app).get('/page')
    expect(response.status).toBe(200)
    expect(response.text).toBe('keys: _locals,cache,heading,settings,title')
    expect(seen).toHaveLength(1)
    expect(seen[0]).not.toContain('at-erin')
    expect(seen[0]).toContain('RequestValue {}')
  })

  it('passes an error of userKey(req) on unchanged', async () => {
    const access = createAccess()
    const boom = new Error('session store down')
    const app = express()
    app.get(
      '/api/me',
      requireAccessToken(access, {
        userKey: () => {
          throw boom
        },
      }),
    )
    const seen: unknown[] = []
    const record: ErrorRequestHandler = (err, _req, res, _next) => {
      seen.push(err)
      res.status(500).end()
    }
    app.use(record)
    expect((await request(app).get('/api/me')).status).toBe(500)
    expect(seen).toEqual([boom])
  })
})

describe('getOngoing', () => {
  const message = 'ongoing: req.ongoing is not set; add requireAccessToken(access) before this route'

  it('is the state requireAccessToken set, also in a handler after a mounted sub-app', async () => {
    const access = createAccess()
    await access.restore('frank', { accessToken: 'at-frank', refreshToken: 'rt-frank', expiresIn: 3600 })
    const api = express()
    api.use(requireAccessToken(access, { userKey: () => 'frank' }))
    const app = express()
    app.use('/api', api)
    app.get('/api/me', (req, res) => {
      const state = getOngoing(req)
      res.json({ state, same: state === req.ongoing })
    })
    const response = await request(app).get('/api/me')
    expect(response.status).toBe(200)
    expect(response.body).toEqual({
      state: { accessToken: 'at-frank', expiresAt: expect.any(Number), userKey: 'frank' },
      same: true,
    })
  })

  it('throws an error naming the fix, without token material, on a route without requireAccessToken', async () => {
    const access = createAccess()
    await access.restore('gina', { accessToken: 'at-gina', refreshToken: 'rt-gina', expiresIn: 3600 })
    const errors: unknown[] = []
    const app = express()
    app.get('/protected', requireAccessToken(access, { userKey: () => 'gina' }), (req, res) => {
      res.send(getOngoing(req).userKey)
    })
    app.get('/forgot', (req, res) => {
      res.send(getOngoing(req).accessToken)
    })
    app.use(((err, _req, res, _next) => {
      errors.push(err)
      res.status(500).send('error')
    }) satisfies ErrorRequestHandler)
    expect((await request(app).get('/protected')).text).toBe('gina')
    const forgot = await request(app)
      .get('/forgot?access_token=at-query')
      .set('Authorization', 'Bearer at-header')
      .set('Cookie', 'ongoing.uid=sealed-cookie')
    expect(forgot.status).toBe(500)
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBeInstanceOf(Error)
    expect((errors[0] as Error).message).toBe(message)
    const shown = inspect(errors[0], { depth: 5, showHidden: true })
    for (const secret of ['at-gina', 'rt-gina', 'at-query', 'at-header', 'sealed-cookie'])
      expect(shown).not.toContain(secret)
    // Thrown synchronously, with nothing set on a plain request either.
    expect(() => getOngoing(fakeRequest({ authorization: 'Bearer at-header' }))).toThrow(message)
  })
})

describe('ongoingRouter', () => {
  it('serves only its three routes, relative to where it is mounted', async () => {
    const app = express()
    app.use('/auth', ongoingRouter(createAccess()))
    app.use((_req, res) => {
      res.status(404).send('app 404')
    })
    const consent = await request(app).get('/auth/consent?returnTo=/x')
    expect(consent.status).toBe(302)
    expect(consent.headers.location).toMatch(/^http:\/\/127\.0\.0\.1:9\/authorize\?/)
    for (const [method, path] of [
      ['post', '/auth/consent'],
      ['get', '/auth/refresh'],
      ['get', '/auth/other'],
      ['get', '/consent'],
    ] as const) {
      const response = await request(app)[method](path)
      expect(response.text, `${method} ${path}`).toBe('app 404')
    }
  })

  it("answers a callback without a transaction with 400 through Express's own handler", async () => {
    const app = express()
    app.use('/auth', ongoingRouter(createAccess()))
    const response = await request(app).get('/auth/callback?code=c&state=s')
    expect(response.status).toBe(400)
    expect(response.headers['cache-control']).toBe('no-store')
  })
})
