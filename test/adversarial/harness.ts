import { MemoryTokenStore, OngoingAccess, type OngoingAccessOptions, type TokenStore } from '@ongoing/core'
import { driveConsent, startTestAuthorizationServer, type TestAuthorizationServer } from '@ongoing/testing'
import { expect } from 'vitest'

export const APP_SECRET = 'adversarial-suite-secret-adversarial-suite'
export const REDIRECT_URI = 'http://127.0.0.1:3999/auth/callback'

/**
 * A scenario for adversarial cases: a real authorization server (its counters say how many calls
 * reached it), a store whose every record can be snapshotted, and every log line and error message
 * captured, so a case can assert that nothing changed and nothing leaked.
 */
export interface Scenario {
  as: TestAuthorizationServer
  access: OngoingAccess
  store: SnapshotStore
  logs: string[]
  /** Every secret value seen so far (tokens, codes, verifiers, transactions, client secret). */
  secrets: Set<string>
  /** Faults answered instead of the token endpoint, first one first; the real server when empty. */
  tokenFaults: Array<() => Response | Promise<Response>>
  /** Calls made to the token endpoint, faulted or real. */
  tokenAttempts: number
  /**
   * Faults of the pushed authorization request endpoint (RFC 9126), first one first: each gets the
   * call through to the real server, to answer instead, rewrite, or hold.
   */
  pushFaults: Array<(real: () => Promise<Response>) => Response | Promise<Response>>
  /** Pushed authorization requests made, faulted or real. */
  pushAttempts: number
  /** Consents `userKey` through the real pages; returns the result and records its secrets. */
  consent(userKey: string): Promise<void>
  close(): Promise<void>
}

/** A MemoryTokenStore that can list and snapshot what it holds. */
export class SnapshotStore extends MemoryTokenStore implements TokenStore {
  readonly keys = new Set<string>()
  override async set(...args: Parameters<MemoryTokenStore['set']>) {
    this.keys.add(args[0])
    return super.set(...args)
  }
  async snapshot(): Promise<Record<string, string | undefined>> {
    const out: Record<string, string | undefined> = {}
    for (const key of this.keys) out[key] = (await this.get(key))?.value
    return out
  }
}

export async function startScenario(
  options: Partial<OngoingAccessOptions> = {},
  asOptions: Parameters<typeof startTestAuthorizationServer>[0] = {},
): Promise<Scenario> {
  const as = await startTestAuthorizationServer({ accessTokenTTLSeconds: 60, ...asOptions })
  const store = new SnapshotStore()
  const logs: string[] = []
  const secrets = new Set<string>([APP_SECRET, as.clients.confidential.secret])
  const scenario = {
    tokenFaults: [],
    tokenAttempts: 0,
    pushFaults: [],
    pushAttempts: 0,
  } as unknown as Scenario
  const recordSecrets: typeof fetch = async (input, init) => {
    if (String(input).endsWith('/token')) {
      scenario.tokenAttempts++
      const fault = scenario.tokenFaults.shift()
      if (fault !== undefined) return fault()
    }
    if (init?.body instanceof URLSearchParams) {
      for (const name of [
        'code',
        'code_verifier',
        'refresh_token',
        'client_assertion',
        'client_secret',
        'token',
      ]) {
        const value = init.body.get(name)
        if (value) secrets.add(value)
      }
    }
    if (String(input).endsWith('/request')) {
      scenario.pushAttempts++
      const fault = scenario.pushFaults.shift()
      if (fault !== undefined) return fault(() => fetch(input, init))
    }
    const response = await fetch(input, init)
    if (String(input).endsWith('/token') && response.headers.get('content-type')?.includes('json')) {
      const body = (await response.clone().json()) as Record<string, unknown>
      for (const name of ['access_token', 'refresh_token', 'id_token'])
        if (typeof body[name] === 'string') secrets.add(body[name] as string)
    }
    return response
  }
  const access = new OngoingAccess({
    issuer: as.issuer,
    client: as.clients.confidential,
    redirectUri: REDIRECT_URI,
    scope: 'offline_access api:read',
    secret: APP_SECRET,
    store,
    fetch: recordSecrets,
    logger: (level, message, fields) => logs.push(`${level} ${message} ${JSON.stringify(fields)}`),
    retry: { baseDelayMs: 1, maxDelayMs: 5 },
    ...options,
  })
  return Object.assign(scenario, {
    as,
    access,
    store,
    logs,
    secrets,
    async consent(userKey: string) {
      const started = await access.startConsent({ userKey })
      secrets.add(started.codeVerifier)
      secrets.add(started.transaction)
      const callbackUrl = await driveConsent(started.url, { redirectUriPrefix: REDIRECT_URI, login: userKey })
      await access.finishConsent({ callbackUrl, transaction: started.transaction })
    },
    close: () => as.close(),
  })
}

/** Asserts that no secret appears in any of `texts` (logs, error messages, URLs, bodies). */
export function expectNoLeak(secrets: Iterable<string>, ...texts: Array<string | undefined>): void {
  const haystack = texts.filter((t): t is string => t !== undefined).join('\n')
  for (const secret of secrets) {
    if (secret.length >= 8)
      expect(haystack.includes(secret), `leaked a secret of length ${secret.length}`).toBe(false)
  }
}

/** Text of an error for leak checks: message, name, code and causes. */
export function errorText(err: unknown): string {
  const parts: string[] = []
  let current: unknown = err
  for (let depth = 0; current !== undefined && depth < 5; depth++) {
    if (current instanceof Error) {
      parts.push(current.name, current.message, JSON.stringify(current))
      current = current.cause
    } else {
      parts.push(String(current))
      break
    }
  }
  return parts.join('\n')
}

export { driveConsent }
