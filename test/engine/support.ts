// Shared pieces of the engine regression tests (issue 17): the suite's strict test authorization
// server, a gateway in front of it that can forward a call and then lose its answer, store wrappers
// that delay, fail or shorten what they are asked, a clock that only moves forward, log capture,
// and the assertions the suites share.
import { createServer } from 'node:net'
import {
  type AccessToken,
  MemoryTokenStore,
  type OngoingAccess,
  type OngoingAccessOptions,
  type TokenStore,
  type TokenStoreEntry,
  type TokenStoreLock,
  type TokenStoreSetOptions,
} from '@ongoing/core'
import { startTestAuthorizationServer, type TestAuthorizationServer } from '@ongoing/testing'
import { afterAll, afterEach, beforeAll, expect } from 'vitest'
import {
  APP_SECRET,
  accessFor,
  advanceClock,
  consentAs,
  recordTokenTraffic,
  type TokenTraffic,
} from '../core/real-as.js'

export { errorText, expectNoLeak } from '../adversarial/harness.js'
export { APP_SECRET, accessFor, consentAs, introspect, REDIRECT_URI } from '../core/real-as.js'

export const FORM = 'application/x-www-form-urlencoded'
export const API = 'http://api.example.test'

/** A promise with its resolve function outside. */
export function deferred<T = void>() {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Resolves with `promise`, or with `fallback` after `ms`. */
export function within<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  return Promise.race([promise, sleep(ms).then(() => fallback)])
}

/** A promise's outcome, without throwing: the value or the error. */
export type Settled<T> = { value: T } | { error: unknown }

/** A promise's outcome, without throwing: the value or the error. */
export function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  )
}

/** A loopback port nobody listens on: a call to it is refused by the kernel (ECONNREFUSED). */
export async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** What a fault sees of a call, and how to send it on to the real server. */
export interface GatewayCall {
  url: URL
  body: URLSearchParams | undefined
  /** Sends the call to the real server and waits for its whole answer (never aborted by the caller). */
  forward(): Promise<Response>
}

export type Fault = (call: GatewayCall) => Response | Promise<Response>

/**
 * A gateway in front of the real authorization server, on the client's `fetch`: it can answer in
 * the server's place, forward a call and lose the answer (as a proxy that times out does), slow
 * discovery down, or refuse every connection (an outage). It counts what reached it and keeps every
 * secret it saw, for leak checks.
 */
export class Gateway {
  /** What reached the real token endpoint (refresh tokens sent and received), via `recordTokenTraffic`. */
  readonly traffic: TokenTraffic
  /** Token endpoint calls made by the client, faulted or not, by grant type. */
  readonly attempts = { refresh_token: 0, authorization_code: 0 }
  /** Every token value the gateway saw, for leak checks. */
  readonly secrets = new Set<string>([APP_SECRET])
  /** Token endpoint answers the real server gave, in order (including the ones a fault threw away). */
  readonly tokenAnswers: Array<Record<string, unknown>> = []
  /** Tokens sent to the revocation endpoint, in order. */
  readonly revoked: string[] = []
  /** Answers the next token endpoint calls, one each, first one first. */
  tokenFaults: Fault[] = []
  /** Answers every token endpoint call while set (after `tokenFaults` ran out). */
  tokenFault: Fault | undefined
  /** Answers every discovery call (`/.well-known/…`) while set. */
  discoveryFault: Fault | undefined
  /** Answers calls to {@link API} (a resource server). */
  api: ((request: Request) => Response | Promise<Response>) | undefined
  /** Every call to the authorization server is refused (nothing listens). */
  down = false
  #closedPort: number | undefined

  constructor(readonly as: TestAuthorizationServer) {
    this.traffic = recordTokenTraffic(as)
    this.secrets.add(as.clients.confidential.secret)
  }

  readonly fetch: typeof fetch = async (input, init) => {
    if (input instanceof Request && input.url.startsWith(API)) {
      if (this.api === undefined) return new Response('no api', { status: 404 })
      return this.api(input)
    }
    const url = new URL(input instanceof Request ? input.url : String(input))
    const body = init?.body instanceof URLSearchParams ? init.body : undefined
    for (const name of ['code', 'code_verifier', 'refresh_token', 'token', 'client_secret']) {
      const value = body?.get(name)
      if (value) this.secrets.add(value)
    }
    if (this.down) return this.refused()
    const isToken = url.pathname === '/token'
    const call: GatewayCall = {
      url,
      body,
      forward: () => this.#forward(input, init, isToken),
    }
    if (url.pathname.startsWith('/.well-known/') && this.discoveryFault !== undefined)
      return this.discoveryFault(call)
    if (url.pathname === '/token/revocation' && body !== undefined) this.revoked.push(body.get('token') ?? '')
    if (isToken) {
      const grantType = body?.get('grant_type')
      if (grantType === 'refresh_token' || grantType === 'authorization_code') this.attempts[grantType]++
      const fault = this.tokenFaults.shift() ?? this.tokenFault
      if (fault !== undefined) return fault(call)
    }
    return this.#forward(input, init, isToken)
  }

  /** What a connection to a port nobody listens on gives: undici's `TypeError: fetch failed` (ECONNREFUSED). */
  async refused(): Promise<Response> {
    this.#closedPort ??= await closedPort()
    return fetch(`http://127.0.0.1:${this.#closedPort}/`, { method: 'POST' })
  }

  async #forward(input: string | URL | Request, init: RequestInit | undefined, isToken: boolean) {
    // A gateway that already sent the call upstream lets it finish, whatever the client does.
    const { signal: _ignored, ...rest } = init ?? {}
    const response = isToken ? await this.traffic.fetch(input, rest) : await fetch(input, rest)
    if (isToken && response.headers.get('content-type')?.includes('json')) {
      const answer = (await response.clone().json()) as Record<string, unknown>
      this.tokenAnswers.push(answer)
      for (const name of ['access_token', 'refresh_token', 'id_token'])
        if (typeof answer[name] === 'string') this.secrets.add(answer[name] as string)
    }
    return response
  }
}

/** The server processes the call; the gateway throws its answer away and answers `status` (a 502/504). */
export const processedThenStatus =
  (status: number): Fault =>
  async ({ forward }) => {
    const real = await forward()
    await real.arrayBuffer()
    return new Response(`upstream answer lost (${status})`, { status })
  }

/** The server processes the call; its answer never comes back (the client's timeout fires). */
export const processedThenSilence: Fault = async ({ forward }) => {
  const real = await forward()
  await real.arrayBuffer()
  return new Promise<Response>(() => {})
}

/** The gateway answers `status` without sending the call on (the server never saw it). */
export const unprocessedStatus =
  (status: number, headers: Record<string, string> = {}): Fault =>
  () =>
    new Response(JSON.stringify({ error: 'temporarily_unavailable' }), {
      status,
      headers: { 'content-type': 'application/json', ...headers },
    })

/** The server processes the call at once; its answer reaches the client after `ms`. */
export const processedThenDelay =
  (ms: number, onForwarded?: () => void): Fault =>
  async ({ forward }) => {
    const real = await forward()
    onForwarded?.()
    await sleep(ms)
    return real
  }

/** The call waits `ms` before it is sent on. */
export const delayed =
  (ms: number): Fault =>
  async ({ forward }) => {
    await sleep(ms)
    return forward()
  }

/** Never answers. */
export const silence: Fault = () => new Promise<Response>(() => {})

/** A store over a shared `MemoryTokenStore`, each call open to a hook (delay, fail, shorten). */
export interface StoreHooks {
  get?(key: string, read: () => Promise<TokenStoreEntry | undefined>): Promise<TokenStoreEntry | undefined>
  set?(
    key: string,
    value: string,
    options: TokenStoreSetOptions,
    write: () => Promise<number | undefined>,
  ): Promise<number | undefined>
  acquireLock?(
    key: string,
    ttlMs: number,
    acquire: (ttlMs: number) => Promise<TokenStoreLock | undefined>,
  ): Promise<TokenStoreLock | undefined>
}

export function hookedStore(inner: MemoryTokenStore, hooks: StoreHooks = {}): TokenStore {
  return {
    get: (key) => (hooks.get === undefined ? inner.get(key) : hooks.get(key, () => inner.get(key))),
    set: (key, value, options) =>
      hooks.set === undefined
        ? inner.set(key, value, options)
        : hooks.set(key, value, options, () => inner.set(key, value, options)),
    delete: (key, version) => inner.delete(key, version),
    acquireLock: (key, ttlMs) =>
      hooks.acquireLock === undefined
        ? inner.acquireLock(key, ttlMs)
        : hooks.acquireLock(key, ttlMs, (ms) => inner.acquireLock(key, ms)),
    subscribe: (listener) => inner.subscribe(listener),
    claimOnce: (id, ttlMs) => inner.claimOnce(id, ttlMs),
  }
}

/** Log lines of an `OngoingAccess` (for leak checks). */
export function captureLogs() {
  const lines: string[] = []
  const logger: NonNullable<OngoingAccessOptions['logger']> = (level, message, fields) => {
    lines.push(`${level} ${message} ${JSON.stringify(fields)}`)
  }
  return { lines, logger }
}

/** Moves `Date.now` forward (for the client, its store and the server alike); `reset` undoes every move. */
export function testClock() {
  const undo: Array<() => void> = []
  return {
    advance(ms: number) {
      undo.push(advanceClock(ms))
    },
    reset() {
      for (let restore = undo.pop(); restore !== undefined; restore = undo.pop()) restore()
    },
  }
}

/** A client of the real server through `gateway`, with the test defaults of `accessFor`. */
export function accessThrough(gateway: Gateway, options: Partial<OngoingAccessOptions> = {}): OngoingAccess {
  return accessFor(gateway.as, { fetch: gateway.fetch, ...options })
}

/** A fresh shared store for the instances of one test. */
export const sharedStore = () => new MemoryTokenStore()

/** Asserts that a settled call did not fail (the error is shown if it did). */
export function expectNoError(outcome: Settled<unknown>): void {
  expect('error' in outcome ? outcome.error : undefined).toBeUndefined()
}

/** Asserts that the server saw one refresh token call since its stats were reset, no reuse and no revoked grant. */
export function expectOneCleanRefresh(as: TestAuthorizationServer): void {
  expect(as.stats()).toMatchObject({
    tokenCalls: { refresh_token: 1 },
    refreshTokenReuse: 0,
    grantsRevoked: 0,
  })
}

/** The `refreshError` events `access` emits from now on. */
export function refreshErrors(access: OngoingAccess) {
  const events: Array<{ error: unknown; nextAttemptAt?: number }> = []
  access.on('refreshError', (event) => events.push(event))
  return events
}

/** `a` asks for `userKey`'s token, then, once `bStarts` has resolved, `b` does too: both outcomes. */
export async function bothAsk(
  a: OngoingAccess,
  b: OngoingAccess,
  userKey: string,
  bStarts: Promise<unknown>,
): Promise<[Settled<AccessToken>, Settled<AccessToken>]> {
  const fromA = settle(a.getAccessToken(userKey))
  await bStarts
  const fromB = settle(b.getAccessToken(userKey))
  return Promise.all([fromA, fromB])
}

/**
 * A test authorization server (strict rotation) for the suite of the calling `describe`: started
 * before its tests and closed after them; the test clock is reset after each test.
 */
export function useStrictServer({ accessTokenTTLSeconds = 60 } = {}) {
  let started: TestAuthorizationServer | undefined
  const clock = testClock()
  beforeAll(async () => {
    started = await startTestAuthorizationServer({ accessTokenTTLSeconds })
  })
  afterEach(() => clock.reset())
  afterAll(async () => {
    await started?.close()
  })
  const server = {
    clock,
    /** The running server (inside a test or hook). */
    get as(): TestAuthorizationServer {
      if (started === undefined) throw new Error('the test authorization server is not running')
      return started
    },
    /** Moves the clock just past the lifetime of an access token issued now. */
    expire() {
      clock.advance(accessTokenTTLSeconds * 1_000 + 1_000)
    },
    /** A client through a fresh gateway, after `userKey`'s consent. */
    async consented(userKey: string, options: Partial<OngoingAccessOptions> = {}) {
      const gateway = new Gateway(server.as)
      const access = accessThrough(gateway, options)
      const { token } = await consentAs(access, userKey)
      return { gateway, access, token }
    },
  }
  return server
}
