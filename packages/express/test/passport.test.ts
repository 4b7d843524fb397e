import { OngoingAccess } from '@ongoing/core'
import { driveConsent, startTestAuthorizationServer, type TestAuthorizationServer } from '@ongoing/testing'
import express from 'express'
import session from 'express-session'
import passport from 'passport'
import request from 'supertest'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { CookieJar, freePort, listen, SECRET } from '../../../test/adapters/parity.js'
import { OngoingStrategy, requireAccessToken } from '../src/index.js'

interface AppUser {
  id: string
}

describe('OngoingStrategy with express-session and passport.session()', () => {
  let as: TestAuthorizationServer
  let close: (() => Promise<void>) | undefined

  beforeAll(async () => {
    as = await startTestAuthorizationServer({ accessTokenTTLSeconds: 60 })
  })
  afterAll(() => as?.close())
  afterEach(async () => {
    await close?.()
    close = undefined
  })

  async function start(options: { approve?: boolean } = {}) {
    const port = await freePort()
    const redirectUri = `http://127.0.0.1:${port}/auth/callback`
    const access = new OngoingAccess({
      issuer: as.issuer,
      client: as.clients.confidential,
      redirectUri,
      scope: 'offline_access api:read',
      secret: SECRET,
    })
    const verified: unknown[] = []
    const authenticator = new passport.Passport()
    authenticator.use(
      new OngoingStrategy(access, (result, done) => {
        verified.push(result)
        done(null, { id: result.userKey } satisfies AppUser)
      }),
    )
    authenticator.serializeUser((user, done) => done(null, (user as AppUser).id))
    authenticator.deserializeUser((id: string, done) => done(null, { id } satisfies AppUser))

    const app = express()
    app.use(session({ secret: SECRET, resave: false, saveUninitialized: false }))
    app.use(authenticator.session())
    app.get('/auth/login', authenticator.authenticate('ongoing'))
    app.get(
      '/auth/callback',
      authenticator.authenticate('ongoing', { failureRedirect: '/denied' }),
      (req, res) => res.redirect(303, (req.authInfo as { returnTo: string }).returnTo),
    )
    app.get('/whoami', (req, res) => {
      res.json({ user: req.user ?? null })
    })
    app.get(
      '/api/me',
      requireAccessToken(access, { userKey: (req) => (req.user as AppUser | undefined)?.id }),
      (req, res) => {
        res.json(req.ongoing)
      },
    )
    const listening = await listen(app, redirectUri)
    close = listening.close
    const jar = new CookieJar()
    const http = request(listening.baseUrl)
    const get = (path: string, accept = 'text/html') =>
      http.get(path).set('Accept', accept).set('Cookie', jar.header())
    return { access, redirectUri, jar, get, verified, options }
  }

  async function login(s: Awaited<ReturnType<typeof start>>, approve = true) {
    const start = await s.get('/auth/login?returnTo=/library')
    expect(start.status).toBe(302)
    s.jar.store(start.headers['set-cookie'])
    const location = new URL(start.headers.location as string)
    expect(location.searchParams.get('code_challenge_method')).toBe('S256')
    expect(location.searchParams.get('state')).toBeTruthy()
    const callback = await driveConsent(location, { redirectUriPrefix: s.redirectUri, login: 'ivy', approve })
    const done = await s.get(callback.pathname + callback.search)
    s.jar.store(done.headers['set-cookie'])
    return done
  }

  it('logs the user in, keeps them in the session, and a protected route uses their grant', async () => {
    const s = await start()
    as.resetStats()
    const done = await login(s)
    expect(done.status).toBe(303)
    expect(done.headers.location).toBe('/library')
    expect(done.headers['cache-control']).toBe('no-store')
    expect(done.headers['referrer-policy']).toBe('no-referrer')
    expect(as.stats().tokenCalls.authorization_code).toBe(1)
    expect(s.verified).toHaveLength(1)
    const { userKey } = s.verified[0] as { userKey: string }

    const whoami = await s.get('/whoami', 'application/json')
    expect(whoami.body).toEqual({ user: { id: userKey } })
    const again = await s.get('/whoami', 'application/json')
    expect(again.body).toEqual({ user: { id: userKey } })

    const me = await s.get('/api/me', 'application/json')
    expect(me.status).toBe(200)
    expect(me.body.userKey).toBe(userKey)
    expect(me.body.accessToken).toBe((await s.access.getAccessToken(userKey)).value)
    expect(as.stats().tokenCalls.total).toBe(1)
  })

  it('a refused consent fails the login without a token call', async () => {
    const s = await start()
    as.resetStats()
    const done = await login(s, false)
    expect(done.status).toBe(302)
    expect(done.headers.location).toBe('/denied')
    expect(as.stats().tokenCalls.total).toBe(0)
    expect(s.verified).toHaveLength(0)
    expect((await s.get('/whoami', 'application/json')).body).toEqual({ user: null })
  })

  it('a tampered transaction cookie is an error with status 400 and no token call', async () => {
    const s = await start()
    const start_ = await s.get('/auth/login')
    s.jar.store(start_.headers['set-cookie'])
    const callback = await driveConsent(start_.headers.location as string, {
      redirectUriPrefix: s.redirectUri,
      login: 'ivy',
    })
    const [name, value] = s.jar.named('ongoing.tx.') as [string, string]
    s.jar.cookies.set(name, `${value.slice(0, 30)}${value[30] === 'A' ? 'B' : 'A'}${value.slice(31)}`)
    as.resetStats()
    const done = await s.get(callback.pathname + callback.search)
    expect(done.status).toBe(400)
    expect(as.stats().tokenCalls.total).toBe(0)
    expect(s.verified).toHaveLength(0)
  })
})
