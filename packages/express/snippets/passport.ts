// The full form of the README's Passport example: an Express app around it (the access, the
// session, a `handler` that reads the API with the user's token), then a user who signs in with
// the headless consent driver of @ongoing/testing and reads /history, and one who cancels.
// test/snippets runs it against a local authorization server (ISSUER, CLIENT_ID, CLIENT_SECRET,
// ONGOING_SECRET and API_URL from the environment).
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import { OngoingAccess } from '@ongoing/core'
import { getOngoing } from '@ongoing/express'
import { driveConsent } from '@ongoing/testing'
import express, { type RequestHandler } from 'express'

// The test runs this with PORT=0; the redirect URI needs the real port, so take a free one.
const port = await new Promise<number>((resolve) => {
  const probe = createServer().listen(Number(process.env.PORT ?? 3000) || 0, () => {
    const { port } = probe.address() as { port: number }
    probe.close(() => resolve(port))
  })
})
const access = new OngoingAccess({
  issuer: process.env.ISSUER!,
  client: { id: process.env.CLIENT_ID!, secret: process.env.CLIENT_SECRET! },
  redirectUri: `http://localhost:${port}/auth/callback`,
  scope: 'offline_access api:read',
  secret: process.env.ONGOING_SECRET!,
})
const app = express()
const handler: RequestHandler = async (req, res) => {
  const api = await getOngoing(req).fetch(`${process.env.API_URL}/me/history`)
  res.status(api.status).json(await api.json())
}
process.env.SESSION_SECRET ??= randomBytes(32).toString('base64url')

import { OngoingStrategy, requireAccessToken } from '@ongoing/express'
import session from 'express-session'
import passport from 'passport'

declare global {
  namespace Express {
    interface User {
      id: string
    }
  }
}

passport.use(new OngoingStrategy(access, (result, done) => done(null, { id: result.userKey })))
passport.serializeUser((user, done) => done(null, user.id))
passport.deserializeUser((id: string, done) => done(null, { id }))

app.use(session({ secret: process.env.SESSION_SECRET!, resave: false, saveUninitialized: false }))
app.use(passport.session())
app.get('/auth/login', passport.authenticate('ongoing')) // ?returnTo=/history
app.get('/auth/callback', passport.authenticate('ongoing', { failureRedirect: '/' }), (req, res) =>
  res.redirect(303, (req.authInfo as { returnTo: string }).returnTo),
)
app.get('/history', requireAccessToken(access, { userKey: (req) => req.user?.id }), handler)

app.listen(port)

// A browser: its cookies, sent back on each request.
const browser = () => {
  const cookies = new Map<string, string>()
  return async (path: string | URL) => {
    const cookie = [...cookies].map(([name, value]) => `${name}=${value}`).join('; ')
    const response = await fetch(new URL(path, `http://localhost:${port}`), {
      redirect: 'manual',
      headers: { cookie, accept: 'application/json' },
    })
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';')
      const at = pair.indexOf('=')
      cookies.set(pair.slice(0, at), pair.slice(at + 1))
    }
    return response
  }
}
const redirectUriPrefix = `http://localhost:${port}/auth/callback`

// Alice signs in and comes back to /history, which reads the API with her token.
const alice = browser()
const login = await alice('/auth/login?returnTo=/history')
assert.equal(login.status, 302)
const callback = await alice(await driveConsent(login.headers.get('location')!, { redirectUriPrefix }))
assert.equal(callback.status, 303)
assert.equal(callback.headers.get('location'), '/history')
const history = await alice('/history')
assert.equal(history.status, 200)
assert.deepEqual(await history.json(), { plays: [{ title: 'Blue' }] })

// Bob cancels at the authorization server: the failureRedirect, and no session.
const bob = browser()
const start = await bob('/auth/login?returnTo=/history')
const cancelled = await bob(
  await driveConsent(start.headers.get('location')!, { redirectUriPrefix, approve: false }),
)
assert.equal(cancelled.status, 302)
assert.equal(cancelled.headers.get('location'), '/')
assert.equal((await bob('/history')).status, 401)
access.close()
process.exit(0)
