import { describe, expect, it } from 'vitest'
import { calculatePKCECodeChallenge, generateCodeVerifier, generateRandomToken } from '../src/adapter.js'

describe('PKCE', () => {
  it('matches the RFC 7636 Appendix B test vector for S256', () => {
    expect(calculatePKCECodeChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe(
      'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    )
  })

  it('makes verifiers of 43 unreserved characters, never repeated', () => {
    const seen = new Set<string>()
    for (let i = 0; i < 10_000; i++) {
      const verifier = generateCodeVerifier()
      expect(verifier).toMatch(/^[A-Za-z0-9_-]{43}$/)
      seen.add(verifier)
    }
    expect(seen.size).toBe(10_000)
    expect(generateRandomToken(16)).toHaveLength(22)
  })
})
