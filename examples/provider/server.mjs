// A local OAuth 2.0 authorization server for the examples, built on oidc-provider, plus the API
// the example apps read: GET /api/me/listening-history. For development only: any login name and
// any password sign in, client secrets are in this file, and everything lives in memory.
//
//   node server.mjs            PORT=4000  ACCESS_TOKEN_TTL=30  REFRESH_TOKEN_TTL=86400
//
// EXPRESS_APP_URL, KOA_APP_URL and NESTJS_APP_URL (defaults http://localhost:3001, :3002, :3003)
// say where the example apps run: each app's client may only redirect to <its URL>/auth/callback.
//
// POST /__ongoing/revoke-grants?accountId=<login name> revokes every grant of that user, as when
// they withdraw the apps' access here (the same control as @ongoing/testing's test server has).
//
// The sign-in and consent pages are this server's own (interactions.mjs), and GET / says what the
// server is.
import { generateKeyPairSync } from 'node:crypto'
import { createServer } from 'node:http'
import Provider from 'oidc-provider'
import { handleInteraction, renderHomePage } from './interactions.mjs'
import { listeningHistory } from './listening-history.mjs'

const env = process.env
const port = Number(env.PORT ?? 4000)
const accessTokenTTL = Number(env.ACCESS_TOKEN_TTL ?? 30) // short, so refreshes show within a minute
const refreshTokenTTL = Number(env.REFRESH_TOKEN_TTL ?? 24 * 3600)

// One client per example app. Web clients: the redirect URI must match exactly, port included.
const client = (id, appUrl) => ({
  client_id: id,
  client_name: 'Genrefy',
  client_secret: `${id}-dev-secret`,
  redirect_uris: [`${appUrl}/auth/callback`],
  grant_types: ['authorization_code', 'refresh_token'],
  token_endpoint_auth_method: 'client_secret_basic',
})
const clients = [
  client('genrefy-express', env.EXPRESS_APP_URL ?? 'http://localhost:3001'),
  client('genrefy-koa', env.KOA_APP_URL ?? 'http://localhost:3002'),
  client('genrefy-nestjs', env.NESTJS_APP_URL ?? 'http://localhost:3003'),
  // The mobile example's swap server (examples/mobile-swap), whose client id the mobile app signs
  // in with. A native client: its loopback redirect URI matches on any port (RFC 8252 section 7.3).
  {
    ...client('genrefy-mobile'),
    application_type: 'native',
    redirect_uris: ['http://127.0.0.1:7777/callback'],
  },
]

// Listen first, so that PORT=0 (a free port, for tests) still gives the issuer its real port.
const server = createServer()
try {
  await new Promise((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve))
} catch (error) {
  if (error.code !== 'EADDRINUSE') throw error
  console.error(`provider: port ${port} is in use: stop what listens there, or start with another PORT`)
  process.exit(1)
}
const issuer = `http://127.0.0.1:${server.address().port}`

const provider = new Provider(issuer, {
  clients,
  scopes: ['offline_access', 'api:read'],
  // The sign-in and consent pages are ours (interactions.mjs), at /interaction/<uid>.
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  features: {
    devInteractions: { enabled: false },
    revocation: { enabled: true }, // RFC 7009, used by access.revoke()
  },
  pkce: { required: () => true },
  // oidc-provider's default issues refresh tokens only with `offline_access` granted through
  // `prompt=consent`; here every client allowed the refresh_token grant gets one.
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  // Every refresh returns a new refresh token and retires the old one; presenting a retired one
  // again revokes the whole grant (RFC 9700 section 4.14.2). This is what @ongoing/core handles.
  rotateRefreshToken: true,
  expiresWithSession: async () => false, // a refresh token outlives the login session
  ttl: {
    AccessToken: accessTokenTTL,
    RefreshToken: refreshTokenTTL, // counted from each refresh: unused this long, the grant lapses
    AuthorizationCode: 60,
    Grant: 30 * 24 * 3600, // what the user approved; outlives the login session, which refers to it
    Interaction: 600,
    Session: 24 * 3600,
  },
  findAccount: async (_ctx, id) => ({ accountId: id, claims: async () => ({ sub: id }) }),
  cookies: { keys: ['example-provider-cookie-key'] },
  jwks: { keys: [developmentSigningKey()] },
})

// One log line per token request, so you can watch refreshes happen. Never the tokens.
provider.use(async (ctx, next) => {
  await next()
  if (ctx.method === 'POST' && ctx.path === '/token') {
    const { client, params } = ctx.oidc ?? {}
    console.log(`token request: grant_type=${params?.grant_type} client=${client?.clientId} → ${ctx.status}`)
  }
})

// Every grant (what a user approved for a client) by account, for revokeGrantsOf.
const grantsByAccount = new Map()
provider.on('grant.saved', ({ accountId, jti }) => {
  grantsByAccount.set(accountId, (grantsByAccount.get(accountId) ?? new Set()).add(jti))
})

/** Revokes every grant of a user and every token issued under them: later refreshes get invalid_grant. */
async function revokeGrantsOf(accountId) {
  const grantIds = [...(grantsByAccount.get(accountId) ?? [])]
  grantsByAccount.delete(accountId)
  for (const grantId of grantIds) {
    const models = [provider.AccessToken, provider.RefreshToken, provider.AuthorizationCode]
    await Promise.all(models.map((model) => model.revokeByGrantId(grantId)))
    await provider.Grant.adapter.destroy(grantId)
  }
  console.log(`grants revoked: ${grantIds.length} of ${JSON.stringify(accountId)}`)
}

const handleOAuth = provider.callback()
server.on('request', (req, res) => {
  const [path, query = ''] = (req.url ?? '/').split('?')
  if (path === '/' && (req.method === 'GET' || req.method === 'HEAD')) {
    res
      .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      .end(renderHomePage({ issuer, clients }))
  } else if (path.startsWith('/interaction/')) {
    handleInteraction(provider, req, res, path).catch((error) => {
      console.error(`interaction: ${error.message}`)
      if (!res.headersSent) res.writeHead(400, { 'content-type': 'text/plain' }).end(error.message)
    })
  } else if (path === '/api/me/listening-history') {
    serveListeningHistory(req, res).catch(() => send(res, 500, { error: 'server_error' }))
  } else if (path === '/__ongoing/revoke-grants' && req.method === 'POST') {
    const accountId = new URLSearchParams(query).get('accountId')
    if (!accountId) return send(res, 400, { error: 'accountId is required' })
    revokeGrantsOf(accountId).then(
      () => res.writeHead(204).end(),
      () => send(res, 500, { error: 'server_error' }),
    )
  } else {
    handleOAuth(req, res)
  }
})

/** The protected API: a bearer token (RFC 6750) issued by this server, with scope api:read. */
async function serveListeningHistory(req, res) {
  const [scheme, value] = (req.headers.authorization ?? '').split(' ')
  const token = scheme?.toLowerCase() === 'bearer' ? await provider.AccessToken.find(value) : undefined
  // find() refuses expired tokens; a revoked grant takes its tokens with it.
  const grant = token && (await provider.Grant.find(token.grantId))
  if (!token || !grant) {
    return send(res, 401, { error: 'invalid_token' }, 'Bearer error="invalid_token"')
  }
  if (!token.scopes.has('api:read')) {
    return send(
      res,
      403,
      { error: 'insufficient_scope' },
      'Bearer error="insufficient_scope", scope="api:read"',
    )
  }
  send(res, 200, listeningHistory(token.accountId))
}

function send(res, status, body, challenge) {
  const headers = { 'content-type': 'application/json', 'cache-control': 'no-store' }
  if (challenge) headers['www-authenticate'] = challenge
  res.writeHead(status, headers).end(JSON.stringify(body))
}

/** A fresh key per start: fine for a development server, which signs nothing that must last. */
function developmentSigningKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  return { ...privateKey.export({ format: 'jwk' }), kid: 'dev', alg: 'RS256', use: 'sig' }
}

const stop = () => server.close(() => process.exit(0)) && server.closeAllConnections()
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
console.log(`provider: ${issuer}  (access tokens live ${accessTokenTTL} s; log in as any name, any password)`)
