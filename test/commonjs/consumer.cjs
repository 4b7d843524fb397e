// A CommonJS app, as a default `nest new` project compiles to.
const {
  OngoingAccess,
  MemoryTokenStore,
  OngoingAccessError,
  calculatePKCECodeChallenge,
} = require('@ongoing/core')

const access = new OngoingAccess({
  issuer: 'https://as.example',
  endpoints: { authorization: 'https://as.example/authorize', token: 'https://as.example/token' },
  client: { id: 'app', secret: 'secret' },
  redirectUri: 'https://app.example/auth/callback',
  scope: 'offline_access',
  secret: 'a-secret-of-at-least-thirty-two-characters',
  store: new MemoryTokenStore(),
})
access
  .startConsent({ userKey: 'u1' })
  .then(async ({ url }) => {
    const err = await access.getAccessToken('u1').catch((e) => e)
    process.stdout.write(
      JSON.stringify({
        host: url.host,
        challenge: calculatePKCECodeChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'),
        code: err.code,
        isError: err instanceof OngoingAccessError,
      }),
    )
  })
  .catch((err) => {
    console.error(err)
    process.exit(1)
  })
