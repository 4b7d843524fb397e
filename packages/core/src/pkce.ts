import { createHash, randomBytes } from 'node:crypto'

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
