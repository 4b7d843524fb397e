/** Attributes of a cookie we set. */
export interface CookieAttributes {
  maxAgeSeconds: number
  path: string
  secure: boolean
  httpOnly?: boolean
  sameSite?: 'Lax' | 'Strict'
}

const MAX_COOKIE_HEADER = 8 * 1024

/**
 * Reads one cookie from a `Cookie` header. A header over 8 KB is ignored as a whole.
 *
 * @example
 * ```ts
 * readCookie('theme=dark; ongoing.uid=abc', 'ongoing.uid') // 'abc'
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6265#section-5.4
 */
export function readCookie(header: string | null | undefined, name: string): string | undefined {
  return findCookie(header, `${name}=`)
}

/**
 * {@link readCookie} with `needle` (the name and `=`) made once by the caller: the user-key cookie
 * is read on every protected request.
 */
export function findCookie(header: string | null | undefined, needle: string): string | undefined {
  if (header == null || header.length > MAX_COOKIE_HEADER) return undefined
  // Scans with indexOf instead of splitting: this runs on every protected request.
  let found: string | undefined
  let from = 0
  for (;;) {
    const at = header.indexOf(needle, from)
    if (at === -1) return found
    from = at + needle.length
    let before = at - 1
    while (before >= 0 && (header.charCodeAt(before) === 32 || header.charCodeAt(before) === 9)) before--
    if (before >= 0 && header.charCodeAt(before) !== 59 /* ; */) continue // inside another cookie's name
    // The same name twice (e.g. set for two paths) is ambiguous: refuse it.
    if (found !== undefined) return undefined
    const end = header.indexOf(';', from)
    found = header.slice(from, end === -1 ? header.length : end).trim()
  }
}

/** Largest `Cookie` header {@link findCookiesByPrefix} reads (Node refuses requests with 16 KB of headers by default). */
const MAX_PREFIXED_COOKIE_HEADER = 64 * 1024

/**
 * Every cookie whose name starts with `prefix`, as `[name, value]` in header order. Unlike
 * {@link readCookie} it reads headers over 8 KB (up to 64 KB): the consent routes must find their
 * transaction cookies beside an app's large ones. Not for the per-request hot path.
 */
export function findCookiesByPrefix(
  header: string | null | undefined,
  prefix: string,
): Array<[name: string, value: string]> {
  const found: Array<[string, string]> = []
  if (header == null || header.length > MAX_PREFIXED_COOKIE_HEADER || !header.includes(prefix)) return found
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=')
    if (eq === -1) continue
    const name = pair.slice(0, eq).trim()
    if (name.startsWith(prefix)) found.push([name, pair.slice(eq + 1).trim()])
  }
  return found
}

/** What {@link cookieHeaderOf} reads: a Node request (`IncomingMessage`, or HTTP/2's compatibility request). */
export interface RequestWithHeaders {
  readonly rawHeaders?: readonly string[]
  readonly headers: { readonly cookie?: string | undefined }
}

/**
 * The request's `Cookie` header, as Node's `req.headers.cookie` gives it (several `Cookie` fields,
 * as HTTP/2 clients send, joined with `; `), read from `req.rawHeaders`: Node builds
 * `req.headers` on first access, and a hot path that needs one header should not pay for all.
 *
 * @example
 * ```ts
 * const userKey = routes.userKeyFromCookieHeader(cookieHeaderOf(req)) // req: an IncomingMessage
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6265#section-5.4, https://www.rfc-editor.org/rfc/rfc9113#section-8.2.3
 */
export function cookieHeaderOf(req: RequestWithHeaders): string | undefined {
  const raw = req.rawHeaders
  if (raw === undefined) return req.headers.cookie
  let header: string | undefined
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string
    if (name.length !== 6 || (name !== 'cookie' && name !== 'Cookie' && name.toLowerCase() !== 'cookie'))
      continue
    const value = raw[i + 1] as string
    header = header === undefined ? value : `${header}; ${value}`
  }
  return header
}

/**
 * A `Set-Cookie` value: `SameSite=Lax` and `HttpOnly` unless told otherwise. `value` must already
 * be cookie-safe (we only set base64url values).
 *
 * @example
 * ```ts
 * serializeCookie('ongoing.uid', sealed, { path: '/', maxAgeSeconds: 3600, secure: true })
 * // 'ongoing.uid=…; Path=/; Max-Age=3600; SameSite=Lax; HttpOnly; Secure'
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6265#section-4.1
 */
export function serializeCookie(name: string, value: string, attributes: CookieAttributes): string {
  let cookie = `${name}=${value}; Path=${attributes.path}; Max-Age=${attributes.maxAgeSeconds}; SameSite=${attributes.sameSite ?? 'Lax'}`
  if (attributes.httpOnly !== false) cookie += '; HttpOnly'
  if (attributes.secure) cookie += '; Secure'
  return cookie
}

/**
 * A `Set-Cookie` value that deletes the cookie (`Max-Age=0`): give the `path` it was set with.
 *
 * @example
 * ```ts
 * clearCookie('ongoing.uid', { path: '/', secure: false }) // 'ongoing.uid=; Path=/; Max-Age=0; SameSite=Lax; HttpOnly'
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6265#section-3.1
 */
export function clearCookie(name: string, attributes: Omit<CookieAttributes, 'maxAgeSeconds'>): string {
  return serializeCookie(name, '', { ...attributes, maxAgeSeconds: 0 })
}
