import { generateKeyPair, randomUUID } from 'node:crypto'
import { promisify } from 'node:util'

const generate = promisify(generateKeyPair)

/** A private JSON Web Key with the `kid` and `alg` it is registered under. */
export type PrivateJWK = JsonWebKey & { kid: string; alg: string }

/** One private key per client authentication algorithm the test server accepts. */
export interface ClientSigningKeys {
  RS256: PrivateJWK
  PS256: PrivateJWK
  PS512: PrivateJWK
  ES256: PrivateJWK
  EdDSA: PrivateJWK
}

/** The algorithms of {@link ClientSigningKeys}, accepted for `private_key_jwt`. */
export const CLIENT_SIGNING_ALGORITHMS = ['RS256', 'PS256', 'PS512', 'ES256', 'EdDSA'] as const

async function generateJWK(alg: keyof ClientSigningKeys): Promise<PrivateJWK> {
  const { privateKey } = await (alg === 'ES256'
    ? generate('ec', { namedCurve: 'P-256' })
    : alg === 'EdDSA'
      ? generate('ed25519')
      : generate('rsa', { modulusLength: 2048 }))
  return { ...privateKey.export({ format: 'jwk' }), kid: `${alg}-${randomUUID()}`, alg, use: 'sig' }
}

/** Generates a fresh private key for every client authentication algorithm. */
export async function generateClientSigningKeys(): Promise<ClientSigningKeys> {
  const [RS256, PS256, PS512, ES256, EdDSA] = await Promise.all(CLIENT_SIGNING_ALGORITHMS.map(generateJWK))
  return { RS256: RS256!, PS256: PS256!, PS512: PS512!, ES256: ES256!, EdDSA: EdDSA! }
}

/** Generates the server's own RS256 signing key (ID tokens). */
export async function generateServerSigningKey(): Promise<PrivateJWK> {
  return generateJWK('RS256')
}

/** The public half of a private JWK (drops every private member). */
export function toPublicJWK(jwk: PrivateJWK): JsonWebKey & { kid: string; alg: string } {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, oth: _oth, ...publicJWK } = jwk
  return publicJWK
}
