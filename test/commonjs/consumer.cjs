// A CommonJS app, as a default `nest new` project compiles to.
const { generateKeyPairSync } = require('node:crypto')
const { OngoingAccess, MemoryTokenStore, OngoingAccessError } = require('@ongoing/core')
const { calculatePKCECodeChallenge, OngoingRoutes } = require('@ongoing/core/adapter')

const access = new OngoingAccess({
  issuer: 'https://as.example',
  endpoints: { authorization: 'https://as.example/authorize', token: 'https://as.example/token' },
  client: { id: 'app', secret: 'secret' },
  redirectUri: 'https://app.example/auth/callback',
  scope: 'offline_access',
  secret: 'a-secret-of-at-least-thirty-two-characters',
  store: new MemoryTokenStore(),
})

// private_key_jwt loads `jose` on first use, by import() from this CommonJS build: the token
// request it signs is captured by a fetch that answers as a token endpoint would.
const seen = []
const signing = new OngoingAccess({
  issuer: 'https://as.example',
  endpoints: { authorization: 'https://as.example/authorize', token: 'https://as.example/token' },
  client: {
    id: 'app',
    privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }),
  },
  redirectUri: 'https://app.example/auth/callback',
  scope: 'offline_access',
  secret: 'a-secret-of-at-least-thirty-two-characters',
  fetch: async (_url, init) => {
    seen.push(new URLSearchParams(String(init.body)))
    return Response.json({
      access_token: 'at-2',
      token_type: 'Bearer',
      expires_in: 3600,
      refresh_token: 'rt-2',
    })
  },
})

access
  .startConsent({ userKey: 'u1' })
  .then(async ({ url }) => {
    const err = await access.getAccessToken('u1').catch((e) => e)
    await signing.restore('u2', { accessToken: 'at-1', refreshToken: 'rt-1', expiresIn: 0 })
    const token = await signing.getAccessToken('u2')
    const assertion = seen[0]?.get('client_assertion') ?? ''
    // The adapter entry shares the main entry's classes: its routes take this access, and know
    // the ConsentRequiredError it throws for a user with no grant (a 401, not an exception).
    const routes = new OngoingRoutes(access)
    const refreshed = await routes.refresh(
      {
        method: 'POST',
        url: '/auth/refresh',
        header: (name) => (name === 'origin' ? 'https://app.example' : undefined),
      },
      'u1',
    )
    process.stdout.write(
      JSON.stringify({
        host: url.host,
        challenge: calculatePKCECodeChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'),
        code: err.code,
        isError: err instanceof OngoingAccessError,
        refreshed: token.refreshed,
        assertionHeader: JSON.parse(Buffer.from(assertion.split('.')[0], 'base64url').toString()).alg,
        routesAnswer: [refreshed.status, refreshed.json.error],
      }),
    )
  })
  .catch((err) => {
    console.error(err)
    process.exit(1)
  })
