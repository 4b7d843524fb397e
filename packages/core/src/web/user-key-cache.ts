/**
 * A user-key cookie the routes have opened: whose it is, and, when it was sealed under a secret
 * that is not the current one (rotation), the `Set-Cookie` value that seals the same user key under
 * the current secret (same name, path and lifetime). An adapter adds that header to its answer.
 *
 * @example
 * ```ts
 * const cookie = routes.userKeyCookieFromNodeRequest(req)
 * if (cookie?.renewal !== undefined) res.appendHeader('set-cookie', cookie.renewal)
 * const userKey = cookie?.userKey
 * ```
 */
export interface OpenedUserKeyCookie {
  /** The user key the cookie holds. */
  readonly userKey: string
  /** `Set-Cookie` re-sealing the cookie under the current secret; `undefined` when it is under it already. */
  readonly renewal: string | undefined
}

interface Entry extends OpenedUserKeyCookie {
  readonly sealed: string
}

/**
 * The user keys of sealed user-key cookies already opened, so a protected request opens none: a
 * bounded map from the sealed value to its user key, oldest out first.
 *
 * A protected request's cookie value is a string fresh from the HTTP parser, and keying a `Map` by
 * it would hash all of it on every request (about 75 characters: some 100 ns on a 2-core machine,
 * most of the user-key lookup). The map is keyed instead by a hash of five characters of the
 * value's IV (random, see `Sealer`), and an entry counts only if its whole sealed value equals the
 * cookie's. Two values that share a key (among 10,000 users, the odds that any two do are some
 * 5 %) take turns: each opens again once the other has replaced it. A value that is not a sealed
 * one finds nothing.
 *
 * Not from an RFC: an implementation detail of {@link OngoingRoutes}.
 */
export class UserKeyCache {
  readonly #max: number
  readonly #entries = new Map<number, Entry>()

  constructor(max: number) {
    this.#max = max
  }

  /** What `sealed` opened to, if it is cached: the cached object itself, nothing allocated. */
  get(sealed: string): OpenedUserKeyCookie | undefined {
    const entry = this.#entries.get(keyOf(sealed))
    return entry !== undefined && entry.sealed === sealed ? entry : undefined
  }

  /**
   * Caches what `sealed` opened to (only ever a value that did open), with its renewal when it was
   * sealed under an older secret, and returns it.
   */
  set(sealed: string, userKey: string, renewal: string | undefined): OpenedUserKeyCookie {
    const key = keyOf(sealed)
    if (!this.#entries.has(key) && this.#entries.size >= this.#max)
      this.#entries.delete(this.#entries.keys().next().value as number)
    const entry: Entry = { sealed, userKey, renewal }
    this.#entries.set(key, entry)
    return entry
  }
}

/**
 * A 30-bit hash (FNV-1a) of characters 7 to 11 of a sealed value (base64url of version, key id,
 * IV, …): bits 42 to 71, all IV, so random. A small integer, which a `Map` hashes for nothing. Past
 * the end of a short value `charCodeAt` gives NaN, which XORs as 0.
 */
function keyOf(sealed: string): number {
  let hash = 0x811c9dc5
  for (let i = 7; i < 12; i++) hash = Math.imul(hash ^ sealed.charCodeAt(i), 0x01000193)
  return hash & 0x3fffffff
}
