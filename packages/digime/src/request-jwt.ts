import { constants, type KeyObject, randomBytes, sign } from 'node:crypto'

/** `{"alg":"PS512","typ":"JWT"}`: digi.me's request JWT header, no `kid`, no `jku`. */
const HEADER = Buffer.from(JSON.stringify({ alg: 'PS512', typ: 'JWT' })).toString('base64url')

/** RSASSA-PSS with SHA-512 and MGF1-SHA-512, salt as long as the hash (RFC 7518 section 3.5). */
const PSS = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 } as const

/**
 * Signs one request JWT: `client_id`, a fresh `nonce` (16 random bytes, hex) and `timestamp` (Unix
 * ms), then the call's own claims. Called once per HTTP attempt, so no two attempts share a nonce.
 * The RSA operation runs on libuv's thread pool, not on the event loop.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7515#section-7.1 (compact serialization)
 * @see https://www.rfc-editor.org/rfc/rfc7518#section-3.5 (PS512)
 */
export function signRequestJWT(
  key: KeyObject,
  clientId: string,
  claims: Readonly<Record<string, unknown>>,
): Promise<string> {
  const payload = {
    client_id: clientId,
    nonce: randomBytes(16).toString('hex'),
    timestamp: Date.now(),
    ...claims,
  }
  const input = `${HEADER}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`
  return new Promise((resolve, reject) => {
    sign('sha512', Buffer.from(input), { key, ...PSS }, (err, signature) => {
      if (err) reject(err)
      else resolve(`${input}.${signature.toString('base64url')}`)
    })
  })
}
