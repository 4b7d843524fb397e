import type { ClientOptions } from './client-auth.js'
import type { AuthorizationServerEndpoints } from './discovery.js'
import type { IdTokenClaims } from './id-token.js'
import type { LoggerObject, LoggerOption } from './logger.js'
import type { MetricsOption } from './metrics.js'
import type { Profile } from './profile.js'
import type { RetryOptions } from './retry.js'
import type { TokenStore } from './token-store.js'

/** What adapters do when a grant is dead. */
export type OnRefreshTokenExpired = 'reconsent' | 'error'

/**
 * Options of `OngoingAccess`. Validated once, at construction (a bad one throws `TypeError`).
 */
export interface OngoingAccessOptions {
  /**
   * How the authorization server is spoken to, when it does not speak standard OAuth 2.0 (for
   * example `digiMe({ … })` from `@ongoing/digime`). The profile then describes the server and the
   * client: `issuer`, `client`, `endpoints` and the other options of the standard profile are left
   * out. Default: the standard OAuth 2.0 / OpenID Connect profile, built from those options.
   */
  profile?: Profile
  /**
   * The authorization server's issuer identifier; its metadata is discovered (RFC 8414, then
   * OpenID Discovery). Required without a `profile`.
   */
  issuer?: string
  /** Endpoints, instead of discovery. */
  endpoints?: AuthorizationServerEndpoints
  /**
   * RFC 9207: whether the server sends `iss` in every authorization response. Default: what its
   * metadata says (`authorization_response_iss_parameter_supported`); false with explicit `endpoints`.
   * When true, a callback without `iss` is refused; a present `iss` is always checked.
   */
  issParameterSupported?: boolean
  /**
   * The client's registration: `{ id, secret }`, `{ id, privateKey }`, or `{ id, authMethod:
   * 'none' }` (public). Required without a `profile`.
   */
  client?: ClientOptions
  /** The redirect URI registered for the client: an absolute http(s) URL. */
  redirectUri: string
  /**
   * The scope to request. Include what makes your server issue refresh tokens (often
   * `offline_access`). Required without a `profile`; a profile may do without.
   */
  scope?: string
  /** Extra parameters for every authorization request (e.g. `{ prompt: 'consent' }`). Default: none. */
  authorizationParams?: Record<string, string>
  /**
   * Push every consent request to the server before the user is sent there (RFC 9126, "PAR"): the
   * whole authorization request (`redirect_uri`, `scope`, `state`, the PKCE challenge,
   * `authorizationParams`…) is POSTed to the server's `pushed_authorization_request_endpoint`,
   * authenticated as the client authenticates at the token endpoint, and the user is sent to the
   * authorization endpoint with `client_id` and the `request_uri` the server answered, nothing
   * else. The request then never passes through the browser, where it could be read or altered.
   *
   * When the server's metadata says `require_pushed_authorization_requests: true`, requests are
   * pushed whatever this option says (RFC 9126 §5). With the option set and no such endpoint in the
   * metadata (with explicit `endpoints`: no `endpoints.pushedAuthorizationRequest`), `ready()` and
   * `startConsent` reject with `ERR_CONFIGURATION`. A push the server refuses is
   * `ERR_TOKEN_ENDPOINT` (`status`, `oauthError`); a malformed answer `ERR_INVALID_RESPONSE`; no
   * answer `ERR_NETWORK`. Default: false (pushed only where the server requires it).
   *
   * @example
   * ```ts
   * new OngoingAccess({ ...options, pushedAuthorizationRequests: true })
   * // startConsent's url: https://as.example/authorize?client_id=my-app&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3A…
   * ```
   * @see https://www.rfc-editor.org/rfc/rfc9126#section-2 (the push), https://www.rfc-editor.org/rfc/rfc9126#section-4 (the redirect), https://www.rfc-editor.org/rfc/rfc9126#section-5 (metadata)
   */
  pushedAuthorizationRequests?: boolean
  /**
   * Sender-constrained tokens with DPoP (RFC 9449): each grant gets its own key pair, made at
   * consent (its thumbprint goes on the authorization request as `dpop_jkt`, §10) and kept with the
   * grant, sealed like the refresh token (never in clear, even with `encryptTokens: false`), so
   * every instance sharing the store refreshes and calls the API with it. Every token call (code
   * exchange, refresh, revocation) carries a proof (§4), and so does every API call made through
   * `access.fetch` (with `ath`, §7.1); server nonces are remembered per origin and a nonce challenge
   * costs one retry (§8, §9). Access tokens then have `tokenType: 'DPoP'`: present them through
   * `access.fetch`, which signs each request's proof. ES256 keys, or the first of EdDSA, PS256 and
   * RS256 the server's `dpop_signing_alg_values_supported` lists.
   *
   * A server that answers a proof with a Bearer token, or demands DPoP (or returns a DPoP token)
   * without this option, is `ERR_CONFIGURATION`. Grants made before the option was set stay
   * Bearer until the next consent. Default: false.
   *
   * @example
   * ```ts
   * const access = new OngoingAccess({ ...options, dpop: true })
   * const res = await access.fetch(userKey, 'https://api.example.com/me') // Authorization: DPoP …, DPoP: <proof>
   * ```
   * @see https://www.rfc-editor.org/rfc/rfc9449#section-4 (proofs), https://www.rfc-editor.org/rfc/rfc9449#section-5 (token requests), https://www.rfc-editor.org/rfc/rfc9449#section-7 (resource requests), https://www.rfc-editor.org/rfc/rfc9449#section-8 (nonces), https://www.rfc-editor.org/rfc/rfc9449#section-10 (`dpop_jkt`)
   */
  dpop?: boolean
  /**
   * At least 32 characters: seals consent transactions and encrypts tokens at rest (HKDF-derived
   * keys, one per purpose). An array rotates keys: the first seals, all open.
   */
  secret: string | readonly string[]
  /** Where grants live. Default: a new `MemoryTokenStore`. */
  store?: TokenStore
  /** Encrypt records before they reach the store. Default: true. */
  encryptTokens?: boolean
  /**
   * Refresh this many seconds before the token expires, or at half its life, whichever comes later
   * (a token living less than twice this is refreshed at half its life). Default: 60.
   */
  refreshSkewSeconds?: number
  /** What adapters do when a grant is dead: send a browser back to consent, or pass the error on. Default: 'reconsent'. */
  onRefreshTokenExpired?: OnRefreshTokenExpired
  /** How long a consent may take, from `startConsent` to the callback. Default: 600 s. */
  transactionTtlSeconds?: number
  /** Timeout of every call to the authorization server. Default: 10,000 ms. */
  requestTimeoutMs?: number
  /** Largest answer read from the authorization server. Default: 1 MiB. */
  maxResponseBytes?: number
  /**
   * OAuth error codes that, answering a refresh with a 4xx, mean that the grant is dead (the refresh
   * token expired or was revoked), besides `invalid_grant`, which always does. For servers that
   * answer a revoked refresh token with another error, such as `invalid_request` or
   * `unauthorized_client`. A listed error then forgets the grant and requires consent, as
   * `invalid_grant` does; any other 4xx is a failed refresh, retried later, and its error names
   * the code it saw. `invalid_client`, `server_error` and `temporarily_unavailable` cannot be
   * listed. Default: none.
   *
   * @example
   * ```ts
   * new OngoingAccess({ ...options, deadGrantErrors: ['invalid_request'] })
   * ```
   * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
   */
  deadGrantErrors?: readonly string[]
  /** Retries of transient refresh failures. Default: 3 attempts, 200 ms base, 2 s cap, Retry-After up to 10 s. */
  retry?: RetryOptions
  /** Bound on every token-store call; past it, `ERR_STORE`. Default: 1,000 ms. */
  storeTimeoutMs?: number
  /** Lifetime assumed when the server omits `expires_in`. Default: 3,600 s. */
  defaultExpiresInSeconds?: number
  /** How many users' fresh tokens the process-local cache holds. Default: 100,000. */
  cacheMaxEntries?: number
  /**
   * Allow plain `http:` for the issuer and the server's endpoints on hosts other than loopback
   * (`localhost`, `127.0.0.0/8`, `[::1]`). Tokens and client secrets would cross the network in
   * clear: only for a test network you control. Default: false (such URLs are refused).
   *
   * @see https://www.rfc-editor.org/rfc/rfc6749#section-3.2 (TLS required for the token endpoint)
   */
  allowInsecureRequests?: boolean
  /** The `fetch` used for every call to the authorization server and by `access.fetch`. Default: global `fetch`. */
  fetch?: typeof fetch
  /**
   * Algorithms accepted for ID token signatures (when `openid` is in the scope). Asymmetric only.
   * Default: RS256, PS256, PS384, PS512, ES256, ES384, EdDSA.
   */
  idTokenSigningAlgorithms?: string[]
  /**
   * Key each grant by who the user is at the authorization server, instead of by a key the app
   * gives `startConsent`: this function gets the verified ID token claims at the callback and
   * returns the user key (`claims.sub`, the user's stable identifier there, is the usual choice).
   * The same person consenting from two browsers, or again after clearing cookies, then has one
   * grant. Needs `openid` in `scope`; `startConsent` then takes no `userKey`, and
   * `finishConsent` returns the key it stored the grant under. Default: the key given to
   * `startConsent`.
   *
   * @example
   * ```ts
   * new OngoingAccess({ ...options, scope: 'openid offline_access', userKeyFromClaims: (claims) => claims.sub })
   * ```
   * @see https://openid.net/specs/openid-connect-core-1_0.html#ClaimStability (`sub` with `iss` is the stable identifier)
   */
  userKeyFromClaims?: (claims: IdTokenClaims) => string
  /**
   * Where log lines go; they never carry token material. A function `(level, message, fields)`,
   * `console`, a pino or bunyan logger as it is (see {@link LoggerObject}), or `false` for none.
   * Default: `warn` and `error` lines to `console.warn` / `console.error`.
   */
  logger?: LoggerOption
  /**
   * Metrics through OpenTelemetry: refreshes by outcome (`ongoing.refreshes`), their duration,
   * calls coalesced into another's refresh, time spent waiting for another holder of the store's
   * refresh lock, and, while a keeper runs (`keepFresh`), grants by status. Recorded only when the
   * app has `@opentelemetry/api` installed (an optional peer dependency, imported when there is a
   * first thing to record); a token served from the cache records nothing. Never any token material
   * or user key in attributes. See the README, "Metrics (OpenTelemetry)".
   *
   * `true`: through the global meter provider (`metrics.setGlobalMeterProvider` of
   * `@opentelemetry/api`, as the OpenTelemetry SDKs register it; without one, the API's no-op
   * meter). `{ meterProvider }`: through that provider. `false`: none. Default: `true`.
   *
   * @example
   * ```ts
   * import { ConsoleMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics'
   * const exporter = new ConsoleMetricExporter()
   * const meterProvider = new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter })] })
   * new OngoingAccess({ ...options, metrics: { meterProvider } })
   * ```
   */
  metrics?: MetricsOption
}

export function positiveNumber(
  value: unknown,
  name: string,
  fallback: number,
  { allowZero = false } = {},
): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new TypeError(`ongoing: \`${name}\` must be a ${allowZero ? 'non-negative' : 'positive'} number`)
  }
  return value
}

/** Whether `url` is on this machine: `localhost` (and `*.localhost`), `127.0.0.0/8` or `[::1]`. */
export function isLoopback(url: URL): boolean {
  const host = url.hostname
  return (
    host === 'localhost' ||
    host.endsWith('.localhost') ||
    host === '[::1]' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
  )
}

/**
 * Refuses an authorization server URL in plain `http:` off loopback, unless `allowInsecure`.
 *
 * @throws {TypeError} naming the option.
 */
export function checkSecureTransport(url: URL, name: string, allowInsecure: boolean): void {
  if (url.protocol === 'http:' && !allowInsecure && !isLoopback(url)) {
    throw new TypeError(
      `ongoing: \`${name}\` uses plain http off loopback; use https, or set \`allowInsecureRequests: true\` for a test network`,
    )
  }
}

export function absoluteHttpURL(value: unknown, name: string): URL {
  if (typeof value === 'string') {
    try {
      const url = new URL(value)
      if (url.protocol === 'http:' || url.protocol === 'https:') return url
    } catch {}
  }
  throw new TypeError(`ongoing: \`${name}\` must be an absolute http(s) URL`)
}
