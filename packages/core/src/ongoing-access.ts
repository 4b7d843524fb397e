import { EventEmitter } from 'node:events'
import type { AccessToken, Grant } from './access-token.js'
import { ChangeFeed } from './change-feed.js'
import { ConsentFlow, userKeyFromClaimsOf } from './consent.js'
import type { DeadGrantPolicy } from './dead-grant.js'
import type { AuthorizationServerMetadata } from './discovery.js'
import { type ConsentRequiredError, OngoingAccessError } from './errors.js'
import type { GrantInfo } from './grant-info.js'
import { GrantInventory, type GrantsOptions } from './grant-inventory.js'
import { GrantRepository } from './grant-repository.js'
import { requestAS } from './http.js'
import type { IdTokenClaims } from './id-token.js'
import { GrantKeeper, type Keeper, type KeepFreshOptions } from './keeper.js'
import { Lease } from './lease.js'
import { LogThrottle } from './log-throttle.js'
import { type Logger, resolveLogger } from './logger.js'
import { MemoryTokenStore } from './memory-token-store.js'
import { type Metrics, metricsFrom } from './metrics.js'
import {
  absoluteHttpURL,
  type OngoingAccessOptions,
  type OnRefreshTokenExpired,
  positiveNumber,
} from './options.js'
import { generateRandomToken } from './pkce.js'
import type { ProfileClient } from './profile.js'
import {
  BoundedMap,
  noteDiscovered,
  type RefreshContext,
  type RefreshRequest,
  refreshGrant,
  storedIfFresh,
} from './refresh.js'
import { maxTotalBackoffMs, type ResolvedRetryOptions, resolveRetryOptions } from './retry.js'
import { Sealer, secretsFrom } from './sealing.js'
import { standardProfile } from './standard-profile.js'
import { TokenCache } from './token-cache.js'
import type { TokenStore } from './token-store.js'
import type { UnreadableGrantWarning } from './unreadable-grant.js'
import { checkUserKey } from './user-key.js'

/** Options of {@link OngoingAccess.startConsent}. */
export interface StartConsentOptions {
  /**
   * Whose grant this consent creates (your user id, or a random key the adapter keeps in a cookie).
   * Required, unless the access keys grants by the ID token's claims (`userKeyFromClaims` in its
   * options): then it must be left out, and `finishConsent` says whose grant it stored.
   */
  userKey?: string
  /** Where to send the user after the callback: a same-origin relative path (anything else becomes `/`). */
  returnTo?: string
  /** Scope for this consent. Default: the configured `scope`. */
  scope?: string
  /** Extra authorization request parameters for this consent (after `authorizationParams`). */
  params?: Record<string, string>
}

/** What {@link OngoingAccess.startConsent} returns. */
export interface StartConsentResult {
  /** Send the user here. */
  url: URL
  /** The sealed transaction: keep it for the callback (adapters put it in an HttpOnly cookie). */
  transaction: string
  /** The `state` parameter in `url`. */
  state: string
  /** The PKCE code verifier, sealed inside `transaction` as well. Never put it in a URL or a log. */
  codeVerifier: string
}

/** Options of {@link OngoingAccess.finishConsent}. */
export interface FinishConsentOptions {
  /** The full callback URL the authorization server redirected to (query included). */
  callbackUrl: URL | string
  /** The sealed transaction `startConsent` returned. */
  transaction: string | undefined
}

/** What {@link OngoingAccess.finishConsent} returns. */
export interface FinishConsentResult {
  /** Whose grant was stored: the `userKey` given to `startConsent`, or what `userKeyFromClaims` made of the claims. */
  userKey: string
  /** The sanitized `returnTo` given to `startConsent`, if any. */
  returnTo?: string | undefined
  token: AccessToken
  /**
   * The claims of the ID token, verified (signature with the server's keys, `iss`, `aud`, `azp`,
   * `exp`, and the `nonce` this consent sent), when `openid` was in the scope and the server's
   * metadata names its keys (`jwks_uri`); otherwise `undefined`. `claims.sub` is the user's
   * stable identifier at the server.
   */
  claims?: IdTokenClaims | undefined
}

/** Options of {@link OngoingAccess.getAccessToken}. */
export interface GetAccessTokenOptions {
  /** Refresh even when the token looks fresh. Joins a refresh already under way. */
  forceRefresh?: boolean
}

/** Tokens to import with {@link OngoingAccess.restore}. */
export interface RestoreTokens {
  accessToken: string
  refreshToken?: string
  /** ms since epoch; or give `expiresIn`. */
  expiresAt?: number
  /** Seconds from now; or give `expiresAt`. */
  expiresIn?: number
  /** When the refresh token expires, in ms since epoch, when known (the grant is then dead past it). */
  refreshExpiresAt?: number
  scope?: string
}

/** What {@link OngoingAccess.revoke} did. */
export interface RevokeResult {
  /** True when the authorization server confirmed the revocation (RFC 7009). */
  revokedAtServer: boolean
}

/** Payloads of the events `OngoingAccess` emits. */
export interface OngoingAccessEvents {
  /**
   * A new grant was stored: by `finishConsent` (`source: 'consent'`) or `restore`
   * (`source: 'restore'`). It replaces whatever grant the user had.
   */
  consent: [{ userKey: string; source: 'consent' | 'restore'; scope: string | undefined }]
  /** A grant was refreshed and saved. */
  refresh: [{ userKey: string; expiresAt: number; rotated: boolean }]
  /**
   * A refresh failed for a reason other than a dead grant (network, server, store). `nextAttemptAt`
   * (ms since epoch): no token call for this grant before then; until then callers get the still
   * valid access token, or this error once it has expired.
   */
  refreshError: [
    {
      userKey: string
      error: OngoingAccessError
      nextAttemptAt: number | undefined
      /**
       * True when the failure is likely to pass by itself: no answer, a store outage, a 5xx, a 429, a
       * malformed answer. False for a 4xx other than 429 (say `invalid_client`, or a dead grant the server labels its
       * own way, see `deadGrantErrors`): something to fix, which retrying alone will not.
       */
      transient: boolean
    },
  ]
  /** A grant is missing, dead, or does not open here (`reason`): the user must consent again. */
  consentRequired: [{ userKey: string; reason: ConsentRequiredError['reason'] }]
  /** `revoke` forgot a grant; `revokedAtServer` when the server confirmed its revocation. */
  revoke: [{ userKey: string; revokedAtServer: boolean }]
  /**
   * Something an operator should fix (see {@link OngoingAccessWarning}): a consent finished and its
   * grant is stored, but it may not be ongoing (at most once per `finishConsent`); or a stored
   * grant does not open in this process (every time it is read, just before `consentRequired`
   * with reason `unreadable`). Each is logged at `warn` as well; the second kind at most once a
   * minute per code, the line saying how many it held back.
   */
  warning: [OngoingAccessWarning]
}

/**
 * What the `warning` event carries.
 *
 * - `offline_access_not_granted`: `offline_access` was requested, and the scope the server granted
 *   (the token response's `scope`) lacks it. Without a refresh token the grant ends when its access
 *   token expires; with one, the server may end it with the user's session there (at their next
 *   logout). Usually a `prompt` without `consent` set by the app, or a server policy.
 * - `no_refresh_token`: the code exchange returned no refresh token (and `offline_access` was not
 *   dropped): the grant ends when its access token expires.
 * - `grant_unreadable`: a grant is stored for the user but does not open here: sealed under a
 *   `secret` this process does not list, written with `encryptTokens` set otherwise, or altered in
 *   the store. Give every process that shares the store the same `secret` (while rotating,
 *   `secret: [new, old]`) and the same `encryptTokens`.
 * - `grant_under_other_issuer`: no grant is stored under this process's issuer, but one is under
 *   the other spelling of it (with or without a trailing slash); the message names both. Configure
 *   the same issuer string everywhere, exactly the `issuer` of the server's metadata.
 *
 * The last two leave the stored record as it is; `getAccessToken` throws `ConsentRequiredError`
 * with reason `unreadable`.
 *
 * @example
 * ```ts
 * access.on('warning', ({ userKey, code, message }) => log.warn({ userKey, code }, message))
 * ```
 */
export interface OngoingAccessWarning {
  userKey: string
  code: 'offline_access_not_granted' | 'no_refresh_token' | 'grant_unreadable' | 'grant_under_other_issuer'
  /** A sentence for people; never token material. */
  message: string
}

/** A refresh under way for one grant in this process, and what it was asked. */
interface InFlight {
  request: RefreshRequest
  promise: Promise<AccessToken>
  /** The change sequence number when it started: a change of the grant heard since makes it stale. */
  seq: number
}

/**
 * Ongoing access to a user's data at an OAuth 2.0 authorization server: the user consents once,
 * then `getAccessToken` returns a fresh access token for that user, in requests and in background
 * jobs, refreshing it once per grant however many callers ask at the same time.
 *
 * @example
 * ```ts
 * const access = new OngoingAccess({
 *   issuer: 'https://as.example.com',
 *   client: { id: 'app', secret: process.env.CLIENT_SECRET! },
 *   redirectUri: 'https://app.example.com/auth/callback',
 *   scope: 'offline_access api:read',
 *   secret: process.env.ONGOING_SECRET!,
 * })
 * const { url, transaction } = await access.startConsent({ userKey: 'user-42', returnTo: '/library' })
 * // … the user consents, the AS redirects to the callback …
 * await access.finishConsent({ callbackUrl: req.url, transaction })
 * const token = await access.getAccessToken('user-42') // fresh, now and later
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749 (OAuth 2.0), RFC 7636 (PKCE), RFC 9207 (iss), RFC 9700 (security BCP)
 */
export class OngoingAccess extends EventEmitter<OngoingAccessEvents> {
  /** The configured issuer identifier. */
  readonly issuer: string
  /** The registered redirect URI. */
  readonly redirectUri: string
  /** What adapters do when consent is required. */
  readonly onRefreshTokenExpired: OnRefreshTokenExpired
  /** The token store in use. */
  readonly store: TokenStore
  /** @internal Seals with keys derived from `secret`; adapters use it for their cookies. */
  readonly sealer: Sealer

  readonly #fetch: typeof fetch
  /** How the server is spoken to: the `profile` option, or the standard one. */
  readonly #profile: ProfileClient
  readonly #requestTimeoutMs: number
  readonly #retry: ResolvedRetryOptions
  readonly #repository: GrantRepository
  readonly #logger: Logger
  readonly #metrics: Metrics
  readonly #skewMs: number
  readonly #transactionTtlMs: number
  /** Changes of grants seen in this process, and who waits for them. */
  readonly #changes = new ChangeFeed()
  /** Fresh tokens, for the hot path. */
  readonly #cache: TokenCache
  readonly #inventory: GrantInventory
  readonly #keepers = new Set<GrantKeeper>()
  readonly #inflight = new Map<string, InFlight>()
  #closed = false
  readonly #consent: ConsentFlow
  readonly #refreshContext: RefreshContext
  #unsubscribe: (() => void) | undefined
  /** Log lines about stored grants this process cannot use: at most one a minute per code. */
  readonly #storedGrantWarnings = new LogThrottle(60_000)

  constructor(options: OngoingAccessOptions) {
    super()
    if (typeof options !== 'object' || options === null) throw new TypeError('ongoing: options are required')
    if (options.allowInsecureRequests !== undefined && typeof options.allowInsecureRequests !== 'boolean')
      throw new TypeError('ongoing: `allowInsecureRequests` must be a boolean')
    const standard = options.profile === undefined
    const profile = options.profile ?? standardProfile(options)
    if (!standard) checkProfile(options)
    this.redirectUri = absoluteHttpURL(options.redirectUri, 'redirectUri').href
    if (typeof options.scope !== 'string' && (standard || options.scope !== undefined))
      throw new TypeError('ongoing: `scope` must be a string (space-separated scopes)')
    const scope = options.scope ?? ''
    const onExpired = options.onRefreshTokenExpired ?? 'reconsent'
    if (onExpired !== 'reconsent' && onExpired !== 'error') {
      throw new TypeError("ongoing: `onRefreshTokenExpired` must be 'reconsent' or 'error'")
    }
    this.onRefreshTokenExpired = onExpired
    if (options.fetch !== undefined && typeof options.fetch !== 'function')
      throw new TypeError('ongoing: `fetch` must be a function')
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
    this.#logger = resolveLogger(options.logger)
    this.#metrics = metricsFrom(options.metrics)
    this.sealer = new Sealer(secretsFrom(options.secret))
    this.#requestTimeoutMs = positiveNumber(options.requestTimeoutMs, 'requestTimeoutMs', 10_000)
    const limits = {
      timeoutMs: this.#requestTimeoutMs,
      maxBodyBytes: positiveNumber(options.maxResponseBytes, 'maxResponseBytes', 1024 * 1024),
    }
    const fetchImpl = this.#fetch
    this.#profile = profile.create({
      fetch: fetchImpl,
      requestTimeoutMs: limits.timeoutMs,
      maxResponseBytes: limits.maxBodyBytes,
      logger: this.#logger,
      request: (url, init, what) => requestAS(fetchImpl, url, init, limits, what),
    })
    this.issuer = this.#profile.issuer
    this.#retry = resolveRetryOptions(options.retry)
    const userKeyFromClaims = userKeyFromClaimsOf(options.userKeyFromClaims, standard, scope)
    this.#skewMs =
      positiveNumber(options.refreshSkewSeconds, 'refreshSkewSeconds', 60, { allowZero: true }) * 1000
    this.#transactionTtlMs =
      positiveNumber(options.transactionTtlSeconds, 'transactionTtlSeconds', 600) * 1000
    this.#cache = new TokenCache(
      positiveNumber(options.cacheMaxEntries, 'cacheMaxEntries', 100_000, { allowZero: true }),
      this.#skewMs,
      this.#changes,
    )
    const store = options.store ?? new MemoryTokenStore()
    if (
      typeof store?.get !== 'function' ||
      typeof store.set !== 'function' ||
      typeof store.delete !== 'function'
    ) {
      throw new TypeError('ongoing: `store` must implement get, set and delete (see TokenStore)')
    }
    this.store = store
    if (options.encryptTokens !== undefined && typeof options.encryptTokens !== 'boolean') {
      throw new TypeError('ongoing: `encryptTokens` must be a boolean')
    }
    const storeTimeoutMs = positiveNumber(options.storeTimeoutMs, 'storeTimeoutMs', 1_000)
    this.#repository = new GrantRepository(
      store,
      options.encryptTokens === false ? undefined : this.sealer,
      this.issuer,
      this.#profile.clientId,
      storeTimeoutMs,
      (userKey, grant, alone) => this.#written(userKey, grant, alone),
      this.sealer,
    )
    this.#inventory = new GrantInventory(this.#repository, this.#skewMs)
    const defaultExpiresInMs =
      positiveNumber(options.defaultExpiresInSeconds, 'defaultExpiresInSeconds', 3_600) * 1000
    this.#refreshContext = {
      repository: this.#repository,
      profile: this.#profile,
      retry: this.#retry,
      skewMs: this.#skewMs,
      // Covers every token call and its retries, then the write; extended while the work goes on.
      lockTtlMs:
        this.#retry.attempts * this.#requestTimeoutMs +
        maxTotalBackoffMs(this.#retry) +
        Math.max(2_000, 2 * storeTimeoutMs),
      // A token call starts only on a lease that outlasts it and the write after it.
      tokenCallBudgetMs: this.#requestTimeoutMs + storeTimeoutMs,
      watchChanges: (userKey) => this.#changes.watch(userKey),
      changeSeq: () => this.#changes.seq,
      closed: () => this.#closed,
      defaultExpiresInMs,
      logger: this.#logger,
      metrics: this.#metrics,
      onRefresh: (userKey, token, rotated) => {
        this.#logger('info', 'ongoing: token refreshed', { userKey, expiresAt: token.expiresAt, rotated })
        this.#emitIsolated('refresh', { userKey, expiresAt: token.expiresAt, rotated })
      },
      onRefreshError: (userKey, error, nextAttemptAt) => {
        this.#logger('warn', 'ongoing: token refresh failed', {
          userKey,
          code: error.code,
          status: error.status,
          oauthError: error.oauthError,
          outcomeUnknown: error.outcomeUnknown,
          nextAttemptAt,
        })
        this.#emitIsolated('refreshError', { userKey, error, nextAttemptAt, transient: isTransient(error) })
      },
      onWarning: (userKey, warning) => this.#warnAboutStoredGrant(userKey, warning),
      onConsentRequired: (error) => {
        this.#cache.forget(error.userKey)
        this.#logger('info', 'ongoing: consent required', { userKey: error.userKey, reason: error.reason })
        this.#emitIsolated('consentRequired', { userKey: error.userKey, reason: error.reason })
      },
      remember: (userKey, grant, since) => this.#cache.remember(userKey, grant, since),
      unsaved: new BoundedMap(10_000),
      failures: new BoundedMap(10_000),
    }
    this.#consent = new ConsentFlow({
      profile: this.#profile,
      standard,
      sealer: this.sealer,
      issuer: this.issuer,
      redirectUri: this.redirectUri,
      scope,
      transactionTtlMs: this.#transactionTtlMs,
      defaultExpiresInMs,
      userKeyFromClaims,
      repository: this.#repository,
      save: (userKey, grant) => this.#save(userKey, grant, 'consent'),
      warn: (userKey, warning) => {
        this.#logger('warn', `ongoing: ${warning.message}`, { userKey, code: warning.code })
        this.#emitIsolated('warning', { userKey, ...warning })
      },
    })
    if (store.subscribe !== undefined) {
      this.#unsubscribe = store.subscribe((storeKey) => this.#onStoreChange(storeKey))
    }
  }

  /**
   * Starts a consent: a PKCE (S256) verifier, a random `state`, and the sealed transaction that
   * remembers them until the callback.
   *
   * When the scope contains `offline_access`, the request carries `prompt=consent`, as OpenID
   * Connect Core section 11 requires of the client (a conforming server otherwise ignores
   * `offline_access`, and issues no refresh token or one that ends with the user's session). This
   * holds with or without `openid` in the scope: a server that does not know `prompt` ignores it
   * (RFC 6749 section 3.1). A `prompt` the app sets, in `authorizationParams` or in this consent's
   * `params`, is sent as it is instead; if the server then drops `offline_access`, `finishConsent`
   * emits a `warning`.
   *
   * With `pushedAuthorizationRequests` (or a server that requires it), the request is pushed to the
   * server first, and `url` carries only `client_id` and `request_uri` (RFC 9126).
   *
   * @throws {OngoingAccessError} `ERR_CONFIGURATION` when the server does not support this client
   *   (see `ready()`), `ERR_INVALID_RESPONSE` when discovery fails or a push is answered malformed,
   *   `ERR_TOKEN_ENDPOINT` when the server refuses a push, `ERR_NETWORK` when the server does not answer.
   * @example
   * ```ts
   * const { url, transaction } = await access.startConsent({ userKey, returnTo: '/library' })
   * res.cookie('tx', transaction, { httpOnly: true, sameSite: 'lax' }).redirect(url.href)
   * ```
   * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1, https://www.rfc-editor.org/rfc/rfc7636#section-4.3
   */
  startConsent(options: StartConsentOptions): Promise<StartConsentResult> {
    return this.#consent.start(options)
  }

  /**
   * Finishes a consent: checks the transaction, `state` and `iss`, maps a denial or an error,
   * exchanges the code (with the PKCE verifier) and stores the grant.
   *
   * When the granted scope lacks a requested `offline_access`, or no refresh token came back, the
   * grant is stored all the same, and a `warning` event is emitted and logged at `warn` (code
   * `offline_access_not_granted` or `no_refresh_token`, see {@link OngoingAccessWarning}).
   *
   * @throws {OngoingAccessError} `ERR_TRANSACTION` (missing, tampered, expired, replayed, state
   *   mismatch), `ERR_ISSUER_MISMATCH`, `ERR_CONSENT_DENIED`, `ERR_AUTHORIZATION`,
   *   `ERR_TOKEN_ENDPOINT`, `ERR_NETWORK`, `ERR_INVALID_RESPONSE`, `ERR_STORE`.
   * @example
   * ```ts
   * const { userKey, returnTo } = await access.finishConsent({ callbackUrl: fullUrl, transaction: cookie })
   * ```
   * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2, https://www.rfc-editor.org/rfc/rfc9207#section-2.4
   */
  finishConsent(options: FinishConsentOptions): Promise<FinishConsentResult> {
    return this.#consent.finish(options)
  }

  /** Whether grants are keyed by the ID token's claims (`userKeyFromClaims`): adapters then pass no user key to `startConsent`. */
  get keysGrantsByClaims(): boolean {
    return this.#consent.keysGrantsByClaims
  }

  /**
   * A fresh access token for `userKey`, refreshed when it expires within `refreshSkewSeconds`.
   * Concurrent callers share one refresh per grant (in this process, and across processes when
   * the store has a lock).
   *
   * @throws {ConsentRequiredError} `ERR_CONSENT_REQUIRED` when there is no grant or it is dead
   *   (`reason`), or when the stored grant does not open in this process (reason `unreadable`,
   *   after a `warning` event that says why: another `secret`, `encryptTokens` or issuer spelling).
   * @throws {OngoingAccessError} `ERR_TOKEN_ENDPOINT`, `ERR_NETWORK`, `ERR_INVALID_RESPONSE` (after the retries that are
   *   safe; when the current token is still valid it is returned instead, and `refreshError` is emitted), `ERR_STORE`.
   * @example
   * ```ts
   * const { value } = await access.getAccessToken(userKey)
   * ```
   * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
   */
  getAccessToken(userKey: string, options?: GetAccessTokenOptions): Promise<AccessToken> {
    const force = options?.forceRefresh === true
    if (!force) {
      const token = this.#cache.fresh(userKey)
      if (token !== undefined) return Promise.resolve(token)
    }
    return this.#refresh(userKey, { force, rejectedValue: undefined, due: this.#cache.due(userKey) })
  }

  /**
   * The cached access token of `userKey` when it is fresh, synchronously; otherwise `undefined`
   * (then call {@link OngoingAccess.getAccessToken}). For adapters' hot paths: no promise is created.
   *
   * @example
   * ```ts
   * const token = access.getCachedAccessToken(userKey) ?? (await access.getAccessToken(userKey))
   * ```
   */
  getCachedAccessToken(userKey: string): AccessToken | undefined {
    return this.#cache.fresh(userKey)
  }

  /**
   * Imports tokens obtained elsewhere (a migration, a mobile app's swap) as `userKey`'s grant.
   *
   * @throws {TypeError} for malformed tokens; {@link OngoingAccessError} `ERR_STORE`.
   * @example
   * ```ts
   * await access.restore('user-42', { accessToken, refreshToken, expiresIn: 3600 })
   * ```
   */
  async restore(userKey: string, tokens: RestoreTokens): Promise<void> {
    checkUserKey(userKey)
    if (typeof tokens?.accessToken !== 'string' || tokens.accessToken === '')
      throw new TypeError('ongoing: `accessToken` must be a non-empty string')
    if (
      tokens.refreshToken !== undefined &&
      (typeof tokens.refreshToken !== 'string' || tokens.refreshToken === '')
    ) {
      throw new TypeError('ongoing: `refreshToken` must be a non-empty string')
    }
    const now = Date.now()
    let expiresAt: number
    if (tokens.expiresAt !== undefined) expiresAt = positiveNumber(tokens.expiresAt, 'expiresAt', 0)
    else if (tokens.expiresIn !== undefined)
      expiresAt = now + positiveNumber(tokens.expiresIn, 'expiresIn', 0, { allowZero: true }) * 1000
    else throw new TypeError('ongoing: give `expiresAt` or `expiresIn`')
    const refreshExpiresAt =
      tokens.refreshExpiresAt === undefined
        ? undefined
        : positiveNumber(tokens.refreshExpiresAt, 'refreshExpiresAt', 0)
    await this.#save(
      userKey,
      {
        accessToken: tokens.accessToken,
        tokenType: 'Bearer',
        expiresAt,
        obtainedAt: now,
        refreshToken: tokens.refreshToken,
        refreshExpiresAt,
        scope: tokens.scope,
        grantId: generateRandomToken(12),
      },
      'restore',
    )
  }

  /**
   * `fetch` with `userKey`'s token: a bearer token, or with the `dpop` option a DPoP-bound one and a
   * fresh proof of this request (RFC 9449 §7.1: `Authorization: DPoP …`, `DPoP: <proof>` with
   * `ath`); a resource server's nonce challenge (`401`, `DPoP error="use_dpop_nonce"`) is answered
   * by sending the request once more with its nonce. On a `401` it refreshes once and retries once, never
   * more: whatever the challenge (`Bearer error="invalid_token"`, another scheme, or none), unless
   * the `WWW-Authenticate` header names another error (e.g. `error="insufficient_scope"`), in which
   * case the `401` is returned as is, without a refresh.
   *
   * @throws {ConsentRequiredError} when the grant is dead.
   * @example
   * ```ts
   * const res = await access.fetch(userKey, 'https://api.example.com/me/history')
   * ```
   * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
   * @see https://www.rfc-editor.org/rfc/rfc9449#section-9 (nonces at the resource server)
   */
  async fetch(userKey: string, input: string | URL | Request, init?: RequestInit): Promise<Response> {
    const request = new Request(input, init)
    const retry = request.clone()
    const token = await this.getAccessToken(userKey)
    const response = await this.#send(request, token)
    if (!this.#profile.rejectsToken(response)) return response
    await response.body?.cancel().catch(() => {})
    const fresh = await this.#refresh(userKey, { force: false, rejectedValue: token.value })
    return this.#send(retry, fresh)
  }

  /**
   * Sends `request` with `token`; when the answer asks for a new proof (a DPoP nonce challenge,
   * RFC 9449 §9), sends it once more with the same token, never more.
   */
  async #send(request: Request, token: AccessToken): Promise<Response> {
    const again = this.#profile.asksForNewProof === undefined ? undefined : request.clone()
    const response = await this.#fetch(await this.#profile.authorize(request, token))
    if (again === undefined || !this.#profile.asksForNewProof?.(again, response)) return response
    await response.body?.cancel().catch(() => {})
    return this.#fetch(await this.#profile.authorize(again, token))
  }

  /**
   * Revokes the grant's refresh token at the server (RFC 7009, when it has a revocation endpoint)
   * and always forgets the grant locally.
   *
   * @example
   * ```ts
   * await access.revoke(userKey) // the user disconnected
   * ```
   * @see https://www.rfc-editor.org/rfc/rfc7009#section-2
   */
  async revoke(userKey: string): Promise<RevokeResult> {
    checkUserKey(userKey)
    // Let a refresh under way in this process finish first, so the newest refresh token is revoked.
    await this.#inflight.get(userKey)?.promise.catch(() => {})
    // Across processes: hold the grant's lock (when it is free) so no refresh starts meanwhile.
    const lease = await Lease.acquire(this.#repository, userKey, this.#refreshContext.lockTtlMs).catch(
      () => undefined,
    )
    let revokedAtServer = false
    try {
      const read = await this.#repository.read(userKey)
      // A refreshed grant that could not be saved holds the newest refresh token.
      const grant = this.#refreshContext.unsaved.get(userKey)?.grant ?? read?.grant
      const token = grant?.refreshToken ?? grant?.accessToken
      if (grant !== undefined) await this.#profile.ready()
      if (this.#profile.revoke !== undefined && token !== undefined && grant !== undefined) {
        const hint = grant.refreshToken === undefined ? 'access_token' : 'refresh_token'
        revokedAtServer = await this.#profile.revoke(token, hint, grant.dpopKey).catch((err: unknown) => {
          this.#logger('warn', 'ongoing: revocation at the server failed; forgetting locally', {
            userKey,
            reason: (err as Error).message,
          })
          return false
        })
      }
    } finally {
      this.#refreshContext.unsaved.delete(userKey)
      this.#refreshContext.failures.delete(userKey)
      this.#changes.note(userKey)
      this.#cache.forget(userKey)
      try {
        await this.#repository.remove(userKey)
      } finally {
        // Again once the delete is done: a grant this process wrote meanwhile is gone with it.
        this.#changes.note(userKey)
        this.#cache.forget(userKey)
        await lease?.release().catch(() => {})
      }
    }
    this.#emitIsolated('revoke', { userKey, revokedAtServer })
    return { revokedAtServer }
  }

  /**
   * Every grant stored for this issuer and client, with its health, a page at a time: what a
   * background job walks, and what an operator's page lists. Memory stays bounded by `pageSize`
   * however many grants there are; the store must be able to list its keys (`TokenStore.list`:
   * `MemoryTokenStore` and `RedisTokenStore` can).
   *
   * A grant stored for the whole walk is listed once; one written or deleted meanwhile may or may
   * not be. With `RedisTokenStore`, a walk during which Redis shrinks its key table (most keys
   * deleted meanwhile) may list a grant twice, on two pages: `SCAN`'s own guarantee. No token
   * material is in what it yields.
   *
   * @throws {OngoingAccessError} `ERR_CONFIGURATION` when the store cannot list; `ERR_STORE`.
   * @example
   * ```ts
   * for await (const grant of access.grants({ status: 'active' })) {
   *   const res = await access.fetch(grant.userKey, 'https://api.example.com/me/history')
   * }
   * ```
   */
  grants(options?: GrantsOptions): AsyncGenerator<GrantInfo, void, undefined> {
    return this.#inventory.grants(options)
  }

  /**
   * The health of `userKey`'s grant, read from the store (so every instance says the same):
   * `active`, `failing` (with `failures` and `lastError`), or `consent_required` (with
   * `consentRequired`: why and since when, kept until a new consent or `revoke`), and when it was
   * and will be refreshed. `undefined` when nothing is stored for the user.
   *
   * @throws {OngoingAccessError} `ERR_STORE`.
   * @example
   * ```ts
   * const info = await access.inspect(userKey)
   * if (info?.status === 'consent_required') await mailUser(userKey, 'Please reconnect your account')
   * ```
   */
  async inspect(userKey: string): Promise<GrantInfo | undefined> {
    checkUserKey(userKey)
    return this.#inventory.inspect(userKey)
  }

  /**
   * Starts a keeper: it walks the grants every `intervalSeconds` and refreshes each one
   * `aheadSeconds` before its access token expires (and before its refresh token's idle limit,
   * `refreshTokenIdleSeconds`, when the server has one), so that requests and jobs find fresh
   * tokens and never wait for a token call.
   *
   * Run one in every instance: each grant is refreshed by one of them, through the store's lock
   * (an instance that finds a grant locked leaves it to the holder). Each runs at most
   * `concurrency` refreshes at once, its walks are jittered, grants due together are spread over
   * walks, a failing grant waits for its backoff (or the server's `Retry-After`), and a
   * `Retry-After` on a 429 or 503 pauses its new refreshes. Its timer never keeps the process
   * alive. What it does is told by the `refresh`, `refreshError` and `consentRequired` events.
   *
   * @throws {TypeError} for invalid options.
   * @example
   * ```ts
   * const keeper = access.keepFresh({ intervalSeconds: 60, concurrency: 4 })
   * // on shutdown:
   * await keeper.stop()
   * ```
   * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
   */
  keepFresh(options?: KeepFreshOptions): Keeper {
    if (this.#closed) throw new OngoingAccessError('ERR_CONFIGURATION', 'keepFresh after close()')
    if (!this.#repository.lists) {
      throw new OngoingAccessError(
        'ERR_CONFIGURATION',
        'The token store cannot list its grants (it has no `list` method, see TokenStore): `keepFresh()` needs one. MemoryTokenStore and RedisTokenStore have it',
      )
    }
    const keeper = new GrantKeeper(
      {
        grants: (grantsOptions) => this.grants(grantsOptions),
        refresh: (userKey, ahead) =>
          this.#refresh(userKey, { force: false, rejectedValue: undefined, ahead }),
        skewMs: this.#skewMs,
        logger: this.#logger,
        walked: (counts) => this.#metrics.grantsByStatus(counts),
      },
      options,
    )
    this.#keepers.add(keeper)
    return keeper
  }

  /**
   * The startup check: discovers the authorization server (unless `endpoints` are given) and
   * checks that it supports this client — its authentication method, a `private_key_jwt`
   * algorithm, PKCE `S256` — so a misconfiguration fails here rather than after a user has
   * consented. Cached like {@link OngoingAccess.metadata}; a failure is tried again on the next call.
   *
   * @returns The server's metadata.
   * @throws {OngoingAccessError} `ERR_CONFIGURATION` when the server does not support the client,
   *   `ERR_INVALID_RESPONSE` / `ERR_ISSUER_MISMATCH` when discovery fails, `ERR_NETWORK` when the
   *   server does not answer.
   * @example
   * ```ts
   * const access = new OngoingAccess(options)
   * await access.ready() // before the app listens
   * app.listen(3000)
   * ```
   * @see https://www.rfc-editor.org/rfc/rfc8414#section-2
   */
  ready(): Promise<AuthorizationServerMetadata> {
    return this.metadata()
  }

  /**
   * The authorization server's metadata (discovered once, or from `endpoints`), checked against
   * the client as {@link OngoingAccess.ready} describes.
   */
  metadata(): Promise<AuthorizationServerMetadata> {
    return this.#profile.ready().then((metadata) => {
      noteDiscovered(this.#profile)
      return metadata
    })
  }

  /** @internal The profile's client (for the token swap service). */
  get profileClient(): ProfileClient {
    return this.#profile
  }

  /** The client id of the configured client. */
  get clientId(): string {
    return this.#profile.clientId
  }

  /** How long a consent transaction lives (`transactionTtlSeconds`); the routes' cookies live as long. */
  get transactionTtlSeconds(): number {
    return this.#transactionTtlMs / 1000
  }

  /** @internal The retry policy of refreshes. */
  get retryOptions(): ResolvedRetryOptions {
    return this.#retry
  }

  /** @internal Which refresh errors mean the grant is dead (`invalid_grant`, `deadGrantErrors`). */
  get deadGrantPolicy(): DeadGrantPolicy {
    return this.#profile.deadGrant
  }

  /** Stops listening to the store, and stops its keepers. Does not close the store (you own it). */
  close(): void {
    this.#closed = true
    for (const keeper of this.#keepers) void keeper.stop()
    this.#keepers.clear()
    this.#unsubscribe?.()
    this.#unsubscribe = undefined
    this.#cache.clear()
  }

  /**
   * One refresh per grant in this process. A caller joins the refresh under way when that refresh
   * answers its request too; a forced refresh, or one after a rejected token, does not settle for
   * a plain read's answer: it waits for it, then refreshes itself unless that answer is new enough.
   */
  #refresh(userKey: string, request: RefreshRequest): Promise<AccessToken> {
    const running = this.#inflight.get(userKey)
    // A flight that started before a change of this grant was heard may answer with the old grant.
    if (running !== undefined && !this.#changes.changedSince(userKey, running.seq)) {
      // A keeper refreshes ahead of need: a plain read takes the stored token while it is fresh,
      // without waiting for the keeper's token call. Otherwise it waits, and takes the keeper's new
      // token; a keeper that refreshed nothing (it skips a grant locked elsewhere) leaves it to go on.
      if (running.request.ahead !== undefined && request.ahead === undefined) {
        const ctx = this.#refreshContext
        const again = () => refreshGrant(ctx, userKey, request)
        const afterKeeper = () =>
          running.promise.then(
            (token) => (token.refreshed && answers(token, request) ? token : again()),
            again,
          )
        const plain = !request.force && request.rejectedValue === undefined
        return this.#track(
          userKey,
          request,
          plain ? storedIfFresh(ctx, userKey).then((token) => token ?? afterKeeper()) : afterKeeper(),
        )
      }
      if (covers(running.request, request)) {
        this.#metrics.coalesced('in_process')
        return running.promise
      }
      const again = () => refreshGrant(this.#refreshContext, userKey, request)
      return this.#track(
        userKey,
        request,
        running.promise.then((token) => (answers(token, request) ? token : again()), again),
      )
    }
    try {
      checkUserKey(userKey)
    } catch (err) {
      return Promise.reject(err)
    }
    return this.#track(userKey, request, refreshGrant(this.#refreshContext, userKey, request))
  }

  #track(userKey: string, request: RefreshRequest, promise: Promise<AccessToken>): Promise<AccessToken> {
    const entry: InFlight = {
      request,
      seq: this.#changes.seq,
      promise: promise.finally(() => {
        if (this.#inflight.get(userKey) === entry) this.#inflight.delete(userKey)
      }),
    }
    this.#inflight.set(userKey, entry)
    return entry.promise
  }

  /** Stores a new grant (it replaces the user's), and says so with a `consent` event. */
  async #save(userKey: string, grant: Grant, source: 'consent' | 'restore'): Promise<void> {
    // A new grant: a refreshed one left unsaved from before is of the old grant, never to be written.
    this.#refreshContext.unsaved.delete(userKey)
    this.#refreshContext.failures.delete(userKey)
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await this.#repository.read(userKey)
      // A successful write fills the cache itself (see #written).
      const version = await this.#repository.write(userKey, grant, current?.version ?? 0)
      if (version !== undefined) {
        this.#emitIsolated('consent', { userKey, source, scope: grant.scope })
        return
      }
    }
    throw new OngoingAccessError(
      'ERR_STORE',
      'The grant could not be saved: the store kept changing under the write',
    )
  }

  #onStoreChange(storeKey: string): void {
    const userKey = this.#repository.userKeyOf(storeKey)
    if (userKey === undefined) return
    this.#repository.ownWrites.heard(userKey)
    // What this process cached or is reading may be old.
    this.#changes.note(userKey)
    this.#cache.forget(userKey)
    this.#changes.wake(userKey)
  }

  /**
   * This process wrote `grant` (`undefined`: a dead grant's record): a change (a read that started before may return the grant it
   * replaced), and the newest grant when no other writer's change was heard meanwhile.
   */
  #written(userKey: string, grant: Grant | undefined, alone: boolean): void {
    this.#changes.note(userKey)
    if (grant === undefined) this.#cache.forget(userKey)
    else if (alone) this.#cache.remember(userKey, grant, this.#changes.seq)
  }

  /**
   * Emits to each listener on its own: a listener that throws (or returns a rejected promise) is
   * logged and changes nothing of the operation that emitted.
   */
  #emitIsolated<E extends keyof OngoingAccessEvents>(event: E, ...payload: OngoingAccessEvents[E]): void {
    for (const listener of this.rawListeners(event)) {
      try {
        const result: unknown = Reflect.apply(listener as (...args: unknown[]) => unknown, this, payload)
        if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') {
          ;(result as PromiseLike<unknown>).then(undefined, (err: unknown) =>
            this.#listenerFailed(event, err),
          )
        }
      } catch (err) {
        this.#listenerFailed(event, err)
      }
    }
  }

  /**
   * A stored grant this process cannot use: the `warning` event every time; the log line at most
   * once a minute per code, saying how many were held back (a job looping over thousands of users
   * would print thousands of them).
   */
  #warnAboutStoredGrant(userKey: string, warning: UnreadableGrantWarning): void {
    const suppressed = this.#storedGrantWarnings.admit(warning.code)
    if (suppressed !== undefined) {
      const more =
        suppressed === 0
          ? ''
          : ` (${suppressed} more like it since the last such line were not logged; the \`warning\` event has each)`
      this.#logger('warn', `ongoing: ${warning.message}${more}`, {
        userKey,
        code: warning.code,
        ...(suppressed === 0 ? {} : { suppressed }),
      })
    }
    this.#emitIsolated('warning', { userKey, ...warning })
  }

  #listenerFailed(event: string, err: unknown): void {
    this.#logger('error', `ongoing: a '${event}' listener failed`, {
      reason: err instanceof Error ? err.name : typeof err,
    })
  }
}

/** Whether a refresh already under way answers `request` as well. */
function covers(running: RefreshRequest, request: RefreshRequest): boolean {
  if (request.force) return running.force
  if (request.rejectedValue !== undefined)
    return running.force || running.rejectedValue === request.rejectedValue
  return true
}

/** Whether a token another refresh produced answers `request`. */
function answers(token: AccessToken, request: RefreshRequest): boolean {
  if (request.rejectedValue !== undefined) return token.value !== request.rejectedValue
  return !request.force || token.refreshed
}

/** With a `profile`, the options that describe the standard profile's server and client have no place. */
function checkProfile(options: OngoingAccessOptions): void {
  if (typeof options.profile?.create !== 'function')
    throw new TypeError('ongoing: `profile` must be a profile (an object with `name` and `create`)')
  for (const name of [
    'issuer',
    'client',
    'endpoints',
    'issParameterSupported',
    'authorizationParams',
    'idTokenSigningAlgorithms',
    'deadGrantErrors',
    'pushedAuthorizationRequests',
    'dpop',
  ] as const) {
    if (options[name] !== undefined)
      throw new TypeError(
        `ongoing: \`${name}\` does not go with \`profile\`: the profile describes the server and the client`,
      )
  }
}

/**
 * Whether a refresh failure is likely to pass by itself: anything but a 4xx other than 429 (no
 * answer, a store outage, a 5xx, a 429, a malformed answer). A 4xx is something to fix.
 */
function isTransient(error: OngoingAccessError): boolean {
  const { status } = error
  return status === undefined || status < 400 || status >= 500 || status === 429
}
