// The token swap server of Genrefy's mobile app (the Spotify iOS SDK's tokenSwapURL and
// tokenRefreshURL): the app signs the user in with PKCE and sends the code here; this server
// holds the client secret, exchanges the code, and gives the app a sealed handle in place of the
// refresh token. See README.md for the flow with curl.
//
//   node server.mjs     PORT=3004  ISSUER=http://127.0.0.1:4000
import { OngoingAccess } from '@ongoing/core'
import { tokenSwapRouter } from '@ongoing/express'
import express from 'express'

const port = Number(process.env.PORT ?? 3004)
const issuer = process.env.ISSUER ?? 'http://127.0.0.1:4000'
// Where the provider sends the user back to the app after sign-in: a loopback URI here, so the
// flow works from a browser and curl; a real app registers its custom scheme or universal link.
const appRedirectUri = 'http://127.0.0.1:7777/callback'

// 1. The swap server's client at the provider: its secret never leaves this server.
const access = new OngoingAccess({
  issuer,
  client: { id: 'genrefy-mobile', secret: process.env.CLIENT_SECRET ?? 'genrefy-mobile-dev-secret' },
  redirectUri: appRedirectUri,
  scope: 'offline_access api:read',
  // Derives the keys that seal the handles. Changing it invalidates every handle out there;
  // to rotate, give ['new secret', 'old secret'] for a while (the first seals, all open).
  secret: process.env.ONGOING_SECRET ?? 'genrefy-mobile development secret: set ONGOING_SECRET',
})

const app = express()

// One log line per call: route and status, never a code, token or handle.
app.use((req, res, next) => {
  res.on('finish', () => console.log(`${req.method} ${req.path} → ${res.statusCode}`))
  next()
})

// 2. POST /swap and POST /refresh. Mounted before any body parser: it reads the body itself.
app.use(tokenSwapRouter(access, { redirectUris: [appRedirectUri] }))

app.listen(port, 'localhost', () => console.log(`mobile-swap example: http://localhost:${port}`))
