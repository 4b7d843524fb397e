import { OngoingAccess, type OngoingAccessOptions } from '../src/index.js'

/** A scripted authorization server behind an intercepting `fetch`: for malformed answers and faults. */
export interface FakeAS {
  fetch: typeof fetch
  /** Token endpoint calls so far, by grant type. */
  calls: { authorization_code: number; refresh_token: number; revocation: number; jwks: number }
  /** The JWKS the fake serves at /jwks (advertised in metadata as jwks_uri). */
  jwks: { keys: unknown[] }
  /** Form bodies the token endpoint received (for assertions about what was sent). */
  bodies: URLSearchParams[]
  /** Answers the next token endpoint calls, in order; the last one repeats. */
  answer(...handlers: TokenHandler[]): void
  /** Members added to (or, `undefined`, removed from) the discovery document. */
  metadata: Record<string, unknown>
}

export type TokenHandler = (body: URLSearchParams) => Response | Promise<Response>

export const ISSUER = 'https://as.test'
export const SECRET = 'a-test-secret-that-is-long-enough-1234567890'

export function json(value: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  })
}

let counter = 0
export function tokens(extra: Record<string, unknown> = {}): Record<string, unknown> {
  counter++
  return {
    access_token: `at-${counter}`,
    token_type: 'Bearer',
    expires_in: 3600,
    refresh_token: `rt-${counter}`,
    ...extra,
  }
}

export function createFakeAS(): FakeAS {
  let handlers: TokenHandler[] = [() => json(tokens())]
  const fake: FakeAS = {
    calls: { authorization_code: 0, refresh_token: 0, revocation: 0, jwks: 0 },
    jwks: { keys: [] },
    bodies: [],
    metadata: {},
    answer(...next) {
      handlers = next
    },
    fetch: async (input, init) => {
      const request = new Request(input, init)
      const url = new URL(request.url)
      if (url.pathname === '/.well-known/oauth-authorization-server') {
        return json({
          issuer: ISSUER,
          authorization_endpoint: `${ISSUER}/authorize`,
          token_endpoint: `${ISSUER}/token`,
          revocation_endpoint: `${ISSUER}/revoke`,
          jwks_uri: `${ISSUER}/jwks`,
          authorization_response_iss_parameter_supported: true,
          ...fake.metadata,
        })
      }
      if (url.pathname === '/jwks') {
        fake.calls.jwks++
        return json(fake.jwks)
      }
      if (url.pathname === '/revoke') {
        fake.calls.revocation++
        return new Response(null, { status: 200 })
      }
      if (url.pathname === '/token') {
        const body = new URLSearchParams(await request.text())
        fake.bodies.push(body)
        const grantType = body.get('grant_type') as 'authorization_code' | 'refresh_token'
        fake.calls[grantType]++
        const handler = handlers.length > 1 ? handlers.shift()! : handlers[0]!
        return handler(body)
      }
      return new Response('not found', { status: 404 })
    },
  }
  return fake
}

export function createAccess(fake: FakeAS, options: Partial<OngoingAccessOptions> = {}): OngoingAccess {
  return new OngoingAccess({
    issuer: ISSUER,
    client: { id: 'app', secret: 'app-secret' },
    redirectUri: 'https://app.test/auth/callback',
    scope: 'offline_access api:read',
    secret: SECRET,
    fetch: fake.fetch,
    retry: { baseDelayMs: 1, maxDelayMs: 5 },
    ...options,
  })
}

/** Runs a consent through the fake AS and returns the stored user key. */
export async function consent(access: OngoingAccess, userKey = 'alice'): Promise<void> {
  const { transaction, state } = await access.startConsent({ userKey })
  await access.finishConsent({
    callbackUrl: `https://app.test/auth/callback?code=c&state=${state}&iss=${encodeURIComponent(ISSUER)}`,
    transaction,
  })
}
