import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto'

const VERSION = 1
const KID_BYTES = 4
const IV_BYTES = 12
const TAG_BYTES = 16
const HEADER_BYTES = 1 + KID_BYTES + IV_BYTES
const MIN_SECRET_LENGTH = 32

/** What a sealed value is for. Each purpose has its own key, so one can never be opened as another. */
export type SealPurpose = 'transaction' | 'token-store' | 'swap-handle' | 'user-key-cookie'

interface DerivedKey {
  kid: Buffer
  key: Buffer
}

/**
 * Authenticated encryption (AES-256-GCM) with keys derived from the application's secret by HKDF
 * (RFC 5869), one key per purpose. The first secret seals; every secret opens (rotation). Each sealed
 * value carries the id of its key and is bound to associated data (e.g. the user key of a record).
 *
 * Format (base64url): version(1) | key id(4) | IV(12) | ciphertext | tag(16).
 *
 * @example
 * ```ts
 * const sealer = new Sealer([process.env.ONGOING_SECRET!])
 * const sealed = sealer.seal('token-store', JSON.stringify(record), 'grant:alice')
 * sealer.open('token-store', sealed, 'grant:alice') // the JSON again; undefined if tampered
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc5869 (HKDF), NIST SP 800-38D (GCM)
 */
export class Sealer {
  readonly #keys = new Map<SealPurpose, DerivedKey[]>()
  readonly #secrets: readonly string[]

  constructor(secrets: readonly string[]) {
    if (secrets.length === 0) throw new TypeError('ongoing: `secret` must hold at least one secret')
    for (const secret of secrets) {
      if (typeof secret !== 'string' || secret.length < MIN_SECRET_LENGTH) {
        throw new TypeError(
          `ongoing: every \`secret\` must be a string of at least ${MIN_SECRET_LENGTH} characters`,
        )
      }
    }
    this.#secrets = secrets
  }

  #keysFor(purpose: SealPurpose): DerivedKey[] {
    let keys = this.#keys.get(purpose)
    if (keys === undefined) {
      keys = this.#secrets.map((secret) => {
        const key = Buffer.from(hkdfSync('sha256', secret, 'ongoing/v1', `ongoing ${purpose}`, 32))
        const kid = createHash('sha256').update(key).digest().subarray(0, KID_BYTES)
        return { kid, key }
      })
      this.#keys.set(purpose, keys)
    }
    return keys
  }

  /** Encrypts and authenticates `plaintext`, bound to `associatedData`. */
  seal(purpose: SealPurpose, plaintext: string, associatedData = ''): string {
    const { kid, key } = this.#keysFor(purpose)[0]!
    const header = Buffer.allocUnsafe(HEADER_BYTES)
    header[0] = VERSION
    kid.copy(header, 1)
    randomBytes(IV_BYTES).copy(header, 1 + KID_BYTES)
    const cipher = createCipheriv('aes-256-gcm', key, header.subarray(1 + KID_BYTES))
    cipher.setAAD(aad(purpose, header, associatedData))
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()])
    return Buffer.concat([header, body]).toString('base64url')
  }

  /**
   * Whether `sealed` carries the id of the current key for `purpose` (the first secret's): `false`
   * when it was sealed under another secret of the list, so an app can seal it again before that
   * secret is retired. Reads the header only: it neither opens nor authenticates, so call it on a
   * value {@link Sealer.open} has opened.
   *
   * @example
   * ```ts
   * const userKey = sealer.open('user-key-cookie', cookie)
   * if (userKey !== undefined && !sealer.isSealedUnderCurrentKey('user-key-cookie', cookie))
   *   setCookie(sealer.seal('user-key-cookie', userKey)) // the same user key, under the new secret
   * ```
   */
  isSealedUnderCurrentKey(purpose: SealPurpose, sealed: string): boolean {
    // Eight base64url characters are six bytes: the version, the key id, a byte of the IV.
    const head = Buffer.from(sealed.slice(0, 8), 'base64url')
    if (head.length < 1 + KID_BYTES || head[0] !== VERSION) return false
    return this.#keysFor(purpose)[0]!.kid.equals(head.subarray(1, 1 + KID_BYTES))
  }

  /**
   * Opens a value sealed by {@link Sealer.seal}. Returns `undefined` for anything that does not open:
   * malformed, tampered, truncated, sealed under an unknown or retired key, for another purpose, or
   * bound to other associated data.
   */
  open(purpose: SealPurpose, sealed: unknown, associatedData = ''): string | undefined {
    if (typeof sealed !== 'string' || sealed.length > 1_000_000 || !/^[A-Za-z0-9_-]+$/.test(sealed))
      return undefined
    const bytes = Buffer.from(sealed, 'base64url')
    if (bytes.length < HEADER_BYTES + TAG_BYTES || bytes[0] !== VERSION) return undefined
    const header = bytes.subarray(0, HEADER_BYTES)
    const kid = header.subarray(1, 1 + KID_BYTES)
    const entry = this.#keysFor(purpose).find((k) => k.kid.equals(kid))
    if (entry === undefined) return undefined
    try {
      const decipher = createDecipheriv('aes-256-gcm', entry.key, header.subarray(1 + KID_BYTES))
      decipher.setAAD(aad(purpose, header, associatedData))
      decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES))
      const plain = Buffer.concat([
        decipher.update(bytes.subarray(HEADER_BYTES, bytes.length - TAG_BYTES)),
        decipher.final(),
      ])
      return plain.toString('utf8')
    } catch {
      return undefined
    }
  }
}

function aad(purpose: SealPurpose, header: Buffer, associatedData: string): Buffer {
  return Buffer.concat([Buffer.from(`${purpose}\0`), header, Buffer.from(`\0${associatedData}`)])
}

/** Normalizes the `secret` option into a list; the first seals, all open. */
export function secretsFrom(secret: string | readonly string[] | undefined): string[] {
  if (secret === undefined) {
    throw new TypeError(
      'ongoing: `secret` is required (at least 32 characters; an array of them for key rotation)',
    )
  }
  return typeof secret === 'string' ? [secret] : [...secret]
}
