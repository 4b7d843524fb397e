import { isIPv4, isIPv6 } from 'node:net'

/** Options of {@link createMemoryRateLimiter}. */
export interface MemoryRateLimiterOptions {
  /**
   * Most keys (an IPv4 address, or an IPv6 /64) tracked in one window. When the table is full,
   * addresses it does not track yet share a single budget of `limit` calls until the window ends,
   * while tracked ones keep their own counts: nothing is evicted, so rotating addresses can neither
   * grow the table nor reset another address's count. Default: 100,000 (about 15 MiB at most).
   */
  maxKeys?: number
}

/** The limiter {@link createMemoryRateLimiter} makes: `true` while `clientAddress` may call. */
export interface MemoryRateLimiter {
  (clientAddress: string): boolean
  /** How many keys the current window tracks (the shared overflow budget not counted). */
  readonly size: number
}

/** What the key of an address that is not an IP address (a custom proxy header, say) keeps of it. */
const MAX_OTHER_KEY_LENGTH = 64

/**
 * A fixed-window rate limiter in memory: at most `limit` calls per `windowMs` per client. A client
 * is an IPv4 address, or the /64 prefix of an IPv6 address (one subscriber's usual allocation, so
 * the addresses of one network count together); an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`)
 * counts as its IPv4 address. Memory is bounded by `maxKeys` (see {@link MemoryRateLimiterOptions}),
 * and the whole table is dropped when a new window starts.
 *
 * @param limit - Calls allowed per client and window, a positive integer.
 * @param windowMs - Length of a window in milliseconds.
 * @param options - `maxKeys`.
 * @returns The limiter, for `TokenSwapService`'s `rateLimit`.
 * @throws {TypeError} at once, for a bad argument.
 * @example
 * ```ts
 * new TokenSwapService(access, { rateLimit: createMemoryRateLimiter(10, 60_000, { maxKeys: 50_000 }) })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6177 (IPv6 /64 and /56 assignments to end sites)
 */
export function createMemoryRateLimiter(
  limit: number,
  windowMs: number,
  options: MemoryRateLimiterOptions = {},
): MemoryRateLimiter {
  const { maxKeys = 100_000 } = options
  if (!Number.isInteger(limit) || limit < 1)
    throw new TypeError('ongoing: `limit` must be a positive integer')
  if (!(windowMs > 0) || !Number.isFinite(windowMs))
    throw new TypeError('ongoing: `windowMs` must be a positive number')
  if (!Number.isInteger(maxKeys) || maxKeys < 1)
    throw new TypeError('ongoing: `maxKeys` must be a positive integer')
  let windowStart = 0
  let counts = new Map<string, number>()
  let overflow = 0
  const limiter = (address: string): boolean => {
    const now = Date.now()
    if (now - windowStart >= windowMs) {
      windowStart = now
      counts = new Map()
      overflow = 0
    }
    const key = rateLimitKeyOf(address)
    const count = counts.get(key)
    if (count !== undefined) {
      counts.set(key, count + 1)
      return count < limit
    }
    if (counts.size < maxKeys) {
      counts.set(key, 1)
      return true
    }
    overflow++
    return overflow <= limit
  }
  return Object.defineProperty(limiter, 'size', { get: () => counts.size }) as MemoryRateLimiter
}

/** The key a client address counts under: the IPv4 address, the IPv6 /64, or a bounded string. */
function rateLimitKeyOf(address: string): string {
  if (isIPv4(address)) return address
  const zone = address.indexOf('%')
  const bare = zone === -1 ? address : address.slice(0, zone)
  if (!isIPv6(bare)) return `?${address.slice(0, MAX_OTHER_KEY_LENGTH)}`
  const groups = ipv6Groups(bare)
  const [a = 0, b = 0, c = 0, d = 0, e = 0, f = 0, g = 0, h = 0] = groups
  if (a === 0 && b === 0 && c === 0 && d === 0 && e === 0 && f === 0xffff)
    return `${g >> 8}.${g & 255}.${h >> 8}.${h & 255}`
  return `${a.toString(16)}:${b.toString(16)}:${c.toString(16)}:${d.toString(16)}::/64`
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a dotted IPv4 tail converted). */
function ipv6Groups(address: string): number[] {
  const parse = (part: string): number[] =>
    part === ''
      ? []
      : part.split(':').flatMap((group) => {
          if (!group.includes('.')) return [Number.parseInt(group, 16)]
          const [w = 0, x = 0, y = 0, z = 0] = group.split('.').map(Number)
          return [(w << 8) | x, (y << 8) | z]
        })
  const gap = address.indexOf('::')
  if (gap === -1) return parse(address)
  const head = parse(address.slice(0, gap))
  const tail = parse(address.slice(gap + 2))
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail]
}
