// The full form of the README's token swap example: the same server, then what a native app does
// (consent in the system browser, back on its custom-scheme redirect URI, then POST /token/swap and
// POST /token/refresh). The authorization server must know the app's redirect URI, so this starts
// a test authorization server of @ongoing/testing that does (ONGOING_SECRET from the environment).
// ../harness.js is test/snippets/harness.ts, written beside this file's folder in the project the test makes.

import { startTestAuthorizationServer } from '@ongoing/testing'
import { swapAndRefresh, takeFreePort } from '../harness.js'

const as = await startTestAuthorizationServer({ redirectUris: ['com.example.app:/callback'] })
process.env.ISSUER = as.issuer
process.env.CLIENT_ID = as.clients.confidential.id
process.env.CLIENT_SECRET = as.clients.confidential.secret
// The test runs this with PORT=0: take a free port, to know where to send the app's requests.
await takeFreePort()

import { OngoingAccess } from '@ongoing/core'
import { tokenSwapRouter } from '@ongoing/koa'
import Koa from 'koa'

const port = Number(process.env.PORT ?? 3000)
const access = new OngoingAccess({
  issuer: process.env.ISSUER!, // e.g. https://as.example.com
  client: { id: process.env.CLIENT_ID!, secret: process.env.CLIENT_SECRET! },
  redirectUri: 'https://app.example.com/auth/callback',
  scope: 'offline_access api:read',
  secret: process.env.ONGOING_SECRET!, // seals the handles
})

const app = new Koa()
// POST /token/swap and POST /token/refresh; before any body parser: it reads the body itself.
app.use(tokenSwapRouter(access, { redirectUris: ['com.example.app:/callback'] }))
app.listen(port)

// The app: a consent back on com.example.app:/callback, then swap and refresh (a tampered handle refused).
await swapAndRefresh(`http://localhost:${port}/token`, {
  issuer: as.issuer,
  clientId: as.clients.confidential.id,
})
access.close()
await as.close()
process.exit(0)
