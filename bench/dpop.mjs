// What DPoP (RFC 9449) costs per API call: `access.fetch` with a DPoP-bound token (a fresh ES256
// proof, with `ath`, signed for every request) next to the same call with a bearer token. The
// grants come from a real consent at the test authorization server; the API is a `fetch` that
// answers at once, so what is measured is the client's own work. Never prints token material.
//
//   pnpm build && node bench/dpop.mjs      (BENCH_JSON=1 also prints the result as JSON)
import { OngoingAccess } from '@ongoing/core'
import { driveConsent, startTestAuthorizationServer } from '@ongoing/testing'
import { median } from './stats.mjs'

const CALLS = 5_000
const ROUNDS = 5
const API = 'http://api.bench.test/me/history'
const REDIRECT_URI = 'http://127.0.0.1:3999/auth/callback'

const as = await startTestAuthorizationServer({ accessTokenTTLSeconds: 3_600 })
// The API answers at once; every other call goes to the test authorization server.
const fetchImpl = (input, init) =>
  (input instanceof Request ? input.url : String(input)).startsWith(API)
    ? Promise.resolve(new Response('{}', { status: 200 }))
    : fetch(input, init)

async function accessWith(dpop) {
  const access = new OngoingAccess({
    issuer: as.issuer,
    client: as.clients.confidential,
    redirectUri: REDIRECT_URI,
    scope: 'offline_access api:read',
    authorizationParams: { prompt: 'consent' },
    secret: 'ongoing-bench-secret-ongoing-bench-secret',
    fetch: fetchImpl,
    dpop,
  })
  const started = await access.startConsent({ userKey: 'bench', returnTo: '/' })
  const callbackUrl = await driveConsent(started.url, { redirectUriPrefix: REDIRECT_URI, login: 'bench' })
  await access.finishConsent({ callbackUrl, transaction: started.transaction })
  return access
}

async function perCallMicros(access) {
  const rounds = []
  for (let round = 0; round < ROUNDS; round++) {
    const started = performance.now()
    for (let i = 0; i < CALLS; i++) {
      const response = await access.fetch('bench', API)
      await response.body?.cancel()
    }
    rounds.push(((performance.now() - started) * 1000) / CALLS)
  }
  return median(rounds)
}

try {
  const bearer = await accessWith(false)
  const dpop = await accessWith(true)
  // Warm up both (the first proof imports jose and the key).
  await perCallMicros(bearer)
  await perCallMicros(dpop)
  const result = {
    bearerFetchMicros: Math.round(await perCallMicros(bearer)),
    dpopFetchMicros: Math.round(await perCallMicros(dpop)),
  }
  result.proofMicros = result.dpopFetchMicros - result.bearerFetchMicros
  console.log(
    `access.fetch, bearer: ${result.bearerFetchMicros} µs per call (median of ${ROUNDS} rounds of ${CALLS})`,
  )
  console.log(`access.fetch, DPoP:   ${result.dpopFetchMicros} µs per call`)
  console.log(`one proof (ES256, with ath): about ${result.proofMicros} µs`)
  if (process.env.BENCH_JSON === '1') console.log(JSON.stringify(result))
  bearer.close()
  dpop.close()
} finally {
  await as.close()
}
