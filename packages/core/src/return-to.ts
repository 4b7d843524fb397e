/**
 * Keeps `returnTo` a same-origin relative path: anything else (`//host`, `/\host`, a scheme, encoded
 * slashes or backslashes, control characters, `@` tricks) becomes `fallback`.
 *
 * @example
 * ```ts
 * sanitizeReturnTo('/library?tab=genres') // '/library?tab=genres'
 * sanitizeReturnTo('//evil.example')      // '/'
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.11 (open redirectors)
 */
export function sanitizeReturnTo(returnTo: unknown, fallback = '/'): string {
  if (typeof returnTo !== 'string' || returnTo.length === 0 || returnTo.length > 2048) return fallback
  if (!returnTo.startsWith('/') || returnTo.startsWith('//')) return fallback
  // Backslashes and control characters are read as slashes or dropped by some browsers.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: that is the point
  if (/[\\\u0000-\u001f\u007f]/.test(returnTo)) return fallback
  // Encoded slashes and backslashes may be decoded by a proxy or a later redirect.
  if (/%(2f|5c|09|0a|0d|00)/i.test(returnTo)) return fallback
  const base = 'http://same-origin.invalid'
  let url: URL
  try {
    url = new URL(returnTo, base)
  } catch {
    return fallback
  }
  if (url.origin !== base) return fallback
  const path = `${url.pathname}${url.search}${url.hash}`
  // Dot segments can normalize into a protocol-relative path: '/.//evil.com' → '//evil.com'.
  return path.startsWith('//') ? fallback : path
}
