// The full form of the README's "Disconnect" example (Koa): the same server, then a user who consents
// (the headless consent driver of @ongoing/testing signs in and approves), opens /settings and
// presses the button; the grant is gone afterwards. test/snippets runs it against a local
// authorization server (ISSUER, CLIENT_ID, CLIENT_SECRET and ONGOING_SECRET from the environment).
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { createServer } from 'node:net'
import { driveConsent } from '@ongoing/testing'

// The test runs this with PORT=0; the redirect URI needs the real port, so take a free one.
if (process.env.PORT === '0') {
  const probe = createServer().listen(0)
  await new Promise((resolve) => probe.once('listening', resolve))
  process.env.PORT = String((probe.address() as { port: number }).port)
  await new Promise((resolve) => probe.close(resolve))
}

import { OngoingAccess } from '@ongoing/core'
import { ongoingRouter } from '@ongoing/koa'
import Koa from 'koa'

const port = Number(process.env.PORT ?? 3000)
const access = new OngoingAccess({
  issuer: process.env.ISSUER!, // e.g. https://as.example.com
  client: { id: process.env.CLIENT_ID!, secret: process.env.CLIENT_SECRET! },
  redirectUri: `http://localhost:${port}/auth/callback`,
  scope: 'offline_access api:read',
  secret: process.env.ONGOING_SECRET!,
})

const app = new Koa()
app.use(ongoingRouter(access))
app.use(async (ctx, next) => {
  if (ctx.path !== '/settings') return next()
  // A form post from this page is same-origin; the browser comes back to /settings (303).
  ctx.type = 'html'
  ctx.body = `
    <form method="post" action="/auth/disconnect?returnTo=/settings"><button>Disconnect</button></form>
    <script>
      // Or from script: fetch('/auth/disconnect', { method: 'POST' }) → { disconnected, revokedAtServer }
    </script>`
})
app.listen(port)

// The browser: its cookies, sent back on each request.
const origin = `http://localhost:${port}`
const cookies = new Map<string, string>()
const browse = async (path: string, init: RequestInit = {}) => {
  const cookie = [...cookies].map(([name, value]) => `${name}=${value}`).join('; ')
  const response = await fetch(new URL(path, origin), {
    ...init,
    redirect: 'manual',
    headers: { ...(init.headers as Record<string, string>), cookie },
  })
  for (const line of response.headers.getSetCookie()) {
    const [pair = ''] = line.split(';')
    const at = pair.indexOf('=')
    if (/max-age=0/i.test(line)) cookies.delete(pair.slice(0, at))
    else cookies.set(pair.slice(0, at), pair.slice(at + 1))
  }
  return response
}

// Consent, then back on /settings.
const consent = await browse('/auth/consent?returnTo=/settings')
assert.equal(consent.status, 302)
const callbackUrl = await driveConsent(consent.headers.get('location')!, { redirectUriPrefix: `${origin}/` })
const back = await browse(callbackUrl.toString())
assert.equal(back.status, 303)
assert.equal(back.headers.get('location'), '/settings')
const userCookie = [...cookies].map(([name, value]) => `${name}=${value}`).join('; ')
const page = await browse('/settings')
assert.equal(page.status, 200)
assert.match(await page.text(), /action="\/auth\/disconnect\?returnTo=\/settings"/)
const refreshed = await browse('/auth/refresh', { method: 'POST', headers: { origin } })
assert.equal(refreshed.status, 200, 'the grant is there before the button')

// The button: a same-origin form post (fetch cannot send Sec-Fetch-Mode: navigate, a browser's
// form does), answered 303 back to /settings; the user-key cookie goes.
const disconnected = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
  const headers = {
    'sec-fetch-site': 'same-origin',
    'sec-fetch-mode': 'navigate',
    origin,
    cookie: userCookie,
  }
  request(`${origin}/auth/disconnect?returnTo=/settings`, { method: 'POST', headers }, resolve)
    .on('error', reject)
    .end()
})
assert.equal(disconnected.statusCode, 303)
assert.equal(disconnected.headers.location, '/settings')
assert.match(
  String(disconnected.headers['set-cookie']),
  /ongoing\.uid=;.*(max-age=0|expires=thu, 01 jan 1970)/i,
)
disconnected.resume()
cookies.clear()

// The grant is gone: a refresh for the same user key (its old cookie) needs a new consent.
const after = await fetch(`${origin}/auth/refresh`, {
  method: 'POST',
  headers: { origin, cookie: userCookie, accept: 'application/json' },
})
assert.equal(after.status, 401)
// From script, a second click is harmless.
const again = await browse('/auth/disconnect', { method: 'POST', headers: { origin } })
assert.deepEqual(await again.json(), { disconnected: false, revokedAtServer: false })
access.close()
process.exit(0)
