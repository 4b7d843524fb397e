// Helpers of the digi.me profile's tests: an OngoingAccess on the local digi.me server, a fetch that
// records every exchange (the request JWT's claims, the token answers' payloads, decoded without
// verification: the tests' own view of the wire), and checks that errors carry no token material.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  type FinishConsentResult,
  OngoingAccess,
  type OngoingAccessOptions,
  type StartConsentResult,
} from '@ongoing/core'
import { type DigiMeServer, type DigiMeServerStats, driveDigiMeConsent } from '@ongoing/testing'
import { decodeJwt } from 'jose'
import { expect } from 'vitest'
import { type DigiMeOptions, digiMe } from '../src/index.js'

export const REDIRECT_URI = 'http://127.0.0.1:3000/auth/callback'
export const SECRET = 'digime-test-secret-0123456789abcdef0123456789'
export const AGENT = { sdk: { name: 'genrefy-test', version: '1.0.0' } }

/** One HTTP exchange as the recording fetch saw it. */
export interface Exchange {
  method: string
  /** The path relative to the server's origin, query included. */
  path: string
  /** The request JWT's claims, when the request carried one. */
  claims: Record<string, unknown> | undefined
  status: number
  /** The decoded payload of a `{"token": "<JWS>"}` answer. */
  payload: Record<string, unknown> | undefined
}

/** A function that may replace one answer: return a Response to use it instead. */
export type Rewrite = (exchange: Exchange, body: string) => Response | undefined

/**
 * A `fetch` for `OngoingAccess` that records every exchange and every secret it saw go by (tokens,
 * codes, nonces), and can replace the next answer of a path (`rewriteNext`).
 */
export class Recorder {
  readonly exchanges: Exchange[] = []
  /** Every token, code and verifier seen: none may appear in an error. */
  readonly secrets = new Set<string>()
  readonly nonces: string[] = []
  #rewrites: Array<{ path: RegExp; rewrite: Rewrite }> = []

  readonly fetch: typeof fetch = async (input, init) => {
    const request = new Request(input, init)
    const authorization = request.headers.get('authorization')
    const claims = authorization?.startsWith('Bearer ') ? decodeJwt(authorization.slice(7)) : undefined
    if (claims !== undefined) {
      this.nonces.push(String(claims.nonce))
      for (const name of ['access_token', 'refresh_token', 'code', 'code_verifier'])
        if (typeof claims[name] === 'string') this.secrets.add(claims[name] as string)
    }
    const response = await globalThis.fetch(request)
    const body = await response.text()
    const url = new URL(request.url)
    const exchange: Exchange = {
      method: request.method,
      path: url.pathname + url.search,
      claims,
      status: response.status,
      payload: undefined,
    }
    try {
      const token = (JSON.parse(body) as { token?: unknown }).token
      if (typeof token === 'string') exchange.payload = decodeJwt(token)
    } catch {}
    this.#collect(exchange.payload)
    this.exchanges.push(exchange)
    const index = this.#rewrites.findIndex((entry) => entry.path.test(exchange.path))
    if (index >= 0) {
      const [entry] = this.#rewrites.splice(index, 1)
      const replaced = entry!.rewrite(exchange, body)
      if (replaced !== undefined) return replaced
    }
    return new Response(body === '' ? null : body, { status: response.status, headers: response.headers })
  }

  /** Replaces the next answer of a request whose path matches. */
  rewriteNext(path: RegExp, rewrite: Rewrite): void {
    this.#rewrites.push({ path, rewrite })
  }

  /** The exchanges since `mark` (a length of `exchanges`) whose path matches. */
  since(mark: number, path?: RegExp): Exchange[] {
    return this.exchanges.slice(mark).filter((exchange) => path === undefined || path.test(exchange.path))
  }

  /** The payload of the last token answer. */
  lastTokens(): { access: string; refresh: string; accessExpiresOn: number; refreshExpiresOn: number } {
    const payload = [...this.exchanges].reverse().find((e) => e.payload?.access_token !== undefined)?.payload
    const access = payload?.access_token as { value: string; expires_on: number }
    const refresh = payload?.refresh_token as { value: string; expires_on: number }
    return {
      access: access.value,
      refresh: refresh.value,
      accessExpiresOn: access.expires_on,
      refreshExpiresOn: refresh.expires_on,
    }
  }

  #collect(payload: Record<string, unknown> | undefined): void {
    if (payload === undefined) return
    for (const name of ['access_token', 'refresh_token']) {
      const value = payload[name]
      if (typeof value === 'string') this.secrets.add(value)
      else if (typeof (value as { value?: unknown } | undefined)?.value === 'string')
        this.secrets.add((value as { value: string }).value)
    }
    if (typeof payload.preauthorization_code === 'string') this.secrets.add(payload.preauthorization_code)
  }
}

/** The profile options for the local server. */
export function digiMeOptionsFor(
  server: DigiMeServer,
  overrides: Partial<DigiMeOptions> = {},
): DigiMeOptions {
  return {
    applicationId: server.contract.applicationId,
    contractId: server.contract.contractId,
    privateKey: server.contract.privateKeyPem!,
    baseUrl: server.baseUrl,
    consentUrl: server.consentUrl,
    keySetUrl: server.keySetUrl,
    ...overrides,
  }
}

/** An OngoingAccess on the local server, with a recording fetch. */
export function createAccess(
  server: DigiMeServer,
  options: {
    profile?: Partial<DigiMeOptions>
    access?: Partial<OngoingAccessOptions>
    recorder?: Recorder
  } = {},
): { access: OngoingAccess; recorder: Recorder } {
  const recorder = options.recorder ?? new Recorder()
  const access = new OngoingAccess({
    profile: digiMe(digiMeOptionsFor(server, options.profile)),
    redirectUri: REDIRECT_URI,
    secret: SECRET,
    logger: false,
    fetch: recorder.fetch,
    ...options.access,
  })
  return { access, recorder }
}

/** Starts a consent, plays the user at the consent web client, and returns the callback URL. */
export async function consentAt(
  access: OngoingAccess,
  recorder: Recorder,
  userKey: string,
  options: { userId?: string; scope?: string } = {},
): Promise<{ started: StartConsentResult; callback: URL }> {
  const started = await access.startConsent({
    userKey,
    ...(options.scope === undefined ? {} : { scope: options.scope }),
  })
  recorder.secrets.add(started.codeVerifier)
  const callback = await driveDigiMeConsent(
    started.url,
    options.userId === undefined ? {} : { userId: options.userId },
  )
  const code = callback.searchParams.get('code')
  if (code !== null) recorder.secrets.add(code)
  return { started, callback }
}

/** A whole consent, as `userId` at digi.me: the grant is stored under `userKey`. */
export async function consent(
  access: OngoingAccess,
  recorder: Recorder,
  userKey: string,
  options: { userId?: string; scope?: string } = {},
): Promise<FinishConsentResult> {
  const { started, callback } = await consentAt(access, recorder, userKey, options)
  return access.finishConsent({ callbackUrl: callback, transaction: started.transaction })
}

/** What `fn` rejects with (it must reject). */
export async function rejection(fn: () => Promise<unknown>): Promise<Error & Record<string, unknown>> {
  const result = await fn().then(
    () => undefined,
    (err: unknown) => err as Error & Record<string, unknown>,
  )
  if (result === undefined) throw new Error('expected a rejection')
  return result
}

/** Asserts that an error (and its description) quotes none of the secrets seen. */
export function expectNoSecrets(err: unknown, secrets: Iterable<string>): void {
  const e = err as { message?: unknown; oauthErrorDescription?: unknown; stack?: unknown }
  const texts = [String(e.message), String(e.oauthErrorDescription ?? ''), String(e.stack ?? '')]
  for (const secret of secrets) {
    for (const text of texts) expect(text.includes(secret), 'an error quotes token material').toBe(false)
  }
}

/** The counters that changed between two snapshots (numbers only, nested one level). */
export function statsDelta(before: DigiMeServerStats, after: DigiMeServerStats) {
  const sub = <T extends Record<string, number>>(a: T, b: T): T =>
    Object.fromEntries(Object.keys(b).map((k) => [k, (b[k] ?? 0) - (a[k] ?? 0)])) as T
  return {
    preAuthorizations: after.preAuthorizations - before.preAuthorizations,
    tokenCalls: sub(before.tokenCalls, after.tokenCalls),
    dataCalls: sub(before.dataCalls, after.dataCalls),
    consents: sub(before.consents, after.consents),
    keySetFetches: after.keySetFetches - before.keySetFetches,
    verifiedJwts: after.verifiedJwts - before.verifiedJwts,
    unverifiedJwts: after.unverifiedJwts - before.unverifiedJwts,
    duplicateNonces: after.duplicateNonces - before.duplicateNonces,
    forgedResponses: after.forgedResponses - before.forgedResponses,
    grantsRevoked: after.grantsRevoked - before.grantsRevoked,
    refreshTokenReuse: after.refreshTokenReuse - before.refreshTokenReuse,
  }
}

/** A loopback HTTP server that serves one JSON document at any path and counts its requests. */
export async function startJSONServer(document: unknown): Promise<{
  url: string
  requests: () => number
  close: () => Promise<void>
}> {
  let requests = 0
  const server = createServer((_req, res) => {
    requests++
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify(document))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

/** The body of a data session trigger. */
export function triggerInit(): RequestInit {
  return {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ agent: AGENT }),
  }
}
