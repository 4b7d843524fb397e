// Runs one use of @ongoing/core (as built) and prints whether, and when, `jose` was loaded:
//   node scenario.mjs secret | private-key-jwt | openid
import { generateKeyPairSync } from 'node:crypto'
import { register } from 'node:module'
import { MessageChannel } from 'node:worker_threads'

const { port1, port2 } = new MessageChannel()
let joseLoads = 0
port1.on('message', () => joseLoads++)
port1.unref()
register('./hooks.mjs', import.meta.url, { data: { port: port2 }, transferList: [port2] })

const { OngoingAccess } = await import('@ongoing/core')
const settle = () => new Promise((resolve) => setTimeout(resolve, 100))
const common = {
  issuer: 'https://as.example',
  endpoints: { authorization: 'https://as.example/authorize', token: 'https://as.example/token' },
  redirectUri: 'https://app.example/auth/callback',
  secret: 'a-secret-of-at-least-thirty-two-characters',
  fetch: async () => Response.json({ access_token: 'at-2', token_type: 'Bearer', expires_in: 3600 }),
}
const which = process.argv[2]
const report = {}
if (which === 'secret') {
  const access = new OngoingAccess({ ...common, client: { id: 'app', secret: 's' }, scope: 'offline_access' })
  await access.startConsent({ userKey: 'u' })
  await access.restore('u', { accessToken: 'at-1', refreshToken: 'rt-1', expiresIn: 0 })
  await access.getAccessToken('u')
} else if (which === 'private-key-jwt') {
  const privateKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' })
  new OngoingAccess({ ...common, client: { id: 'app', privateKey }, scope: 'offline_access' })
} else if (which === 'openid') {
  const access = new OngoingAccess({ ...common, client: { id: 'app', secret: 's' }, scope: 'offline_access' })
  await access.startConsent({ userKey: 'u' })
  await settle()
  report.beforeOpenid = joseLoads
  await access.startConsent({ userKey: 'u', scope: 'openid offline_access' })
}
await settle()
report.joseLoads = joseLoads
process.stdout.write(JSON.stringify(report))
