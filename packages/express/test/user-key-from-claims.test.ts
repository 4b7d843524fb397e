import { type FinishConsentResult, type IdTokenClaims, MemoryTokenStore, OngoingAccess } from '@ongoing/core'
import { Sealer } from '@ongoing/core/adapter'
import { driveConsent, startTestAuthorizationServer, type TestAuthorizationServer } from '@ongoing/testing'
import express from 'express'
import session from 'express-session'
import passport from 'passport'
import request from 'supertest'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { CookieJar, freePort, listen, SECRET } from '../../../test/adapters/parity.js'
import { OngoingStrategy, ongoingRouter, requireAccessToken } from '../src/index.js'

interface AppUser {
  id: string
}

/** One browser: its own cookie jar. */
interface Browser {
  jar: CookieJar
  get(path: string, accept?: string): request.Test
}

describe('one user at the authorization server is one grant, from any browser (userKeyFromClaims)', () => {
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

  async function start(options: { keyByClaims: boolean; passport: boolean; secret?: string[] }) {
    const port = await freePort()
    const redirectUri = `http://127.0.0.1:${port}/auth/callback`
    const store = new MemoryTokenStore()
    const access = new OngoingAccess({
      issuer: as.issuer,
      client: as.clients.confidential,
      redirectUri,
      scope: 'openid offline_access api:read',
      secret: options.secret ?? SECRET,
      store,
      ...(options.keyByClaims ? { userKeyFromClaims: (claims: IdTokenClaims) => claims.sub } : {}),
    })
    const verified: FinishConsentResult[] = []
    const app = express()
    let userKey: ((req: express.Request) => string | undefined) | undefined
    if (options.passport) {
      const authenticator = new passport.Passport()
      authenticator.use(
        new OngoingStrategy(access, (result, done) => {
          verified.push(result)
          done(null, { id: result.userKey } satisfies AppUser)
        }),
      )
      authenticator.serializeUser((user, done) => done(null, (user as AppUser).id))
      authenticator.deserializeUser((id: string, done) => done(null, { id } satisfies AppUser))
      app.use(session({ secret: SECRET, resave: false, saveUninitialized: false }))
      app.use(authenticator.session())
      app.get('/auth/login', authenticator.authenticate('ongoing'))
      app.get('/auth/callback', authenticator.authenticate('ongoing'), (_req, res) => res.redirect(303, '/'))
      userKey = (req) => (req.user as AppUser | undefined)?.id
    } else {
      app.use('/auth', ongoingRouter(access))
    }
    app.get('/api/me', requireAccessToken(access, userKey ? { userKey } : {}), (req, res) => {
      res.json({ userKey: req.ongoing?.userKey, accessToken: req.ongoing?.accessToken })
    })
    const listening = await listen(app, redirectUri)
    close = listening.close
    const http = request(listening.baseUrl)
    const browser = (): Browser => {
      const jar = new CookieJar()
      return {
        jar,
        get: (path, accept = 'text/html') => http.get(path).set('Accept', accept).set('Cookie', jar.header()),
      }
    }
    const loginPath = options.passport ? '/auth/login' : '/auth/consent'
    const signIn = async (b: Browser, login: string) => {
      const started = await b.get(loginPath)
      expect(started.status).toBe(302)
      b.jar.store(started.headers['set-cookie'])
      const location = new URL(started.headers.location as string)
      const callback = await driveConsent(location, { redirectUriPrefix: redirectUri, login })
      const done = await b.get(callback.pathname + callback.search)
      expect(done.status).toBe(303)
      b.jar.store(done.headers['set-cookie'])
      return location
    }
    return { access, store, verified, browser, signIn }
  }

  it('regression (issue 18): Passport: the same sub signing in from two cookie jars lands on one user key and one grant', async () => {
    const app = await start({ keyByClaims: true, passport: true })
    const laptop = app.browser()
    const phone = app.browser()
    as.resetStats()
    const sent = await app.signIn(laptop, 'ivy')
    await app.signIn(phone, 'ivy')
    expect(as.stats().tokenCalls.authorization_code).toBe(2)
    // verify got the verified claims, and the key made of them.
    expect(app.verified).toHaveLength(2)
    for (const result of app.verified) {
      expect(result.userKey).toBe('ivy')
      expect(result.claims).toMatchObject({ sub: 'ivy', iss: as.issuer, aud: as.clients.confidential.id })
      expect(result.claims?.nonce).toEqual(expect.any(String))
    }
    expect(sent.searchParams.get('nonce')).toBe(app.verified[0]?.claims?.nonce)
    expect(app.verified[0]?.claims?.nonce).not.toBe(app.verified[1]?.claims?.nonce)
    // One grant, the newest consent's, which both browsers use.
    expect(app.store.size).toBe(1)
    const newest = app.verified[1]?.token.value
    for (const b of [laptop, phone]) {
      const me = await b.get('/api/me', 'application/json')
      expect(me.status).toBe(200)
      expect(me.body).toEqual({ userKey: 'ivy', accessToken: newest })
    }
    expect(as.stats().tokenCalls.total).toBe(2)
  })

  it('Passport: two people at the server stay two users', async () => {
    const app = await start({ keyByClaims: true, passport: true })
    await app.signIn(app.browser(), 'ivy')
    await app.signIn(app.browser(), 'jack')
    expect(app.verified.map((result) => result.userKey)).toEqual(['ivy', 'jack'])
    expect(app.store.size).toBe(2)
  })

  it('before (the default key): the same sub from two cookie jars is two users with two grants', async () => {
    const app = await start({ keyByClaims: false, passport: true })
    await app.signIn(app.browser(), 'ivy')
    await app.signIn(app.browser(), 'ivy')
    const [first, second] = app.verified
    expect(first?.userKey).not.toBe(second?.userKey)
    // The claims are there all the same, for the app to key by.
    expect([first?.claims?.sub, second?.claims?.sub]).toEqual(['ivy', 'ivy'])
    expect(app.store.size).toBe(2)
  })

  it("regression (issue 18): the router's user-key cookie names the claims' key: two browsers, one grant", async () => {
    const app = await start({ keyByClaims: true, passport: false })
    const laptop = app.browser()
    const phone = app.browser()
    await app.signIn(laptop, 'kim')
    await app.signIn(phone, 'kim')
    expect(app.store.size).toBe(1)
    const token = await app.access.getAccessToken('kim')
    for (const b of [laptop, phone]) {
      const me = await b.get('/api/me', 'application/json')
      expect(me.status).toBe(200)
      expect(me.body).toEqual({ userKey: 'kim', accessToken: token.value })
    }
  })

  it("rotating `secret`: signing in again seals a cookie under the old secret again under the new one, even when it already names the claims' key", async () => {
    const NEW = 'user-key-from-claims new secret, thirty-two characters'
    const before = await start({ keyByClaims: true, passport: false, secret: [SECRET] })
    const laptop = before.browser()
    await before.signIn(laptop, 'lev')
    const oldCookie = laptop.jar.cookies.get('ongoing.uid') as string
    expect(new Sealer([SECRET]).open('user-key-cookie', oldCookie)).toBe('lev')
    await close?.()
    close = undefined

    const during = await start({ keyByClaims: true, passport: false, secret: [NEW, SECRET] })
    const same = during.browser()
    same.jar.cookies.set('ongoing.uid', oldCookie)
    await during.signIn(same, 'lev')
    const newCookie = same.jar.cookies.get('ongoing.uid') as string
    expect(newCookie).not.toBe(oldCookie)
    expect(new Sealer([NEW]).open('user-key-cookie', newCookie)).toBe('lev')
    expect(new Sealer([NEW]).open('user-key-cookie', oldCookie)).toBeUndefined()
    const me = await same.get('/api/me', 'application/json')
    expect(me.status).toBe(200)
    expect(me.body).toMatchObject({ userKey: 'lev' })
    expect(me.headers['set-cookie']).toBeUndefined()
  })
})
