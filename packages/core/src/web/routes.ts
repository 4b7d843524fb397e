import { ConsentRequiredError, isOngoingAccessError, OngoingAccessError } from '../errors.js'
import type { FinishConsentResult, OngoingAccess } from '../ongoing-access.js'
import { generateRandomToken } from '../pkce.js'
import { sanitizeReturnTo } from '../return-to.js'
import { openTransaction } from '../transaction.js'
import {
  clearCookie,
  cookieHeaderOf,
  findCookie,
  findCookiesByPrefix,
  type RequestWithHeaders,
  serializeCookie,
} from './cookies.js'
import { attachSetCookies, httpHeadersOf } from './http-status.js'
import { type OngoingRequestState, requestStateOf } from './request-state.js'
import { type OpenedUserKeyCookie, UserKeyCache } from './user-key-cache.js'

/** The little an adapter tells about a request. Header names are lower case. */
export interface WebRequest {
  method: string
  /** Path and query as the client sent them (Express `originalUrl`, Koa `originalUrl`). */
  url: string
  header(name: string): string | undefined
}

/** What an adapter writes back. */
export interface WebResponse {
  status: number
  headers: Record<string, string>
  /** `Set-Cookie` values, one each. */
  cookies: string[]
  /** JSON to send, if any. */
  json?: unknown
}

/** Options shared by every adapter's router and middleware. */
export interface OngoingRoutesOptions {
  /**
   * Path of the consent route as the browser sees it. Default: the sibling of `redirectUri`'s
   * path (`/auth/callback` → `/auth/consent`).
   */
  consentPath?: string
  /** Where the user lands after consent when no `returnTo` was given. Default: `/`. */
  defaultReturnTo?: string
  /** Prefix of the cookies the routes set. Default: `ongoing`. */
  cookieName?: string
  /** Lifetime of the random user-key cookie (used when the app gives no `userKey`). Default: 400 days. */
  userCookieMaxAgeSeconds?: number
}

const MAX_URL_LENGTH = 16 * 1024
const USER_KEY_CACHE_MAX = 10_000
/**
 * Transaction cookies kept alive at once, the new one included: enough for a few tabs consenting
 * at once, few enough that abandoned consents never push the `Cookie` header past what servers read.
 */
const MAX_LIVE_TRANSACTIONS = 3
/** A longer `returnTo` becomes the default: it travels sealed in a cookie, and cookies are small. */
const MAX_RETURN_TO_LENGTH = 1024
/** Stale transaction cookies cleared in one answer, at most (the rest go with the next). */
const MAX_CLEARED_PER_ANSWER = 16

/**
 * The consent, callback, refresh and disconnect routes and the per-request token logic, framework-free.
 * Adapters (`@ongoing/express`, `@ongoing/koa`, `@ongoing/nestjs`) only convert their request into a
 * {@link WebRequest} and a {@link WebResponse} back.
 *
 * @example
 * ```ts
 * const routes = new OngoingRoutes(access)
 * const response = await routes.consent(webRequest, userKeyFromSession)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-2.1 (state, PKCE), https://www.rfc-editor.org/rfc/rfc6265bis (SameSite)
 */
export class OngoingRoutes {
  /** Path of the consent route, as the browser sees it. */
  readonly consentPath: string
  /** Path of the callback route (the path of `redirectUri`). */
  readonly callbackPath: string
  /**
   * `Path` of the transaction cookies: the longest common directory of the consent and callback
   * paths (`/auth/consent`, `/auth/callback` → `/auth`), so that both routes receive them.
   */
  readonly transactionCookiePath: string
  readonly #access: OngoingAccess
  readonly #defaultReturnTo: string
  readonly #userCookie: string
  readonly #userCookieNeedle: string
  readonly #txCookiePrefix: string
  readonly #secure: boolean
  readonly #userCookieMaxAge: number
  readonly #txMaxAge: number
  readonly #userKeys = new UserKeyCache(USER_KEY_CACHE_MAX)

  constructor(access: OngoingAccess, options: OngoingRoutesOptions = {}) {
    this.#access = access
    const redirect = new URL(access.redirectUri)
    this.callbackPath = redirect.pathname
    this.consentPath = options.consentPath ?? siblingPath(redirect.pathname, 'consent')
    if (!this.consentPath.startsWith('/'))
      throw new TypeError('ongoing: `consentPath` must be an absolute path')
    this.#defaultReturnTo = sanitizeReturnTo(options.defaultReturnTo ?? '/')
    const name = options.cookieName ?? 'ongoing'
    if (!/^[A-Za-z0-9_-]+$/.test(name))
      throw new TypeError('ongoing: `cookieName` may hold only letters, digits, _ and -')
    this.#userCookie = `${name}.uid`
    this.#userCookieNeedle = `${this.#userCookie}=`
    this.#txCookiePrefix = `${name}.tx.`
    this.#secure = redirect.protocol === 'https:'
    this.#userCookieMaxAge = options.userCookieMaxAgeSeconds ?? 400 * 24 * 3600
    this.transactionCookiePath = commonDirectory(this.consentPath, this.callbackPath)
    this.#txMaxAge = Math.ceil(access.transactionTtlSeconds)
  }

  /**
   * The user key the routes keep in their sealed cookie, if the request carries a valid one.
   * Synchronous and cached: the hot path pays no crypto for a cookie it has seen.
   */
  userKeyFromCookie(request: WebRequest): string | undefined {
    return this.userKeyFromCookieHeader(request.header('cookie'))
  }

  /**
   * {@link OngoingRoutes.userKeyFromCookie} from a Node request (Express, Koa's `ctx.req`, Nest on
   * Express): the cookie is read from `rawHeaders` (see {@link cookieHeaderOf}), so Node need not
   * build `req.headers` for it.
   */
  userKeyFromNodeRequest(req: RequestWithHeaders): string | undefined {
    return this.userKeyFromCookieHeader(cookieHeaderOf(req))
  }

  /** {@link OngoingRoutes.userKeyFromCookie} from the raw `Cookie` header: nothing to allocate on the hot path. */
  userKeyFromCookieHeader(cookieHeader: string | undefined): string | undefined {
    return this.userKeyCookieFromHeader(cookieHeader)?.userKey
  }

  /**
   * The request's user-key cookie, opened: its user key, and its `renewal` when it was sealed
   * under a secret of the list that is not the current (first) one: the `Set-Cookie` value that
   * seals the same user key under the current secret, with the attributes and lifetime the consent
   * route gives the cookie. A protected route's middleware adds it to its answer, so that during a
   * rotation every request of a user moves their cookie to the new secret before the old one is
   * dropped. `undefined` when the request carries no cookie that opens.
   *
   * Cached like {@link OngoingRoutes.userKeyFromCookieHeader}: a cookie seen before costs no crypto
   * and no allocation (the cached object is returned); the renewal is sealed once per old cookie.
   *
   * @example
   * ```ts
   * const cookie = routes.userKeyCookieFromNodeRequest(req) // Express, or Koa's ctx.req
   * if (cookie?.renewal !== undefined) res.append('Set-Cookie', cookie.renewal)
   * const state = routes.requestState(cookie?.userKey)
   * ```
   */
  userKeyCookieFromNodeRequest(req: RequestWithHeaders): OpenedUserKeyCookie | undefined {
    return this.userKeyCookieFromHeader(cookieHeaderOf(req))
  }

  /** {@link OngoingRoutes.userKeyCookieFromNodeRequest} from the raw `Cookie` header. */
  userKeyCookieFromHeader(cookieHeader: string | undefined): OpenedUserKeyCookie | undefined {
    const sealed = findCookie(cookieHeader, this.#userCookieNeedle)
    if (sealed === undefined) return undefined
    const known = this.#userKeys.get(sealed)
    if (known !== undefined) return known
    const sealer = this.#access.sealer
    const userKey = sealer.open('user-key-cookie', sealed)
    if (userKey === undefined) return undefined
    // Opened under an older secret of the list: seal it again under the current one, once.
    const renewal = sealer.isSealedUnderCurrentKey('user-key-cookie', sealed)
      ? undefined
      : this.#userKeyCookie(userKey)
    return this.#userKeys.set(sealed, userKey, renewal)
  }

  /**
   * `GET consent`: starts a consent and redirects to the authorization server. The sealed
   * transaction goes into an HttpOnly, SameSite=Lax cookie named after its `state`, living
   * `transactionTtlSeconds`, so a few tabs can consent at once: the newest transaction cookies are
   * kept (three live at most, the new one included), older, expired or unreadable ones are cleared.
   * A `returnTo` over 1024 characters becomes `defaultReturnTo`. Without an app-given `userKey`, a
   * random one is kept in a sealed cookie; a cookie sealed under an older secret of the list is
   * sealed again under the current one (see {@link OngoingRoutes.userKeyCookieFromNodeRequest}).
   * When the access keys grants by the ID token's claims
   * (`userKeyFromClaims`), no user key is given or made here: the callback learns it.
   */
  async consent(request: WebRequest, userKey: string | undefined): Promise<WebResponse> {
    const cookies: string[] = []
    // Grants keyed by the ID token's claims: the callback learns whose grant it is.
    let key: string | undefined
    if (!this.#access.keysGrantsByClaims) {
      key = userKey
      if (key === undefined) {
        const cookie = this.userKeyCookieFromHeader(request.header('cookie'))
        if (cookie?.renewal !== undefined) cookies.push(cookie.renewal)
        key = cookie?.userKey
      }
      if (key === undefined) {
        key = generateRandomToken(16)
        cookies.push(this.#userKeyCookie(key))
      }
    }
    const url = new URL(request.url, 'http://request.invalid')
    const returnTo = this.#returnTo(url.searchParams.get('returnTo') ?? this.#defaultReturnTo)
    const started = await this.#access.startConsent(
      key === undefined ? { returnTo } : { userKey: key, returnTo },
    )
    const name = this.#txCookieName(started.state)
    const received = findCookiesByPrefix(request.header('cookie'), this.#txCookiePrefix)
    const kept = this.#liveTransactionCookies(received)
      .filter((live) => live !== name)
      .slice(0, MAX_LIVE_TRANSACTIONS - 1)
    cookies.push(...this.#clearTransactionCookies(received, new Set([name, ...kept])))
    cookies.push(
      serializeCookie(name, started.transaction, {
        path: this.transactionCookiePath,
        maxAgeSeconds: this.#txMaxAge,
        secure: this.#secure,
      }),
    )
    return { status: 302, headers: { location: started.url.href, 'cache-control': 'no-store' }, cookies }
  }

  /**
   * `GET callback`: finishes the consent whose transaction cookie matches `state`, clears that
   * cookie (and any expired or unreadable one; other tabs' live ones stay), and redirects (303) to
   * `returnTo`. With `userKeyFromClaims`, the user-key cookie is set to the key the claims gave
   * (so every browser of that user reaches the same grant), or sealed again under the current
   * secret when it names that key under an older one. `result` says whose grant was stored (a login strategy hands it to the app); it
   * holds a token, so adapters never write it out. The transaction cookie is found even when the
   * `Cookie` header is over 8 KB.
   *
   * @throws {OngoingAccessError} for every bad callback (adapters map it with `httpStatusOf`); it
   *   carries the same clearing cookies (`setCookiesOf`).
   */
  async callback(request: WebRequest): Promise<WebResponse & { result: FinishConsentResult }> {
    if (request.url.length > MAX_URL_LENGTH)
      throw new OngoingAccessError('ERR_AUTHORIZATION', 'Callback URL is too long')
    // Build the callback URL on the registered redirect URI, never on the Host header.
    const callbackUrl = new URL(request.url, this.#access.redirectUri)
    const states = callbackUrl.searchParams.getAll('state')
    const state = states.length === 1 ? states[0] : undefined
    const cookieName = state === undefined ? undefined : this.#txCookieName(state)
    const received = findCookiesByPrefix(request.header('cookie'), this.#txCookiePrefix)
    const matching = received.filter(([name]) => name === cookieName)
    // The same name twice (say, set for two paths) is ambiguous: refuse it.
    const transaction = matching.length === 1 ? matching[0]?.[1] : undefined
    // Other tabs' consents stay; expired and unreadable cookies go with this one.
    const others = this.#liveTransactionCookies(received).filter((live) => live !== cookieName)
    const cookies = this.#clearTransactionCookies(received, new Set(others))
    let result: FinishConsentResult
    try {
      result = await this.#access.finishConsent({ callbackUrl, transaction })
    } catch (err) {
      attachSetCookies(err, cookies)
      throw err
    }
    // Keyed by the claims: the user-key cookie names the grant just stored, in this browser as in any other.
    if (this.#access.keysGrantsByClaims) {
      const cookie = this.userKeyCookieFromHeader(request.header('cookie'))
      if (cookie?.userKey !== result.userKey) cookies.push(this.#userKeyCookie(result.userKey))
      else if (cookie.renewal !== undefined) cookies.push(cookie.renewal)
    }
    return {
      status: 303,
      headers: {
        location: result.returnTo ?? this.#defaultReturnTo,
        'cache-control': 'no-store',
        'referrer-policy': 'no-referrer',
      },
      cookies,
      result,
    }
  }

  /**
   * `POST refresh`: forces a refresh of the caller's grant. Answers `{ expiresAt, refreshed }`,
   * never a token. Cross-site requests are refused (Fetch Metadata, then `Origin`). A user-key
   * cookie sealed under an older secret of the list is sealed again under the current one.
   */
  async refresh(request: WebRequest, userKey: string | undefined): Promise<WebResponse> {
    const refused = this.#refuseCrossSite(request)
    if (refused !== undefined) return refused
    const cookie = userKey === undefined ? this.userKeyCookieFromHeader(request.header('cookie')) : undefined
    const key = userKey ?? cookie?.userKey
    // A cookie under an older secret is sealed again under the current one, whatever the answer.
    const renewal = cookie?.renewal === undefined ? [] : [cookie.renewal]
    if (key === undefined) return this.consentRequired(request, new ConsentRequiredError('', 'no_grant'))
    try {
      const token = await this.#access.getAccessToken(key, { forceRefresh: true })
      return {
        status: 200,
        headers: { 'cache-control': 'no-store' },
        cookies: renewal,
        json: { expiresAt: token.expiresAt, refreshed: token.refreshed },
      }
    } catch (err) {
      if (!(err instanceof ConsentRequiredError)) throw err
      const answer = this.consentRequired(request, err)
      answer.cookies.push(...renewal)
      return answer
    }
  }

  /**
   * `POST disconnect`: the user disconnects. Revokes the caller's grant with
   * {@link OngoingAccess.revoke} (at the authorization server when it has a revocation endpoint,
   * RFC 7009; the grant is forgotten here whatever the server answers) and clears the user-key
   * cookie when the app gives no `userKey` and the request carries one. Cross-site requests are
   * refused (403) as for {@link OngoingRoutes.refresh}, and touch nothing.
   *
   * Answers `{ disconnected, revokedAtServer }`, never a token: `disconnected` is whether there was
   * a user to disconnect (no `userKey` and no valid cookie: nothing is done, `false`, still a 200,
   * so a second click is harmless); `revokedAtServer` whether the server confirmed the revocation.
   * A browser's form post (`Sec-Fetch-Mode: navigate`, or `Accept: text/html` without Fetch
   * Metadata) is redirected (303) instead, to the `returnTo` of the query when it is a same-origin
   * path, else to `defaultReturnTo`.
   *
   * @throws {OngoingAccessError} `ERR_STORE` when the store cannot delete the grant.
   * @example
   * ```ts
   * const answer = await routes.disconnect(webRequest, userKeyFromSession)
   * // 200 { disconnected: true, revokedAtServer: true }, or a 303 for a form post
   * ```
   * @see https://www.rfc-editor.org/rfc/rfc7009#section-2
   */
  async disconnect(request: WebRequest, userKey: string | undefined): Promise<WebResponse> {
    const refused = this.#refuseCrossSite(request)
    if (refused !== undefined) return refused
    const cookies: string[] = []
    let key = userKey
    if (key === undefined) {
      key = this.userKeyFromCookie(request)
      // The router's own cookie goes, readable or not: it names no grant any more.
      if (findCookie(request.header('cookie'), this.#userCookieNeedle) !== undefined)
        cookies.push(clearCookie(this.#userCookie, { path: '/', secure: this.#secure }))
    }
    const { revokedAtServer } =
      key === undefined ? { revokedAtServer: false } : await this.#access.revoke(key)
    if (isFormNavigation(request)) {
      const url = new URL(request.url, 'http://request.invalid')
      const location = this.#returnTo(url.searchParams.get('returnTo') ?? this.#defaultReturnTo)
      return { status: 303, headers: { location, 'cache-control': 'no-store' }, cookies }
    }
    return {
      status: 200,
      headers: { 'cache-control': 'no-store' },
      cookies,
      json: { disconnected: key !== undefined, revokedAtServer },
    }
  }

  /**
   * What a protected request gets ({@link OngoingRequestState}): synchronous when a fresh token is
   * cached (no promise is created), a promise otherwise. Rejects with `ConsentRequiredError` when
   * there is no grant.
   */
  requestState(userKey: string | undefined): OngoingRequestState | Promise<OngoingRequestState> {
    if (userKey === undefined) return Promise.reject(new ConsentRequiredError('', 'no_grant'))
    const cached = this.#access.getCachedAccessToken(userKey)
    if (cached !== undefined) return requestStateOf(this.#access, cached, userKey)
    return this.#access.getAccessToken(userKey).then((token) => requestStateOf(this.#access, token, userKey))
  }

  /**
   * Whether the adapter should answer consent-required itself (`'reconsent'`), or pass the error to
   * the framework's error handling (`'error'`).
   */
  handlesConsentRequired(err: unknown): err is ConsentRequiredError {
    return (
      this.#access.onRefreshTokenExpired === 'reconsent' &&
      isOngoingAccessError(err) &&
      err.code === 'ERR_CONSENT_REQUIRED'
    )
  }

  /**
   * The answer when consent is required: a browser navigation is redirected to the consent route
   * with `returnTo` set to where it was; anything else gets `401` with
   * `WWW-Authenticate: Bearer error="invalid_token"` and a JSON body naming the consent URL.
   *
   * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
   */
  consentRequired(request: WebRequest, err: ConsentRequiredError): WebResponse {
    const returnTo = this.#returnTo(
      request.method === 'GET' || request.method === 'HEAD' ? request.url : this.#defaultReturnTo,
    )
    const consentUrl = `${this.consentPath}?${new URLSearchParams({ returnTo })}`
    if (isBrowserNavigation(request)) {
      return { status: 302, headers: { location: consentUrl, 'cache-control': 'no-store' }, cookies: [] }
    }
    return {
      status: 401,
      headers: httpHeadersOf(401),
      cookies: [],
      json: { error: 'consent_required', reason: err.reason, consentUrl },
    }
  }

  /**
   * The answer to a state-changing request from another site (`POST refresh`, `POST disconnect`),
   * or `undefined` when it comes from ours.
   */
  #refuseCrossSite(request: WebRequest): WebResponse | undefined {
    if (isSameOriginRequest(request, this.#access.redirectUri)) return undefined
    return {
      status: 403,
      headers: { 'cache-control': 'no-store' },
      cookies: [],
      json: { error: 'cross_site_request' },
    }
  }

  /** The `Set-Cookie` value of the sealed user-key cookie. */
  #userKeyCookie(userKey: string): string {
    const sealed = this.#access.sealer.seal('user-key-cookie', userKey)
    return serializeCookie(this.#userCookie, sealed, {
      path: '/',
      maxAgeSeconds: this.#userCookieMaxAge,
      secure: this.#secure,
    })
  }

  #txCookieName(state: string): string {
    // Named after the state, so concurrent consents in two tabs keep their own transaction.
    return this.#txCookiePrefix + state.slice(0, 16).replace(/[^A-Za-z0-9_-]/g, '')
  }

  #returnTo(requested: string): string {
    const returnTo = sanitizeReturnTo(requested, this.#defaultReturnTo)
    return returnTo.length > MAX_RETURN_TO_LENGTH ? this.#defaultReturnTo : returnTo
  }

  /** Names of the transaction cookies that still open and have not expired, newest first. */
  #liveTransactionCookies(received: ReadonlyArray<[string, string]>): string[] {
    const live: Array<{ name: string; expiresAt: number }> = []
    const now = Date.now()
    for (const [name, value] of received) {
      try {
        const { expiresAt } = openTransaction(this.#access.sealer, value, this.#access.issuer, now)
        live.push({ name, expiresAt })
      } catch {
        // Tampered, expired, sealed under a retired secret or for another issuer: not live.
      }
    }
    return live.sort((a, b) => b.expiresAt - a.expiresAt).map((cookie) => cookie.name)
  }

  /** `Set-Cookie` values that delete the received transaction cookies not named in `keep`. */
  #clearTransactionCookies(received: ReadonlyArray<[string, string]>, keep: ReadonlySet<string>): string[] {
    const names = new Set<string>()
    for (const [name] of received) {
      if (!keep.has(name)) names.add(name)
    }
    return [...names]
      .slice(0, MAX_CLEARED_PER_ANSWER)
      .map((name) => clearCookie(name, { path: this.transactionCookiePath, secure: this.#secure }))
  }
}

/** The longest directory both paths are in (`/a/b/x`, `/a/c` → `/a`), for a cookie's `Path`. */
function commonDirectory(one: string, other: string): string {
  const a = one.split('/').slice(1, -1)
  const b = other.split('/').slice(1, -1)
  let shared = 0
  while (shared < a.length && shared < b.length && a[shared] === b[shared]) shared++
  const path = `/${a.slice(0, shared).join('/')}`
  // A path a cookie attribute cannot carry falls back to the whole site.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: that is the point
  return /[;,\s\u0000-\u001f\u007f]/.test(path) ? '/' : path
}

function siblingPath(path: string, name: string): string {
  const slash = path.lastIndexOf('/')
  return `${path.slice(0, slash + 1)}${name}`
}

/**
 * A top-level navigation that can be redirected (not fetch/XHR asking for JSON): `GET` or `HEAD`
 * with `Sec-Fetch-Mode: navigate`, or, without Fetch Metadata, an `Accept` that names `text/html`.
 *
 * @example
 * ```ts
 * if (isBrowserNavigation(request)) redirectTo('/auth/consent')
 * else answer401()
 * ```
 * @see https://www.w3.org/TR/fetch-metadata/
 */
export function isBrowserNavigation(request: WebRequest): boolean {
  if (request.method !== 'GET' && request.method !== 'HEAD') return false
  const mode = request.header('sec-fetch-mode')
  if (mode !== undefined) return mode === 'navigate'
  const accept = request.header('accept') ?? ''
  return accept.includes('text/html')
}

/** A form a browser posts as a navigation (it shows the answer as a page), not fetch/XHR. */
function isFormNavigation(request: WebRequest): boolean {
  if (request.method !== 'POST') return false
  const mode = request.header('sec-fetch-mode')
  if (mode !== undefined) return mode === 'navigate'
  return (request.header('accept') ?? '').includes('text/html')
}

/**
 * Whether a state-changing request comes from our own site: `Sec-Fetch-Site` when the browser sends
 * it, otherwise `Origin` compared with the redirect URI's origin (never with `Host`).
 *
 * @example
 * ```ts
 * if (!isSameOriginRequest(request, access.redirectUri)) return { status: 403, headers: {}, cookies: [] }
 * ```
 * @see https://www.w3.org/TR/fetch-metadata/
 */
export function isSameOriginRequest(request: WebRequest, redirectUri: string): boolean {
  const site = request.header('sec-fetch-site')
  if (site !== undefined) return site === 'same-origin'
  const origin = request.header('origin')
  return origin !== undefined && origin === new URL(redirectUri).origin
}
