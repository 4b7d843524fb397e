// The full form of the README's "Disconnect" example (Koa): the same server, then a user who consents
// (the headless consent driver of @ongoing/testing signs in and approves), opens /settings and
// presses the button; the grant is gone afterwards. test/snippets runs it against a local
// authorization server (ISSUER, CLIENT_ID, CLIENT_SECRET and ONGOING_SECRET from the environment).
// ../harness.js is test/snippets/harness.ts, written beside this file's folder in the project the test makes.
import { pressDisconnect, takeFreePort } from '../harness.js'

// The test runs this with PORT=0; the redirect URI needs the real port.
await takeFreePort()

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

// A user consents, opens /settings and presses the button; the grant is gone afterwards.
await pressDisconnect(port)
access.close()
process.exit(0)
