import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

/**
 * A random URL-safe string of `bytes` bytes of entropy (for `state`, code verifiers, ids).
 *
 * @example
 * ```ts
 * const state = generateRandomToken() // 43 characters, 256 bits
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-10.10
 */
export function generateRandomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url')
}

/**
 * A PKCE code verifier: 43 characters from the unreserved set, 256 bits of entropy.
 *
 * @example
 * ```ts
 * const verifier = generateCodeVerifier()
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7636#section-4.1
 */
export function generateCodeVerifier(): string {
  return generateRandomToken(32)
}

/**
 * The S256 code challenge of a verifier: `BASE64URL(SHA256(ASCII(code_verifier)))`.
 *
 * @example
 * ```ts
 * calculatePKCECodeChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')
 * // 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7636#section-4.2
 */
export function calculatePKCECodeChallenge(codeVerifier: string): string {
  return createHash('sha256').update(codeVerifier, 'ascii').digest('base64url')
}

/**
 * Compares two random values (`state`, `nonce`) in constant time: their SHA-256 digests, so that
 * their lengths do not show either.
 *
 * @example
 * ```ts
 * if (!sameSecret(params.state, transaction.state)) throw new Error('state mismatch')
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.7.1 (state), https://openid.net/specs/openid-connect-core-1_0.html#NonceNotes
 */
export function sameSecret(a: string, b: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest()
  return timingSafeEqual(digest(a), digest(b))
}
