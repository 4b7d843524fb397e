// The full form of the README's Express snippet, against the digi.me stand-in of @ongoing/testing
// in place of digi.me: a signed-in user (here always "user-42") consents through the router's
// routes, with the stand-in's consent driver in the user's place, then GET /library triggers a
// data session with the user's fresh token. ONGOING_SECRET comes from the environment.
// The snippet's imports stand where it has them; imports run first wherever they stand, then the
// statements in order, so the lines above the snippet run before it.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { OngoingAccess } from '@ongoing/core'
import { digiMe } from '@ongoing/digime'
import express from 'express'

declare global {
  namespace Express {
    interface Request {
      user?: { id: string }
    }
  }
}

const { driveDigiMeConsent, startDigiMeServer } = await import('@ongoing/testing')
const standIn = await startDigiMeServer()
const api = standIn.baseUrl
const app = express()
// The app's login: every request is user-42's.
app.use((req, _res, next) => {
  req.user = { id: 'user-42' }
  next()
})
const server = app.listen(0, '127.0.0.1')
await once(server, 'listening')
const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
const access = new OngoingAccess({
  profile: digiMe({
    applicationId: standIn.contract.applicationId,
    contractId: standIn.contract.contractId,
    privateKey: standIn.contract.privateKeyPem!,
    baseUrl: standIn.baseUrl,
    consentUrl: standIn.consentUrl,
  }),
  redirectUri: `${origin}/auth/callback`,
  secret: process.env.ONGOING_SECRET!,
})

import { getOngoing, ongoingRouter, requireAccessToken } from '@ongoing/express'

const triggerInit = {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ agent: { sdk: { name: 'my-app', version: '1.0.0' } } }),
}

app.use('/auth', ongoingRouter(access, { userKey: (req) => req.user?.id }))
app.get('/library', requireAccessToken(access, { userKey: (req) => req.user?.id }), async (req, res) => {
  const trigger = await getOngoing(req).fetch(`${api}permission-access/trigger`, triggerInit)
  res.json(await trigger.json())
})

// No grant yet: a request for JSON gets 401 and the consent URL.
const before = await fetch(`${origin}/library`, { headers: { accept: 'application/json' } })
assert.equal(before.status, 401)
// The consent: to digi.me (the stand-in) and back.
const consent = await fetch(`${origin}/auth/consent?returnTo=/library`, { redirect: 'manual' })
assert.equal(consent.status, 302)
const cookie = consent.headers
  .getSetCookie()
  .map((set) => set.split(';')[0])
  .join('; ')
const callbackUrl = await driveDigiMeConsent(new URL(consent.headers.get('location')!))
const back = await fetch(callbackUrl, { redirect: 'manual', headers: { cookie } })
assert.equal(back.status, 303, await back.clone().text())
assert.equal(back.headers.get('location'), '/library')
// The library: a data session of user-42's.
const library = await fetch(`${origin}/library`, { headers: { accept: 'application/json' } })
assert.equal(library.status, 200, await library.clone().text())
const { session } = (await library.json()) as { session: { key: string } }
assert.equal(typeof session.key, 'string')
assert.equal(standIn.stats().dataCalls.trigger, 1)
server.close()
access.close()
await standIn.close()
