/** Options of {@link driveConsent}. */
export interface DriveConsentOptions {
  /** Login name to sign in with; it becomes the account id (`sub`). Default `'alice'`. */
  login?: string
  /**
   * Where the authorization server sends the browser back: the first redirect whose `Location`
   * starts with this is the result, and is not requested.
   */
  redirectUriPrefix: string
  /**
   * Approve at the consent page (`true`), or cancel there, which produces
   * `error=access_denied` on the callback (`false`). Default `true`.
   */
  approve?: boolean
  /** The fetch to use. Default `globalThis.fetch`. */
  fetch?: typeof fetch
}

const MAX_STEPS = 20

interface HTMLForm {
  action: string
  fields: URLSearchParams
}

/**
 * Plays the user's browser through the test authorization server's login and consent pages,
 * without a browser, and returns the callback URL the server redirects to.
 *
 * It follows redirects itself, keeps the server's cookies for the duration of this one call,
 * signs in at the login page with `login` (any password) and approves or cancels at the consent
 * page. Each call is a fresh browser: it always signs in.
 *
 * @param authorizationUrl - The authorization request URL the client under test built: the whole
 *   request in its query, or a pushed request's `client_id` and `request_uri` (RFC 9126).
 * @param options - Login name, redirect URI prefix, approve or cancel, and fetch.
 * @returns The callback URL (with `code`, `state` and `iss`, or `error`), not requested.
 * @throws Error when the server answers with anything but a redirect, a login page or a consent
 *   page (for example, an error page for an unknown client or redirect URI), or after too many
 *   steps.
 * @example
 * ```ts
 * const callback = await driveConsent(authorizationUrl, {
 *   redirectUriPrefix: 'http://127.0.0.1:3000/auth/callback',
 *   login: 'bob',
 * })
 * callback.searchParams.get('code')
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1 Authorization request
 */
export async function driveConsent(
  authorizationUrl: URL | string,
  options: DriveConsentOptions,
): Promise<URL> {
  const { redirectUriPrefix, login = 'alice', approve = true, fetch: fetchImpl = globalThis.fetch } = options
  if (typeof redirectUriPrefix !== 'string' || redirectUriPrefix === '') {
    throw new TypeError('redirectUriPrefix must be a non-empty string')
  }
  if (typeof login !== 'string' || login === '') {
    throw new TypeError('login must be a non-empty string')
  }

  const cookies = new CookieJar()
  let url = new URL(authorizationUrl)
  let init: RequestInit = { method: 'GET' }

  for (let step = 0; step < MAX_STEPS; step++) {
    const headers = new Headers(init.headers)
    const cookie = cookies.header()
    if (cookie) {
      headers.set('cookie', cookie)
    }
    const response = await fetchImpl(url, { ...init, headers, redirect: 'manual' })
    cookies.store(response.headers)

    const location = response.headers.get('location')
    if (response.status >= 300 && response.status < 400 && location) {
      await response.body?.cancel()
      const next = new URL(location, url)
      if (next.href.startsWith(redirectUriPrefix)) {
        return next
      }
      url = next
      init = { method: 'GET' }
      continue
    }

    const body = await response.text()
    if (response.status !== 200 || !(response.headers.get('content-type') ?? '').includes('text/html')) {
      throw new Error(
        `authorization server answered ${response.status} at ${url.pathname}: ${describeError(body)}`,
      )
    }

    const form = parseForm(body, url)
    const prompt = form?.fields.get('prompt')
    if (form && prompt === 'login') {
      form.fields.set('login', login)
      form.fields.set('password', 'any password')
    } else if (form && prompt === 'consent') {
      if (!approve) {
        const abort = parseAbortLink(body, url)
        if (!abort) {
          throw new Error('consent page has no cancel link')
        }
        url = abort
        init = { method: 'GET' }
        continue
      }
    } else {
      throw new Error(`unexpected page at ${url.pathname}: neither a login nor a consent form`)
    }
    url = new URL(form.action)
    init = {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form.fields.toString(),
    }
  }
  throw new Error(`no redirect to ${redirectUriPrefix} after ${MAX_STEPS} steps`)
}

/** The first `<form>` of a page: its absolute action URL and its prefilled input values. */
function parseForm(html: string, base: URL): HTMLForm | undefined {
  const match = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html)
  if (!match) {
    return undefined
  }
  const action = attribute(match[1] ?? '', 'action')
  const fields = new URLSearchParams()
  for (const input of (match[2] ?? '').matchAll(/<input\b([^>]*)>/gi)) {
    const name = attribute(input[1] ?? '', 'name')
    if (name) {
      fields.append(name, attribute(input[1] ?? '', 'value') ?? '')
    }
  }
  return { action: new URL(action ?? base.href, base).href, fields }
}

function parseAbortLink(html: string, base: URL): URL | undefined {
  for (const anchor of html.matchAll(/<a\b([^>]*)>/gi)) {
    const href = attribute(anchor[1] ?? '', 'href')
    if (href && new URL(href, base).pathname.endsWith('/abort')) {
      return new URL(href, base)
    }
  }
  return undefined
}

function attribute(attributes: string, name: string): string | undefined {
  const match = new RegExp(`(?:^|\\s)${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)'|([^\\s>]+))`, 'i').exec(
    attributes,
  )
  if (!match) {
    return undefined
  }
  return decodeEntities(match[1] ?? match[2] ?? match[3] ?? '')
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }

function decodeEntities(value: string): string {
  return value.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (entity, code: string) => {
    if (code.startsWith('#x') || code.startsWith('#X')) {
      return String.fromCodePoint(Number.parseInt(code.slice(2), 16))
    }
    if (code.startsWith('#')) {
      return String.fromCodePoint(Number.parseInt(code.slice(1), 10))
    }
    return ENTITIES[code.toLowerCase()] ?? entity
  })
}

/** `error: description` from a JSON error body (the test server's error page), else a generic note. */
function describeError(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown; error_description?: unknown }
    if (typeof parsed.error === 'string') {
      return typeof parsed.error_description === 'string'
        ? `${parsed.error}: ${parsed.error_description}`
        : parsed.error
    }
  } catch {
    // not JSON
  }
  return 'unexpected response'
}

/** Just enough of a cookie jar for one host: name → value, deletions honoured. */
class CookieJar {
  readonly #cookies = new Map<string, string>()

  store(headers: Headers): void {
    for (const setCookie of headers.getSetCookie()) {
      const [pair = '', ...attributes] = setCookie.split(';')
      const separator = pair.indexOf('=')
      if (separator <= 0) {
        continue
      }
      const name = pair.slice(0, separator).trim()
      const value = pair.slice(separator + 1).trim()
      if (value === '' || attributes.some(isExpiring)) {
        this.#cookies.delete(name)
      } else {
        this.#cookies.set(name, value)
      }
    }
  }

  header(): string {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ')
  }
}

function isExpiring(attribute: string): boolean {
  const [rawName = '', rawValue = ''] = attribute.split('=', 2)
  const name = rawName.trim().toLowerCase()
  if (name === 'max-age') {
    return Number(rawValue.trim()) <= 0
  }
  if (name === 'expires') {
    const expiresAt = Date.parse(rawValue.trim())
    return !Number.isNaN(expiresAt) && expiresAt <= Date.now()
  }
  return false
}
