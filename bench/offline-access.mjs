// An OngoingAccess that never reaches an authorization server (endpoints given, any token call an
// error), for the scripts that measure the hot path with restored grants. The tests have their own
// (OFFLINE_ACCESS_OPTIONS in test/adapters/parity.ts): a measured process loads no test code, and
// not @ongoing/testing either, whose index loads oidc-provider (a heap every collection walks).
import { OngoingAccess } from '@ongoing/core'

export const BENCH_SECRET = 'bench-secret-bench-secret-bench-secret-bench'

/** The options of {@link offlineAccess}, for what builds its own access (NestJS's forRoot). */
export function offlineAccessOptions(options = {}) {
  return {
    issuer: 'https://as.example',
    endpoints: { authorization: 'https://as.example/authorize', token: 'https://as.example/token' },
    client: { id: 'bench', secret: 'bench-client-secret' },
    redirectUri: 'https://app.example/auth/callback',
    scope: 'offline_access',
    secret: BENCH_SECRET,
    fetch: () => {
      throw new Error('no token call is expected on the hot path')
    },
    ...options,
  }
}

export function offlineAccess(options = {}) {
  return new OngoingAccess(offlineAccessOptions(options))
}

/** The user whose grant the hot-path scripts seed. */
export const BENCH_USER = 'bench-user'

/**
 * Seeds `access` with a grant for {@link BENCH_USER}, fresh for an hour (the hot path never calls
 * the AS), and gives the `Cookie` header that names it: the sealed user-key cookie the consent
 * routes would have set.
 */
export async function seedGrant(access) {
  await access.restore(BENCH_USER, {
    accessToken: 'bench-access-token',
    refreshToken: 'bench-rt',
    expiresIn: 3600,
  })
  return `ongoing.uid=${access.sealer.seal('user-key-cookie', BENCH_USER)}`
}
