import { EventEmitter } from 'node:events'
import { type AccessToken, accessTokenOf, type Grant, refreshAtOf } from './access-token.js'
import { parseCallbackParameters } from './callback.js'
import { type ClientAuthenticator, createClientAuthenticator } from './client-auth.js'
import { type DeadGrantPolicy, deadGrantPolicy } from './dead-grant.js'
import { type AuthorizationServerMetadata, discoverAuthorizationServer } from './discovery.js'
import { type ConsentRequiredError, OngoingAccessError } from './errors.js'
import { GrantRepository } from './grant-repository.js'
import type { ASRequestLimits } from './http.js'
import {
  checkAlgorithms,
  DEFAULT_ID_TOKEN_ALGORITHMS,
  type IdTokenClaims,
  IdTokenVerifier,
} from './id-token.js'
import { preloadJose } from './jose.js'
import { LogThrottle } from './log-throttle.js'
import { type Logger, resolveLogger } from './logger.js'
import { MemoryTokenStore } from './memory-token-store.js'
import { offlineAccessWarning } from './offline-access.js'
import {
  absoluteHttpURL,
  checkSecureTransport,
  type OngoingAccessOptions,
  type OnRefreshTokenExpired,
  positiveNumber,
} from './options.js'
import { calculatePKCECodeChallenge, generateCodeVerifier, generateRandomToken, sameSecret } from './pkce.js'
import {
  BoundedMap,
  type ChangeWatch,
  type RefreshContext,
  type RefreshRequest,
  refreshGrant,
} from './refresh.js'
import { maxTotalBackoffMs, type ResolvedRetryOptions, resolveRetryOptions } from './retry.js'
import { sanitizeReturnTo } from './return-to.js'
import { Sealer, secretsFrom } from './sealing.js'
import { checkServerSupport } from './server-support.js'
import { authorizationCodeGrant, revokeToken, type TokenEndpointClient } from './token-endpoint.js'
import type { TokenStore } from './token-store.js'
import { openTransaction, sealTransaction } from './transaction.js'
import type { UnreadableGrantWarning } from './unreadable-grant.js'

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
  scope?: string
}

/** What {@link OngoingAccess.revoke} did. */
export interface RevokeResult {
  /** True when the authorization server confirmed the revocation (RFC 7009). */
  revokedAtServer: boolean
}

/** Payloads of the events `OngoingAccess` emits. */
export interface OngoingAccessEvents {
  /** A grant was refreshed and saved. */
  refresh: [{ userKey: string; expiresAt: number; rotated: boolean }]
  /**
   * A refresh failed for a reason other than a dead grant (network, server, store). `nextAttemptAt`
   * (ms since epoch): no token call for this grant before then; until then callers get the still
   * valid access token, or this error once it has expired.
   */
  refreshError: [{ userKey: string; error: OngoingAccessError; nextAttemptAt: number | undefined }]
  /** A grant is missing, dead, or does not open here (`reason`): the user must consent again. */
  consentRequired: [{ userKey: string; reason: ConsentRequiredError['reason'] }]
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

interface CacheEntry {
  token: AccessToken
  refreshAt: number
}

/** A refresh under way for one grant in this process, and what it was asked. */
interface InFlight {
  request: RefreshRequest
  promise: Promise<AccessToken>
  /** The change sequence number when it started: a change of the grant heard since makes it stale. */
  seq: number
}

/** How many users' last change the process remembers exactly (see `#noteChange`). */
const CHANGES_REMEMBERED = 10_000

const MAX_USER_KEY_LENGTH = 512
const OPENID_SCOPE = /(?:^|\s)openid(?:\s|$)/
const OFFLINE_ACCESS_SCOPE = /(?:^|\s)offline_access(?:\s|$)/

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

  readonly #options: OngoingAccessOptions
  readonly #fetch: typeof fetch
  readonly #auth: ClientAuthenticator
  readonly #limits: ASRequestLimits
  readonly #retry: ResolvedRetryOptions
  readonly #deadGrant: DeadGrantPolicy
  readonly #repository: GrantRepository
  readonly #logger: Logger
  readonly #skewMs: number
  readonly #transactionTtlMs: number
  readonly #cacheMax: number
  readonly #cache = new Map<string, CacheEntry>()
  readonly #inflight = new Map<string, InFlight>()
  /** Change sequence numbers: see {@link OngoingAccess.#noteChange}. */
  #changeSeq = 0
  readonly #changedAt = new Map<string, number>()
  #changedFloor = 0
  #closed = false
  readonly #usedTransactions = new Map<string, number>()
  readonly #changeWaiters = new Map<string, Set<() => void>>()
  readonly #refreshContext: RefreshContext
  #metadata: Promise<AuthorizationServerMetadata> | undefined
  #idTokenVerifier: IdTokenVerifier | undefined
  readonly #idTokenAlgorithms: string[]
  readonly #userKeyFromClaims: ((claims: IdTokenClaims) => string) | undefined
  #unsubscribe: (() => void) | undefined
  /** Log lines about stored grants this process cannot use: at most one a minute per code. */
  readonly #storedGrantWarnings = new LogThrottle(60_000)

  constructor(options: OngoingAccessOptions) {
    super()
    if (typeof options !== 'object' || options === null) throw new TypeError('ongoing: options are required')
    this.#options = options
    if (options.allowInsecureRequests !== undefined && typeof options.allowInsecureRequests !== 'boolean')
      throw new TypeError('ongoing: `allowInsecureRequests` must be a boolean')
    const allowInsecure = options.allowInsecureRequests === true
    checkSecureTransport(absoluteHttpURL(options.issuer, 'issuer'), 'issuer', allowInsecure)
    // Compared as a string, exactly (RFC 8414 §3.3, RFC 9207 §2.4): no normalization.
    this.issuer = options.issuer
    this.redirectUri = absoluteHttpURL(options.redirectUri, 'redirectUri').href
    if (typeof options.scope !== 'string')
      throw new TypeError('ongoing: `scope` must be a string (space-separated scopes)')
    const onExpired = options.onRefreshTokenExpired ?? 'reconsent'
    if (onExpired !== 'reconsent' && onExpired !== 'error') {
      throw new TypeError("ongoing: `onRefreshTokenExpired` must be 'reconsent' or 'error'")
    }
    this.onRefreshTokenExpired = onExpired
    if (options.endpoints !== undefined) {
      for (const name of ['authorization', 'token', 'revocation', 'jwks'] as const) {
        const value = options.endpoints[name]
        if (value === undefined && (name === 'revocation' || name === 'jwks')) continue
        checkSecureTransport(absoluteHttpURL(value, `endpoints.${name}`), `endpoints.${name}`, allowInsecure)
      }
    }
    if (options.fetch !== undefined && typeof options.fetch !== 'function')
      throw new TypeError('ongoing: `fetch` must be a function')
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
    this.#logger = resolveLogger(options.logger)
    this.#auth = createClientAuthenticator(options.client, () => this.issuer)
    this.sealer = new Sealer(secretsFrom(options.secret))
    this.#limits = {
      timeoutMs: positiveNumber(options.requestTimeoutMs, 'requestTimeoutMs', 10_000),
      maxBodyBytes: positiveNumber(options.maxResponseBytes, 'maxResponseBytes', 1024 * 1024),
    }
    this.#retry = resolveRetryOptions(options.retry)
    this.#deadGrant = deadGrantPolicy(options.deadGrantErrors)
    this.#idTokenAlgorithms = checkAlgorithms(options.idTokenSigningAlgorithms ?? DEFAULT_ID_TOKEN_ALGORITHMS)
    this.#userKeyFromClaims = userKeyFromClaimsOf(options.userKeyFromClaims, options.scope)
    this.#skewMs =
      positiveNumber(options.refreshSkewSeconds, 'refreshSkewSeconds', 60, { allowZero: true }) * 1000
    this.#transactionTtlMs =
      positiveNumber(options.transactionTtlSeconds, 'transactionTtlSeconds', 600) * 1000
    this.#cacheMax = positiveNumber(options.cacheMaxEntries, 'cacheMaxEntries', 100_000, { allowZero: true })
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
      this.#auth.clientId,
      storeTimeoutMs,
      (userKey, grant, alone) => this.#written(userKey, grant, alone),
    )
    const defaultExpiresInMs =
      positiveNumber(options.defaultExpiresInSeconds, 'defaultExpiresInSeconds', 3_600) * 1000
    this.#refreshContext = {
      repository: this.#repository,
      tokenClient: () => this.#tokenClient(),
      retry: this.#retry,
      deadGrant: this.#deadGrant,
      skewMs: this.#skewMs,
      // Covers every token call and its retries, then the write; extended while the work goes on.
      lockTtlMs:
        this.#retry.attempts * this.#limits.timeoutMs +
        maxTotalBackoffMs(this.#retry) +
        Math.max(2_000, 2 * storeTimeoutMs),
      // A token call starts only on a lease that outlasts it and the write after it.
      tokenCallBudgetMs: this.#limits.timeoutMs + storeTimeoutMs,
      watchChanges: (userKey) => this.#watchChanges(userKey),
      changeSeq: () => this.#changeSeq,
      closed: () => this.#closed,
      defaultExpiresInMs,
      logger: this.#logger,
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
        this.#emitIsolated('refreshError', { userKey, error, nextAttemptAt })
      },
      onWarning: (userKey, warning) => this.#warnAboutStoredGrant(userKey, warning),
      onConsentRequired: (error) => {
        this.#forget(error.userKey)
        this.#logger('info', 'ongoing: consent required', { userKey: error.userKey, reason: error.reason })
        this.#emitIsolated('consentRequired', { userKey: error.userKey, reason: error.reason })
      },
      remember: (userKey, grant, since) => this.#remember(userKey, grant, since),
      unsaved: new BoundedMap(10_000),
      failures: new BoundedMap(10_000),
    }
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
   * @throws {OngoingAccessError} `ERR_INVALID_RESPONSE` when discovery fails, `ERR_NETWORK` when the server does not answer.
   * @example
   * ```ts
   * const { url, transaction } = await access.startConsent({ userKey, returnTo: '/library' })
   * res.cookie('tx', transaction, { httpOnly: true, sameSite: 'lax' }).redirect(url.href)
   * ```
   * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1, https://www.rfc-editor.org/rfc/rfc7636#section-4.3
   */
  async startConsent(options: StartConsentOptions): Promise<StartConsentResult> {
    const scope = options?.scope ?? this.#options.scope
    let userKey = ''
    if (this.#userKeyFromClaims === undefined) userKey = checkUserKey(options?.userKey)
    else {
      if (options?.userKey !== undefined)
        throw new TypeError(
          'ongoing: this OngoingAccess keys grants by the ID token (`userKeyFromClaims`): `startConsent` takes no `userKey`',
        )
      if (!OPENID_SCOPE.test(scope))
        throw new TypeError("ongoing: `userKeyFromClaims` needs `openid` in the consent's `scope`")
    }
    const metadata = await this.metadata()
    const state = generateRandomToken()
    const codeVerifier = generateCodeVerifier()
    const openid = OPENID_SCOPE.test(scope)
    // The callback will verify an ID token: have `jose` ready by then.
    if (openid) preloadJose()
    const nonce = openid ? generateRandomToken() : undefined
    const returnTo = options.returnTo === undefined ? undefined : sanitizeReturnTo(options.returnTo)
    const url = new URL(metadata.authorization)
    const params: Record<string, string> = {
      ...(OFFLINE_ACCESS_SCOPE.test(scope) ? { prompt: 'consent' } : {}),
      ...this.#options.authorizationParams,
      ...options.params,
    }
    for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value)
    url.searchParams.set('response_type', 'code')
    url.searchParams.set('client_id', this.#auth.clientId)
    url.searchParams.set('redirect_uri', this.redirectUri)
    if (scope !== '') url.searchParams.set('scope', scope)
    url.searchParams.set('state', state)
    if (nonce !== undefined) url.searchParams.set('nonce', nonce)
    url.searchParams.set('code_challenge', calculatePKCECodeChallenge(codeVerifier))
    url.searchParams.set('code_challenge_method', 'S256')
    const transaction = sealTransaction(this.sealer, {
      id: generateRandomToken(16),
      state,
      codeVerifier,
      issuer: this.issuer,
      userKey,
      returnTo,
      scope,
      nonce,
      expiresAt: Date.now() + this.#transactionTtlMs,
    })
    return { url, transaction, state, codeVerifier }
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
  async finishConsent(options: FinishConsentOptions): Promise<FinishConsentResult> {
    const tx = openTransaction(this.sealer, options?.transaction, this.issuer)
    const params = parseCallbackParameters(options.callbackUrl)
    if (params.state === undefined)
      throw new OngoingAccessError('ERR_TRANSACTION', 'Authorization response has no `state`')
    if (!sameSecret(params.state, tx.state))
      throw new OngoingAccessError(
        'ERR_TRANSACTION',
        'Authorization response `state` does not match the transaction',
      )
    const metadata = await this.metadata()
    if (params.iss !== undefined) {
      if (params.iss !== this.issuer)
        throw new OngoingAccessError(
          'ERR_ISSUER_MISMATCH',
          'Authorization response `iss` is not the expected issuer',
        )
    } else if (metadata.issParameterSupported) {
      throw new OngoingAccessError(
        'ERR_ISSUER_MISMATCH',
        'Authorization response has no `iss`, which this server always sends (RFC 9207)',
      )
    }
    await this.#claimTransaction(tx.id, tx.expiresAt)
    if (params.error === 'access_denied' || params.result === 'CANCEL') {
      throw new OngoingAccessError('ERR_CONSENT_DENIED', 'The user declined consent', {
        ...(params.error === undefined ? {} : { oauthError: params.error }),
      })
    }
    if (params.error !== undefined || params.result === 'ERROR') {
      const oauthError = params.error ?? 'error'
      throw new OngoingAccessError('ERR_AUTHORIZATION', `Authorization failed: ${oauthError.slice(0, 100)}`, {
        oauthError,
        ...(params.errorDescription === undefined ? {} : { oauthErrorDescription: params.errorDescription }),
      })
    }
    if (params.code === undefined || params.code === '')
      throw new OngoingAccessError('ERR_AUTHORIZATION', 'Authorization response has no `code`')
    const client = await this.#tokenClient()
    const response = await authorizationCodeGrant(client, params.code, tx.codeVerifier, this.redirectUri)
    const claims = await this.#verifyIdToken(response.idToken, tx.nonce, metadata)
    const userKey = this.#userKeyFromClaims === undefined ? tx.userKey : this.#userKeyOf(claims)
    const now = Date.now()
    const grant: Grant = {
      accessToken: response.accessToken,
      tokenType: response.tokenType,
      expiresAt:
        now +
        (response.expiresIn === undefined
          ? this.#refreshContext.defaultExpiresInMs
          : response.expiresIn * 1000),
      obtainedAt: now,
      refreshToken: response.refreshToken,
      refreshExpiresAt: response.refreshExpiresIn ? now + response.refreshExpiresIn * 1000 : undefined,
      scope: response.scope ?? (tx.scope === '' ? undefined : tx.scope),
      grantId: generateRandomToken(12),
    }
    const warning = offlineAccessWarning(tx.scope, response.scope, response.refreshToken !== undefined)
    await this.#save(userKey, grant)
    if (warning !== undefined) {
      this.#logger('warn', `ongoing: ${warning.message}`, { userKey, code: warning.code })
      this.#emitIsolated('warning', { userKey, ...warning })
    }
    return { userKey, returnTo: tx.returnTo, token: accessTokenOf(grant, false), claims }
  }

  /**
   * The verified claims of the token response's ID token; `undefined` when there is none, or no key
   * set to verify it with, unless grants are keyed by the claims (then that is an error).
   */
  async #verifyIdToken(
    idToken: string | undefined,
    nonce: string | undefined,
    metadata: AuthorizationServerMetadata,
  ): Promise<IdTokenClaims | undefined> {
    const needed = this.#userKeyFromClaims !== undefined
    if (idToken === undefined) {
      if (!needed) return undefined
      throw new OngoingAccessError(
        'ERR_INVALID_RESPONSE',
        'Token endpoint answered without an ID token, which `userKeyFromClaims` needs: did the server grant the `openid` scope?',
      )
    }
    if (metadata.jwks === undefined) {
      if (!needed) return undefined
      throw new OngoingAccessError(
        'ERR_CONFIGURATION',
        'The ID token cannot be verified: the server names no key set (`jwks_uri`); with explicit `endpoints`, give `endpoints.jwks`',
      )
    }
    this.#idTokenVerifier ??= new IdTokenVerifier(
      metadata.jwks,
      this.#fetch,
      this.#limits.timeoutMs,
      this.issuer,
      this.#auth.clientId,
      this.#idTokenAlgorithms,
    )
    return this.#idTokenVerifier.verify(idToken, nonce)
  }

  /** The user key `userKeyFromClaims` makes of verified claims. */
  #userKeyOf(claims: IdTokenClaims | undefined): string {
    const fromClaims = this.#userKeyFromClaims
    // #verifyIdToken returns claims whenever they are needed.
    if (fromClaims === undefined || claims === undefined)
      throw new Error('ongoing: internal error: no claims')
    let userKey: unknown
    try {
      userKey = fromClaims(claims)
    } catch (err) {
      throw new OngoingAccessError('ERR_CONFIGURATION', '`userKeyFromClaims` threw', { cause: err })
    }
    if (typeof userKey !== 'string' || userKey.length === 0 || userKey.length > MAX_USER_KEY_LENGTH)
      throw new OngoingAccessError(
        'ERR_CONFIGURATION',
        `\`userKeyFromClaims\` must return a non-empty string of at most ${MAX_USER_KEY_LENGTH} characters; it returned ${typeof userKey === 'string' ? `one of ${userKey.length}` : typeof userKey}`,
      )
    return userKey
  }

  /** Whether grants are keyed by the ID token's claims (`userKeyFromClaims`): adapters then pass no user key to `startConsent`. */
  get keysGrantsByClaims(): boolean {
    return this.#userKeyFromClaims !== undefined
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
      const entry = this.#cache.get(userKey)
      if (entry !== undefined && Date.now() < entry.refreshAt) return Promise.resolve(entry.token)
    }
    return this.#refresh(userKey, { force, rejectedValue: undefined })
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
    const entry = this.#cache.get(userKey)
    return entry !== undefined && Date.now() < entry.refreshAt ? entry.token : undefined
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
    await this.#save(userKey, {
      accessToken: tokens.accessToken,
      tokenType: 'Bearer',
      expiresAt,
      obtainedAt: now,
      refreshToken: tokens.refreshToken,
      refreshExpiresAt: undefined,
      scope: tokens.scope,
      grantId: generateRandomToken(12),
    })
  }

  /**
   * `fetch` with `userKey`'s bearer token. On a `401` it refreshes once and retries once, never
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
   */
  async fetch(userKey: string, input: string | URL | Request, init?: RequestInit): Promise<Response> {
    const request = new Request(input, init)
    const retry = request.clone()
    const token = await this.getAccessToken(userKey)
    const response = await this.#fetch(withBearer(request, token))
    if (response.status !== 401 || namesAnotherError(response.headers.get('www-authenticate')))
      return response
    await response.body?.cancel().catch(() => {})
    const fresh = await this.#refresh(userKey, { force: false, rejectedValue: token.value })
    return this.#fetch(withBearer(retry, fresh))
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
    const lock = await this.#repository
      .acquireLock(userKey, this.#refreshContext.lockTtlMs)
      .catch(() => undefined)
    let revokedAtServer = false
    try {
      const read = await this.#repository.read(userKey)
      // A refreshed grant that could not be saved holds the newest refresh token.
      const grant = this.#refreshContext.unsaved.get(userKey)?.grant ?? read?.grant
      const token = grant?.refreshToken ?? grant?.accessToken
      const metadata = grant === undefined ? undefined : await this.metadata()
      if (metadata?.revocation !== undefined && token !== undefined && grant !== undefined) {
        const hint = grant.refreshToken === undefined ? 'access_token' : 'refresh_token'
        revokedAtServer = await revokeToken(
          { fetch: this.#fetch, auth: this.#auth, limits: this.#limits },
          metadata.revocation,
          token,
          hint,
        ).catch((err: unknown) => {
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
      this.#noteChange(userKey)
      this.#forget(userKey)
      try {
        await this.#repository.remove(userKey)
      } finally {
        // Again once the delete is done: a grant this process wrote meanwhile is gone with it.
        this.#noteChange(userKey)
        this.#forget(userKey)
        if (lock !== undefined) await this.#repository.release(lock).catch(() => {})
      }
    }
    return { revokedAtServer }
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
    if (this.#metadata === undefined) {
      const { endpoints } = this.#options
      this.#metadata =
        endpoints === undefined
          ? discoverAuthorizationServer(
              this.issuer,
              this.#fetch,
              this.#limits,
              this.#options.allowInsecureRequests === true,
            )
          : Promise.resolve({ ...endpoints, issuer: this.issuer, issParameterSupported: false })
      this.#metadata = this.#metadata.then(async (metadata) => {
        await checkServerSupport(metadata, this.#auth)
        const supported = this.#options.issParameterSupported
        return supported === undefined ? metadata : { ...metadata, issParameterSupported: supported }
      })
      // A failed discovery is tried again on the next call.
      this.#metadata.catch(() => {
        this.#metadata = undefined
      })
    }
    return this.#metadata
  }

  /** @internal The token endpoint client (for the token swap service). */
  tokenEndpointClient(): Promise<TokenEndpointClient> {
    return this.#tokenClient()
  }

  /** The client id of the configured client. */
  get clientId(): string {
    return this.#auth.clientId
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
    return this.#deadGrant
  }

  /** Stops listening to the store. Does not close the store (you own it). */
  close(): void {
    this.#closed = true
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
    if (running !== undefined && !this.#changedSince(userKey, running.seq)) {
      if (covers(running.request, request)) return running.promise
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
      seq: this.#changeSeq,
      promise: promise.finally(() => {
        if (this.#inflight.get(userKey) === entry) this.#inflight.delete(userKey)
      }),
    }
    this.#inflight.set(userKey, entry)
    return entry.promise
  }

  async #tokenClient(): Promise<TokenEndpointClient> {
    const metadata = await this.metadata()
    return { fetch: this.#fetch, tokenEndpoint: metadata.token, auth: this.#auth, limits: this.#limits }
  }

  async #save(userKey: string, grant: Grant): Promise<void> {
    // A new grant: a refreshed one left unsaved from before is of the old grant, never to be written.
    this.#refreshContext.unsaved.delete(userKey)
    this.#refreshContext.failures.delete(userKey)
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await this.#repository.read(userKey)
      // A successful write fills the cache itself (see #written).
      const version = await this.#repository.write(userKey, grant, current?.version ?? 0)
      if (version !== undefined) return
    }
    throw new OngoingAccessError(
      'ERR_STORE',
      'The grant could not be saved: the store kept changing under the write',
    )
  }

  async #claimTransaction(id: string, expiresAt: number): Promise<void> {
    const ttlMs = Math.max(1_000, expiresAt - Date.now())
    let first = await this.#repository.claimOnce(id, ttlMs)
    if (first === undefined) {
      const now = Date.now()
      for (const [used, until] of this.#usedTransactions) {
        if (until > now && this.#usedTransactions.size < 100_000) break
        this.#usedTransactions.delete(used)
      }
      first = !this.#usedTransactions.has(id)
      this.#usedTransactions.set(id, expiresAt)
    }
    if (!first) throw new OngoingAccessError('ERR_TRANSACTION', 'Consent transaction was already used')
  }

  #remember(userKey: string, grant: Grant, since: number): void {
    if (this.#cacheMax === 0) return
    // Read (or written) before a change of this grant was seen: it may be the superseded grant.
    if (this.#changedSince(userKey, since)) return
    const refreshAt = refreshAtOf(grant, this.#skewMs)
    if (refreshAt <= Date.now()) return
    this.#cache.delete(userKey)
    if (this.#cache.size >= this.#cacheMax) this.#cache.delete(this.#cache.keys().next().value as string)
    this.#cache.set(userKey, { token: accessTokenOf(grant, false), refreshAt })
  }

  #forget(userKey: string): void {
    this.#cache.delete(userKey)
  }

  #onStoreChange(storeKey: string): void {
    const userKey = this.#repository.userKeyOf(storeKey)
    if (userKey === undefined) return
    this.#repository.ownWrites.heard(userKey)
    this.#heardChange(userKey)
    const listeners = this.#changeWaiters.get(userKey)
    if (listeners !== undefined) for (const listener of [...listeners]) listener()
  }

  /**
   * Records that `userKey`'s grant changed (a store notification, a revoke): a read that started
   * before must not fill the cache. Exact for the last {@link CHANGES_REMEMBERED} users; older
   * changes count as happening at the floor, so a read older than that floor is not cached.
   */
  #noteChange(userKey: string): void {
    const seq = ++this.#changeSeq
    this.#changedAt.delete(userKey)
    this.#changedAt.set(userKey, seq)
    if (this.#changedAt.size > CHANGES_REMEMBERED) {
      const [oldest, at] = this.#changedAt.entries().next().value as [string, number]
      this.#changedAt.delete(oldest)
      this.#changedFloor = at
    }
  }

  /**
   * This process wrote `grant`: a change (a read that started before may return the grant it
   * replaced), and the newest grant when no other writer's change was heard meanwhile.
   */
  #written(userKey: string, grant: Grant, alone: boolean): void {
    this.#noteChange(userKey)
    if (alone) this.#remember(userKey, grant, this.#changeSeq)
  }

  /** `userKey`'s grant changed in the store: what this process cached or is reading may be old. */
  #heardChange(userKey: string): void {
    this.#noteChange(userKey)
    this.#cache.delete(userKey)
  }

  /** Whether a change of `userKey`'s grant was heard after `seq` was taken. */
  #changedSince(userKey: string, seq: number): boolean {
    return (this.#changedAt.get(userKey) ?? this.#changedFloor) > seq
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

  /**
   * Starts listening for changes of `userKey`'s grant before the caller asks for the lock, so a
   * change that lands between a refused lock and the wait is not missed.
   */
  #watchChanges(userKey: string): ChangeWatch {
    let changed = false
    let wake: (() => void) | undefined
    const listener = () => {
      changed = true
      wake?.()
    }
    let listeners = this.#changeWaiters.get(userKey)
    if (listeners === undefined) {
      listeners = new Set()
      this.#changeWaiters.set(userKey, listeners)
    }
    const own = listeners
    own.add(listener)
    return {
      wait: (ms) => {
        if (changed) {
          changed = false
          return Promise.resolve()
        }
        return new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer)
            wake = undefined
            changed = false
            resolve()
          }
          const timer = setTimeout(done, ms)
          wake = done
        })
      },
      cancel: () => {
        own.delete(listener)
        if (own.size === 0 && this.#changeWaiters.get(userKey) === own) this.#changeWaiters.delete(userKey)
      },
    }
  }
}

function userKeyFromClaimsOf(
  option: OngoingAccessOptions['userKeyFromClaims'],
  scope: string,
): ((claims: IdTokenClaims) => string) | undefined {
  if (option === undefined) return undefined
  if (typeof option !== 'function')
    throw new TypeError('ongoing: `userKeyFromClaims` must be a function (claims) => string')
  if (!OPENID_SCOPE.test(scope))
    throw new TypeError(
      'ongoing: `userKeyFromClaims` needs `openid` in `scope`: the user key comes from the ID token',
    )
  return option
}

function checkUserKey(userKey: unknown): string {
  if (typeof userKey !== 'string' || userKey.length === 0 || userKey.length > MAX_USER_KEY_LENGTH) {
    throw new TypeError(
      `ongoing: \`userKey\` must be a non-empty string of at most ${MAX_USER_KEY_LENGTH} characters`,
    )
  }
  return userKey
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

function withBearer(request: Request, token: AccessToken): Request {
  const headers = new Headers(request.headers)
  headers.set('authorization', `Bearer ${token.value}`)
  return new Request(request, { headers })
}

/**
 * Whether a 401's `WWW-Authenticate` names an error other than `invalid_token` (RFC 6750 §3.1), e.g.
 * `insufficient_scope`: a fresh token would not help. Quoted values are read whole, so an `error=`
 * inside an `error_description` is not taken for the error.
 */
function namesAnotherError(header: string | null): boolean {
  if (header === null) return false
  for (const [, name, raw] of header.matchAll(
    /([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*)/g,
  )) {
    if (name?.toLowerCase() !== 'error' || raw === undefined) continue
    const value = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw
    if (value !== 'invalid_token') return true
  }
  return false
}
