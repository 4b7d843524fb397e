// DPoP (RFC 9449) against the real oidc-provider, with its own `features.dPoP`, and a resource
// server that checks proofs as §7 says: keys per grant, bound tokens, nonces, replay, at rest.

import {
  MemoryTokenStore,
  type OngoingAccess,
  OngoingAccessError,
  type OngoingAccessOptions,
} from '@ongoing/core'
import {
  type DPoPResourceServer,
  type DPoPTokenInfo,
  driveConsent,
  startDPoPResourceServer,
  startTestAuthorizationServer,
  type TestAuthorizationServer,
} from '@ongoing/testing'
import {
  calculateJwkThumbprint,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  type JWK,
  SignJWT,
} from 'jose'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { accessFor, advanceClock, consentAs, introspection, REDIRECT_URI } from './real-as.js'

/** RFC 7662 introspection at the real server, as the confidential client. */
const introspect = (as: TestAuthorizationServer, token: string) =>
  introspection(as, token) as Promise<DPoPTokenInfo & Record<string, unknown>>

/** A fetch that records every DPoP proof sent (and where), and every request's target. */
function recordProofs(inner: typeof fetch = fetch) {
  const proofs: { url: string; proof: string; authorization: string | null }[] = []
  const pushes: URLSearchParams[] = []
  const wrapped: typeof fetch = (input, init) => {
    const request = input instanceof Request ? input : undefined
    const url = request?.url ?? String(input)
    const headers = new Headers(request?.headers ?? init?.headers)
    const proof = headers.get('dpop')
    if (proof !== null) proofs.push({ url, proof, authorization: headers.get('authorization') })
    if (url.endsWith('/request') && init?.body instanceof URLSearchParams)
      pushes.push(new URLSearchParams(init.body))
    return inner(input, init)
  }
  return { proofs, pushes, fetch: wrapped }
}

async function thumbprintOf(proof: string): Promise<string> {
  return calculateJwkThumbprint(decodeProtectedHeader(proof).jwk as JWK, 'sha256')
}

async function rejection(promise: Promise<unknown>): Promise<OngoingAccessError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(OngoingAccessError)
  return err as OngoingAccessError
}

/** The grant's private key, read the way only the app can: opening the sealed record. */
async function storedKeyOf(
  access: OngoingAccess,
  store: MemoryTokenStore,
): Promise<{ key: JWK; values: string[] }> {
  const { keys } = await store.list('', { cursor: undefined, limit: 100 })
  const values: string[] = []
  let key: JWK | undefined
  for (const storeKey of keys) {
    const entry = await store.get(storeKey)
    if (entry === undefined) continue
    values.push(entry.value)
    const json = access.sealer.open('token-store', entry.value, storeKey)
    if (json !== undefined) key = (JSON.parse(json) as { dk?: { jwk: JWK } }).dk?.jwk
  }
  if (key === undefined) throw new Error('no stored key')
  return { key, values }
}

describe('DPoP with the real authorization server (RFC 9449)', () => {
  let as: TestAuthorizationServer
  let rs: DPoPResourceServer
  const opened: OngoingAccess[] = []

  beforeAll(async () => {
    as = await startTestAuthorizationServer({
      accessTokenTTLSeconds: 600,
      rotateRefreshToken: true,
      pushedAuthorizationRequests: 'required',
    })
    rs = await startDPoPResourceServer({ introspect: (token) => introspect(as, token) })
  })
  afterEach(() => {
    for (const access of opened.splice(0)) access.close()
  })
  afterAll(async () => {
    await rs?.close()
    await as?.close()
  })

  function dpopAccess(options: Partial<OngoingAccessOptions> = {}): OngoingAccess {
    const access = accessFor(as, { dpop: true, ...options })
    opened.push(access)
    return access
  }

  it('binds the code and every access token to the key made at consent (dpop_jkt); the key is kept with the grant through refresh, the API call and revocation', async () => {
    const traffic = recordProofs()
    const store = new MemoryTokenStore()
    const access = dpopAccess({ fetch: traffic.fetch, store })
    const started = await access.startConsent({ userKey: 'alice', returnTo: '/after' })
    // §10: the thumbprint is on the authorization request: pushed, as this server requires (RFC
    // 9126), so the redirect carries nothing but client_id and request_uri.
    expect([...started.url.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri'])
    const jkt = traffic.pushes[0]?.get('dpop_jkt')
    expect(jkt).toMatch(/^[\w-]{43}$/)
    const callbackUrl = await driveConsent(started.url, { redirectUriPrefix: REDIRECT_URI, login: 'alice' })
    const { token } = await access.finishConsent({ callbackUrl, transaction: started.transaction })
    expect(token.tokenType).toBe('DPoP')
    expect(traffic.proofs.map((p) => new URL(p.url).pathname)).toEqual(['/token'])
    expect(await thumbprintOf(traffic.proofs[0]?.proof as string)).toBe(jkt)
    expect((await introspect(as, token.value)).cnf).toEqual({ jkt })

    as.resetStats()
    const fresh = await access.getAccessToken('alice', { forceRefresh: true })
    expect(as.stats().tokenCalls.refresh_token).toBe(1)
    expect(fresh.value).not.toBe(token.value)
    expect(fresh.tokenType).toBe('DPoP')
    expect((await introspect(as, fresh.value)).cnf).toEqual({ jkt })
    expect(await thumbprintOf(traffic.proofs[1]?.proof as string)).toBe(jkt)

    const response = await access.fetch('alice', `${rs.url}/me/history?page=2`)
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ ok: true, sub: 'alice', path: '/me/history' })
    const api = traffic.proofs.at(-1)
    expect(api?.authorization).toBe(`DPoP ${fresh.value}`)
    expect(decodeJwt(api?.proof as string)).toMatchObject({ htm: 'GET', htu: `${rs.url}/me/history` })

    // Revocation carries a proof too (oidc-provider does not check it).
    as.resetStats()
    expect(await access.revoke('alice')).toEqual({ revokedAtServer: true })
    expect(traffic.proofs.at(-1)?.url).toBe(`${as.issuer}/token/revocation`)
    expect((await introspect(as, fresh.value)).active).toBe(false)
  })

  it("a public client's refresh token is bound too: presented with another key, or none, the server refuses it", async () => {
    const received: string[] = []
    const traffic = recordProofs(async (input, init) => {
      const response = await fetch(input, init)
      if (String(input) === `${as.issuer}/token`) {
        const body = (await response.clone().json()) as { refresh_token?: string }
        if (body.refresh_token !== undefined) received.push(body.refresh_token)
      }
      return response
    })
    const access = dpopAccess({ fetch: traffic.fetch, client: as.clients.public })
    const { token } = await consentAs(access, 'bob')
    const refreshToken = received[0] as string
    const other = await generateKeyPair('ES256')
    const proof = await new SignJWT({ jti: crypto.randomUUID(), htm: 'POST', htu: `${as.issuer}/token` })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(other.publicKey) })
      .setIssuedAt()
      .sign(other.privateKey)
    const body = new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      client_id: as.clients.public.id,
    })
    const withOtherKey = await fetch(`${as.issuer}/token`, { method: 'POST', headers: { dpop: proof }, body })
    expect(withOtherKey.status).toBe(400)
    const withoutProof = await fetch(`${as.issuer}/token`, { method: 'POST', body })
    expect(withoutProof.status).toBe(400)
    // The grant's own key still refreshes (neither attempt spent the refresh token).
    const fresh = await access.getAccessToken('bob', { forceRefresh: true })
    expect(fresh.tokenType).toBe('DPoP')
    expect(fresh.value).not.toBe(token.value)
  })

  it('a pushed authorization request carries the thumbprint as dpop_jkt', async () => {
    const traffic = recordProofs()
    const access = dpopAccess({ fetch: traffic.fetch, pushedAuthorizationRequests: true })
    const { token } = await consentAs(access, 'heidi')
    const jkt = traffic.pushes[0]?.get('dpop_jkt')
    expect(jkt).toMatch(/^[\w-]{43}$/)
    expect((await introspect(as, token.value)).cnf).toEqual({ jkt })
  })

  it('two instances with separate caches share one store: one refreshes for both when the token expires, and the other calls the API with the same key', async () => {
    const store = new MemoryTokenStore()
    const a = dpopAccess({ store })
    const b = dpopAccess({ store })
    const { token } = await consentAs(a, 'carol')
    const jkt = (await introspect(as, token.value)).cnf?.jkt
    as.resetStats()
    const restore = advanceClock(601_000)
    try {
      const [fromA, fromB] = await Promise.all([a.getAccessToken('carol'), b.getAccessToken('carol')])
      expect(as.stats().tokenCalls.refresh_token).toBe(1)
      expect(as.stats().refreshTokenReuse).toBe(0)
      expect(fromB.value).toBe(fromA.value)
    } finally {
      restore()
    }
    const before = rs.stats().accepted
    const response = await b.fetch('carol', `${rs.url}/me`)
    expect(response.status).toBe(200)
    expect(rs.stats().accepted).toBe(before + 1)
    const current = await b.getAccessToken('carol')
    expect((await introspect(as, current.value)).cnf?.jkt).toBe(jkt)
  })

  it('the resource server refuses a replayed proof', async () => {
    const traffic = recordProofs()
    const access = dpopAccess({ fetch: traffic.fetch })
    await consentAs(access, 'dave')
    expect((await access.fetch('dave', `${rs.url}/me`)).status).toBe(200)
    const sent = traffic.proofs.at(-1)
    const before = rs.stats().refused.replay ?? 0
    const replayed = await fetch(`${rs.url}/me`, {
      headers: { authorization: sent?.authorization as string, dpop: sent?.proof as string },
    })
    expect(replayed.status).toBe(401)
    expect(replayed.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_dpop_proof"/)
    expect(rs.stats().refused.replay).toBe(before + 1)
    // A new proof for the same token is fine.
    expect((await access.fetch('dave', `${rs.url}/me`)).status).toBe(200)
  })

  it('the private key is never in clear: not in the store (even with encryptTokens: false), a log or an error', async () => {
    const logs: string[] = []
    const logger = (level: string, message: string, fields?: unknown) =>
      logs.push(`${level} ${message} ${JSON.stringify(fields)}`)
    for (const encryptTokens of [true, false]) {
      const store = new MemoryTokenStore()
      const access = dpopAccess({ store, encryptTokens, logger })
      await consentAs(access, 'erin')
      await access.getAccessToken('erin', { forceRefresh: true })
      const stored = encryptTokens ? await storedKeyOf(access, store) : undefined
      const errors: unknown[] = []
      // An error with the key at hand: the server revoked the grant, the refresh fails.
      await as.revokeGrantsOf('erin')
      errors.push(await rejection(access.getAccessToken('erin', { forceRefresh: true })))
      if (stored !== undefined) {
        const { key, values } = stored
        expect(key.d).toMatch(/^[\w-]{43}$/)
        for (const value of values) {
          expect(value).not.toContain(key.d)
          expect(value).not.toContain(key.x)
        }
        for (const text of [...logs, ...errors.map((e) => `${String(e)} ${JSON.stringify(e)}`)])
          expect(text).not.toContain(key.d)
      } else {
        // The record is JSON in clear, but its key field is sealed on its own.
        const { keys } = await store.list('', { cursor: undefined, limit: 10 })
        for (const storeKey of keys) {
          const value = (await store.get(storeKey))?.value ?? ''
          if (!value.startsWith('{"v":1,"at"')) continue
          const record = JSON.parse(value) as { dk?: unknown }
          expect(typeof record.dk).toBe('string')
          expect(value).not.toMatch(/"d":/)
        }
      }
    }
  })

  it('a server that answers a proof with a Bearer token: ERR_CONFIGURATION naming the dpop option', async () => {
    const plain = await startTestAuthorizationServer({ dpop: false })
    try {
      const access = accessFor(plain, { dpop: true })
      opened.push(access)
      const started = await access.startConsent({ userKey: 'frank', returnTo: '/after' })
      const callbackUrl = await driveConsent(started.url, { redirectUriPrefix: REDIRECT_URI, login: 'frank' })
      const err = await rejection(access.finishConsent({ callbackUrl, transaction: started.transaction }))
      expect(err.code).toBe('ERR_CONFIGURATION')
      expect(err.message).toContain('`dpop`')
    } finally {
      await plain.close()
    }
  })

  it('a server that returns DPoP tokens to a client without the option: ERR_CONFIGURATION naming it', async () => {
    // The server binds whatever carries a proof; here a proxy adds one the client did not make.
    const key = await generateKeyPair('ES256')
    const jwk = await exportJWK(key.publicKey)
    const addProof: typeof fetch = async (input, init) => {
      if (String(input) !== `${as.issuer}/token`) return fetch(input, init)
      const proof = await new SignJWT({ jti: crypto.randomUUID(), htm: 'POST', htu: `${as.issuer}/token` })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
        .setIssuedAt()
        .sign(key.privateKey)
      const headers = new Headers(init?.headers)
      headers.set('dpop', proof)
      return fetch(input, { ...init, headers })
    }
    const access = accessFor(as, { fetch: addProof })
    opened.push(access)
    const err = await rejection(consentAs(access, 'grace'))
    expect(err.code).toBe('ERR_CONFIGURATION')
    expect(err.message).toContain('`dpop`')
  })
})

describe('DPoP server nonces (RFC 9449 §8, §9)', () => {
  let as: TestAuthorizationServer
  let rs: DPoPResourceServer
  const opened: OngoingAccess[] = []

  beforeAll(async () => {
    as = await startTestAuthorizationServer({ accessTokenTTLSeconds: 600, dpop: 'nonce' })
    rs = await startDPoPResourceServer({ introspect: (token) => introspect(as, token), requireNonce: true })
  })
  afterEach(() => {
    for (const access of opened.splice(0)) access.close()
  })
  afterAll(async () => {
    await rs?.close()
    await as?.close()
  })

  function dpopAccess(options: Partial<OngoingAccessOptions> = {}): OngoingAccess {
    const access = accessFor(as, { dpop: true, ...options })
    opened.push(access)
    return access
  }

  it('at the authorization server: a use_dpop_nonce answer costs exactly one retry, and the nonce is remembered', async () => {
    const store = new MemoryTokenStore()
    const access = dpopAccess({ store })
    as.resetStats()
    const { token } = await consentAs(access, 'alice')
    expect(token.tokenType).toBe('DPoP')
    expect(as.stats().tokenCalls.authorization_code).toBe(2)
    as.resetStats()
    await access.getAccessToken('alice', { forceRefresh: true })
    expect(as.stats().tokenCalls.refresh_token).toBe(1)
    // Another instance has no nonce yet: one challenge, one retry, and the refresh token is not spent twice.
    const other = dpopAccess({ store })
    as.resetStats()
    const fresh = await other.getAccessToken('alice', { forceRefresh: true })
    expect(as.stats().tokenCalls.refresh_token).toBe(2)
    expect(as.stats().refreshTokenReuse).toBe(0)
    expect((await introspect(as, fresh.value)).active).toBe(true)
  })

  it('at the resource server: a nonce challenge costs exactly one retry; the nonce is then remembered, a new one costs one retry again', async () => {
    const access = dpopAccess()
    await consentAs(access, 'bob')
    const before = rs.stats()
    const first = await access.fetch('bob', `${rs.url}/me`)
    expect(first.status).toBe(200)
    let after = rs.stats()
    expect(after.requests - before.requests).toBe(2)
    expect(after.nonceChallenges - before.nonceChallenges).toBe(1)
    expect((await access.fetch('bob', `${rs.url}/me`)).status).toBe(200)
    expect(rs.stats().requests - after.requests).toBe(1)
    rs.rotateNonce()
    after = rs.stats()
    as.resetStats()
    expect((await access.fetch('bob', `${rs.url}/me`)).status).toBe(200)
    expect(rs.stats().requests - after.requests).toBe(2)
    expect(as.stats().tokenCalls.total).toBe(0)
  })

  it('a resource server that challenges again after the retry: its 401 is returned, no third request, no refresh', async () => {
    let calls = 0
    const alwaysChallenging: typeof fetch = async (input, init) => {
      const url = input instanceof Request ? input.url : String(input)
      if (!url.startsWith('http://api.example.test')) return fetch(input, init)
      calls++
      return new Response(null, {
        status: 401,
        headers: { 'www-authenticate': 'DPoP error="use_dpop_nonce"', 'dpop-nonce': `n-${calls}` },
      })
    }
    const challenged = dpopAccess({ fetch: alwaysChallenging })
    await consentAs(challenged, 'carol')
    as.resetStats()
    const response = await challenged.fetch('carol', 'http://api.example.test/me')
    expect(response.status).toBe(401)
    expect(calls).toBe(2)
    expect(as.stats().tokenCalls.total).toBe(0)
  })
})
