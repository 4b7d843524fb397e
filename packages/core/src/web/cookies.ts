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
 * @see https://www.rfc-editor.org/rfc/rfc6265#section-5.4
 */
export function readCookie(header: string | null | undefined, name: string): string | undefined {
  if (header == null || header.length > MAX_COOKIE_HEADER) return undefined
  const prefix = `${name}=`
  let found: string | undefined
  for (const part of header.split(';')) {
    const trimmed = part.trim()
    if (trimmed.startsWith(prefix)) {
      // The same name twice (e.g. set for two paths) is ambiguous: refuse it.
      if (found !== undefined) return undefined
      found = trimmed.slice(prefix.length)
    }
  }
  return found
}

/** A `Set-Cookie` value. `value` must already be cookie-safe (we only set base64url values). */
export function serializeCookie(name: string, value: string, attributes: CookieAttributes): string {
  let cookie = `${name}=${value}; Path=${attributes.path}; Max-Age=${attributes.maxAgeSeconds}; SameSite=${attributes.sameSite ?? 'Lax'}`
  if (attributes.httpOnly !== false) cookie += '; HttpOnly'
  if (attributes.secure) cookie += '; Secure'
  return cookie
}

/** A `Set-Cookie` value that deletes the cookie. */
export function clearCookie(name: string, attributes: Omit<CookieAttributes, 'maxAgeSeconds'>): string {
  return serializeCookie(name, '', { ...attributes, maxAgeSeconds: 0 })
}
