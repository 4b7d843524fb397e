import { OngoingAccess, type OngoingAccessOptions } from '@ongoing/core'
import { driveConsent, type TestAuthorizationServer } from '@ongoing/testing'

export const REDIRECT_URI = 'http://127.0.0.1:3999/auth/callback'
export const APP_SECRET = 'ongoing-tests-secret-ongoing-tests-secret'

/** What reached the token endpoint, read from a wrapping fetch (refresh tokens sent, in order). */
export interface TokenTraffic {
  refreshTokensSent: string[]
  refreshTokensReceived: string[]
  fetch: typeof fetch
}

export function recordTokenTraffic(as: TestAuthorizationServer): TokenTraffic {
  const traffic: TokenTraffic = {
    refreshTokensSent: [],
    refreshTokensReceived: [],
    fetch: async (input, init) => {
      const url = input instanceof Request ? input.url : String(input)
      if (url !== `${as.issuer}/token` || !(init?.body instanceof URLSearchParams)) return fetch(input, init)
      const sent = init.body.get('refresh_token')
      if (sent !== null) traffic.refreshTokensSent.push(sent)
      const response = await fetch(input, init)
      const body = (await response.clone().json()) as { refresh_token?: string }
      if (body.refresh_token !== undefined) traffic.refreshTokensReceived.push(body.refresh_token)
      return response
    },
  }
  return traffic
}

export function accessFor(
  as: TestAuthorizationServer,
  options: Partial<OngoingAccessOptions> = {},
): OngoingAccess {
  return new OngoingAccess({
    issuer: as.issuer,
    client: as.clients.confidential,
    redirectUri: REDIRECT_URI,
    scope: 'offline_access api:read',
    authorizationParams: { prompt: 'consent' },
    secret: APP_SECRET,
    refreshSkewSeconds: 0,
    ...options,
  })
}

/** Takes `userKey` through the AS's real login and consent pages, then finishes consent. */
export async function consentAs(access: OngoingAccess, userKey: string, login = userKey) {
  const started = await access.startConsent({ userKey, returnTo: '/after' })
  const callbackUrl = await driveConsent(started.url, { redirectUriPrefix: REDIRECT_URI, login })
  return access.finishConsent({ callbackUrl, transaction: started.transaction })
}

/** Makes every cached and stored access token of `access` look expired, without waiting. */
export function advanceClock(ms: number): () => void {
  const realNow = Date.now
  Date.now = () => realNow() + ms
  return () => {
    Date.now = realNow
  }
}

/** RFC 7662 introspection at the real server, as the confidential client: what it says of `token`. */
export async function introspection(
  as: TestAuthorizationServer,
  token: string,
): Promise<{ active: boolean; cnf?: { jkt?: string } } & Record<string, unknown>> {
  const { id, secret } = as.clients.confidential
  const response = await fetch(`${as.issuer}/token/introspection`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${btoa(`${id}:${secret}`)}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ token }),
  })
  return (await response.json()) as { active: boolean } & Record<string, unknown>
}

/** RFC 7662 introspection at the real server: is `token` active? */
export async function introspect(as: TestAuthorizationServer, token: string): Promise<boolean> {
  return (await introspection(as, token)).active
}
