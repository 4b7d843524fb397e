// The full form of the `ready()` snippet of the README: a client the server supports gets ready and
// the app listens; one it does not support fails `ready()` with ERR_CONFIGURATION before any user
// arrives. test/snippets runs it against a local authorization server (ISSUER, CLIENT_ID,
// CLIENT_SECRET and ONGOING_SECRET from the environment; PORT 0: any free port).
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { isOngoingAccessError, OngoingAccess, type OngoingAccessOptions } from '@ongoing/core'
import { startTestAuthorizationServer } from '@ongoing/testing'

const options: OngoingAccessOptions = {
  issuer: process.env.ISSUER!,
  client: { id: process.env.CLIENT_ID!, secret: process.env.CLIENT_SECRET! },
  redirectUri: 'http://localhost:3000/auth/callback',
  scope: 'offline_access api:read',
  secret: process.env.ONGOING_SECRET!,
}
const port = Number(process.env.PORT ?? 3000)
const app = createServer((_req, res) => res.end('ready'))

const access = new OngoingAccess(options)
await access.ready() // throws ERR_CONFIGURATION, ERR_NETWORK, ERR_INVALID_RESPONSE…
app.listen(port)

await once(app, 'listening')
const res = await fetch(`http://127.0.0.1:${(app.address() as AddressInfo).port}/`)
assert.equal(await res.text(), 'ready')
app.close()
access.close()

// A server that takes client_secret_post only: this client (client_secret_basic) fails at startup.
const strict = await startTestAuthorizationServer({ clientAuthMethods: ['client_secret_post'] })
const misconfigured = new OngoingAccess({
  ...options,
  issuer: strict.issuer,
  client: { id: strict.clients.confidential.id, secret: strict.clients.confidential.secret },
})
const error = await misconfigured.ready().then(
  () => assert.fail('ready() resolved'),
  (err: unknown) => err,
)
assert.ok(isOngoingAccessError(error))
assert.equal(error.code, 'ERR_CONFIGURATION')
assert.match(
  error.message,
  /the client authenticates with client_secret_basic \(`client.authMethod`\), but the server lists token_endpoint_auth_methods_supported: client_secret_post$/,
)
misconfigured.close()
await strict.close()
