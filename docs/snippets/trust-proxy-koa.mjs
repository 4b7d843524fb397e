// The full form of the checklist's `app.proxy` line for Koa: the token swap router behind one
// proxy hop. Thirty calls from one user's address use up that address's budget; the next is
// answered 429, while another address still has its own. test/snippets runs it (ISSUER, CLIENT_ID,
// CLIENT_SECRET and ONGOING_SECRET from the environment; these calls never reach the server).
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { OngoingAccess } from '@ongoing/core'
import { tokenSwapRouter } from '@ongoing/koa'
import Koa from 'koa'

const app = new Koa()
app.proxy = true // Koa: read X-Forwarded-For (and app.maxIpsCount = 1 for one hop)
app.maxIpsCount = 1

const access = new OngoingAccess({
  issuer: process.env.ISSUER,
  client: { id: process.env.CLIENT_ID, secret: process.env.CLIENT_SECRET },
  redirectUri: 'http://localhost:3000/auth/callback',
  scope: 'offline_access api:read',
  secret: process.env.ONGOING_SECRET,
})
app.use(tokenSwapRouter(access))
const server = app.listen(0, '127.0.0.1')
await once(server, 'listening')
// What the proxy sends: the client's address in X-Forwarded-For. A swap without a code is a 400.
const swap = async (clientAddress) => {
  const response = await fetch(`http://127.0.0.1:${server.address().port}/token/swap`, {
    method: 'POST',
    headers: { 'x-forwarded-for': clientAddress },
    body: new URLSearchParams({ code: '' }),
  })
  await response.arrayBuffer()
  return response.status
}
for (let i = 0; i < 30; i++) assert.equal(await swap('203.0.113.7'), 400)
assert.equal(await swap('203.0.113.7'), 429)
assert.equal(await swap('198.51.100.23'), 400)
server.close()
access.close()
