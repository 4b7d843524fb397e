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

// What this server is, for whoever opens it in a browser: it has no pages of its own.
app.get('/', (_req, res) => {
  res.type('html').send(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Genrefy's token swap server</title>
<style>body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem; }</style>
</head>
<body>
<h1>Genrefy's token swap server</h1>
<p>The mobile app's half of the server side: the app signs the user in at the authorization
server (<code>${escapeHTML(issuer)}</code>) with PKCE and sends the code here. This
server holds the client secret, exchanges the code, and hands the app a sealed handle in place
of the refresh token. It has no pages: the app calls it.</p>
<ul>
  <li><code>POST /swap</code> with <code>code</code> and <code>code_verifier</code>: the access
  token, its lifetime, and the handle</li>
  <li><code>POST /refresh</code> with <code>refresh_token</code> set to the handle: a fresh access
  token</li>
</ul>
<p>Walk it with curl as <code>examples/mobile-swap/README.md</code> shows.</p>
</body>
</html>
`)
})

function escapeHTML(text) {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

app.listen(port, 'localhost', (error) => {
  // Express 5 calls back with the listen error: a port in use is one line, not a stack trace.
  if (error?.code === 'EADDRINUSE') {
    console.error(
      `mobile-swap example: port ${port} is in use: stop what listens there, or start with another PORT`,
    )
    process.exit(1)
  }
  if (error) throw error
  console.log(`mobile-swap example: http://localhost:${port}`)
})
