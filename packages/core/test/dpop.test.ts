import { createHash } from 'node:crypto'
import { decodeJwt, decodeProtectedHeader, importJWK, jwtVerify } from 'jose'
import { describe, expect, it } from 'vitest'
import {
  asksForDPoPNonce,
  calculateDPoPThumbprint,
  chooseDPoPAlgorithm,
  createDPoPProof,
  DPoPServerState,
  generateDPoPKey,
} from '../src/dpop.js'
import { OngoingAccessError } from '../src/errors.js'
import { processTokenResponse } from '../src/token-endpoint.js'

const TOKEN_BODY = { access_token: 'at-1', expires_in: 60, refresh_token: 'rt-1' }

function answer(status: number, body: unknown, headers: Record<string, string> = {}) {
  return { status, headers: new Headers(headers), body: JSON.stringify(body) }
}

function thrown(fn: () => unknown): OngoingAccessError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(OngoingAccessError)
    return err as OngoingAccessError
  }
  throw new Error('did not throw')
}

describe('DPoP proofs (RFC 9449 §4.2)', () => {
  it('carry typ, alg, the public jwk only, jti, htm, htu without query or fragment, iat, nonce and ath', async () => {
    const key = await generateDPoPKey('ES256')
    const proof = await createDPoPProof(key, {
      htm: 'get',
      url: 'https://api.example.test/me/history?page=2#top',
      nonce: 'n-1',
      accessToken: 'the-token',
    })
    const header = decodeProtectedHeader(proof)
    expect(header.typ).toBe('dpop+jwt')
    expect(header.alg).toBe('ES256')
    expect(Object.keys(header.jwk ?? {}).sort()).toEqual(['crv', 'kty', 'x', 'y'])
    const { payload } = await jwtVerify(proof, await importJWK(header.jwk as never, 'ES256'), {
      typ: 'dpop+jwt',
    })
    expect(payload.htm).toBe('GET')
    expect(payload.htu).toBe('https://api.example.test/me/history')
    expect(payload.nonce).toBe('n-1')
    expect(payload.ath).toBe(createHash('sha256').update('the-token').digest('base64url'))
    expect(Math.abs((payload.iat as number) - Date.now() / 1000)).toBeLessThan(2)
    expect(proof).not.toContain(key.jwk.d)
    expect(await calculateDPoPThumbprint(key)).toMatch(/^[\w-]{43}$/)
  })

  it('never reuse a jti: 10,000 proofs, 10,000 jtis', async () => {
    const key = await generateDPoPKey('ES256')
    const jtis = new Set<string>()
    for (let i = 0; i < 10_000; i++) {
      const proof = await createDPoPProof(key, { htm: 'POST', url: 'https://as.example.test/token' })
      jtis.add(decodeJwt(proof).jti as string)
    }
    expect(jtis.size).toBe(10_000)
  })

  it("shift iat by the server's clock, learned from its Date header; a second or two of difference is ignored", async () => {
    const key = await generateDPoPKey('ES256')
    const state = new DPoPServerState()
    state.noteDate(new Headers({ date: new Date(Date.now() + 300_000).toUTCString() }))
    expect(state.clockOffsetSeconds).toBeGreaterThanOrEqual(299)
    const proof = await createDPoPProof(key, {
      htm: 'POST',
      url: 'https://as.example.test/token',
      clockOffsetSeconds: state.clockOffsetSeconds,
    })
    expect((decodeJwt(proof).iat as number) - Date.now() / 1000).toBeGreaterThan(298)
    state.noteDate(new Headers({ date: new Date(Date.now() + 1_000).toUTCString() }))
    expect(state.clockOffsetSeconds).toBe(0)
  })

  it('use the algorithm the server supports: ES256 first, then EdDSA, PS256, RS256', async () => {
    expect(chooseDPoPAlgorithm(undefined)).toBe('ES256')
    expect(chooseDPoPAlgorithm(['RS256', 'ES256'])).toBe('ES256')
    expect(chooseDPoPAlgorithm(['RS256', 'EdDSA'])).toBe('EdDSA')
    expect(chooseDPoPAlgorithm(['RS256'])).toBe('RS256')
    expect(thrown(() => chooseDPoPAlgorithm(['HS256'])).code).toBe('ERR_CONFIGURATION')
    for (const alg of ['EdDSA', 'PS256', 'RS256']) {
      const key = await generateDPoPKey(alg)
      const proof = await createDPoPProof(key, { htm: 'POST', url: 'https://as.example.test/token' })
      const header = decodeProtectedHeader(proof)
      expect(header.alg).toBe(alg)
      await jwtVerify(proof, await importJWK(header.jwk as never, alg))
      expect(JSON.stringify(header.jwk)).not.toContain(key.jwk.d)
    }
  })
})

describe('DPoP server nonces (RFC 9449 §8, §9)', () => {
  it('are remembered per origin, from any answer that carries one', () => {
    const state = new DPoPServerState()
    expect(state.noteNonce('https://as.example.test/token', new Headers({ 'dpop-nonce': 'n-as' }))).toBe(
      'n-as',
    )
    state.noteNonce('https://api.example.test/x', new Headers({ 'dpop-nonce': 'n-api' }))
    expect(state.nonceFor('https://as.example.test/revoke')).toBe('n-as')
    expect(state.nonceFor('https://api.example.test/y?z=1')).toBe('n-api')
    expect(state.nonceFor('https://other.example.test/')).toBeUndefined()
    // Not NQCHAR: ignored.
    expect(
      state.noteNonce('https://as.example.test/token', new Headers({ 'dpop-nonce': 'a "b"' })),
    ).toBeUndefined()
    expect(state.nonceFor('https://as.example.test/token')).toBe('n-as')
  })

  it('a 401 asks for one only with a DPoP challenge naming use_dpop_nonce', () => {
    const challenge = (header: string, status = 401) =>
      asksForDPoPNonce(new Response(null, { status, headers: { 'www-authenticate': header } }))
    expect(challenge('DPoP error="use_dpop_nonce", error_description="nonce"')).toBe(true)
    expect(challenge('Bearer realm="x", DPoP error="use_dpop_nonce"')).toBe(true)
    expect(challenge('DPoP error="invalid_token"')).toBe(false)
    expect(challenge('Bearer error="use_dpop_nonce"')).toBe(false)
    expect(challenge('DPoP error="use_dpop_nonce"', 403)).toBe(false)
  })
})

describe('token responses and the dpop option (RFC 9449 §5)', () => {
  it('a DPoP request gets a DPoP token', () => {
    const tokens = processTokenResponse(answer(200, { ...TOKEN_BODY, token_type: 'DPoP' }), { dpop: true })
    expect(tokens.tokenType).toBe('DPoP')
    expect(processTokenResponse(answer(200, { ...TOKEN_BODY, token_type: 'bearer' })).tokenType).toBe(
      'Bearer',
    )
  })

  it('a Bearer token to a DPoP request is ERR_CONFIGURATION naming the option, outcome unknown (the refresh token is spent)', () => {
    const err = thrown(() =>
      processTokenResponse(answer(200, { ...TOKEN_BODY, token_type: 'Bearer' }), { dpop: true }),
    )
    expect(err.code).toBe('ERR_CONFIGURATION')
    expect(err.message).toContain('`dpop`')
    expect(err.outcomeUnknown).toBe(true)
    expect(err.message).not.toContain('at-1')
  })

  it('a DPoP token without the option is ERR_CONFIGURATION naming it', () => {
    const err = thrown(() => processTokenResponse(answer(200, { ...TOKEN_BODY, token_type: 'DPoP' })))
    expect(err.code).toBe('ERR_CONFIGURATION')
    expect(err.message).toContain('`dpop`')
  })

  it.each(['invalid_dpop_proof', 'use_dpop_nonce'])(
    '%s without the option is ERR_CONFIGURATION naming it',
    (error) => {
      const err = thrown(() => processTokenResponse(answer(400, { error })))
      expect(err.code).toBe('ERR_CONFIGURATION')
      expect(err.oauthError).toBe(error)
      expect(err.message).toContain('`dpop`')
      // With the option, the server's error as it is.
      expect(thrown(() => processTokenResponse(answer(400, { error }), { dpop: true })).code).toBe(
        'ERR_TOKEN_ENDPOINT',
      )
    },
  )
})
