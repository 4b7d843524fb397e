import { EventEmitter } from 'node:events'
import { type AccessToken, accessTokenOf, type Grant, refreshAtOf } from './access-token.js'
import { parseCallbackParameters } from './callback.js'
import { type ClientAuthenticator, createClientAuthenticator } from './client-auth.js'
import { type AuthorizationServerMetadata, discoverAuthorizationServer } from './discovery.js'
import { type ConsentRequiredError, OngoingAccessError } from './errors.js'
import { GrantRepository } from './grant-repository.js'
import type { ASRequestLimits } from './http.js'
import { checkAlgorithms, DEFAULT_ID_TOKEN_ALGORITHMS, IdTokenVerifier } from './id-token.js'
import { preloadJose } from './jose.js'
import { type Logger, silentLogger } from './logger.js'
import { MemoryTokenStore } from './memory-token-store.js'
import {
  absoluteHttpURL,
  type OngoingAccessOptions,
  type OnRefreshTokenExpired,
  positiveNumber,
} from './options.js'
import { calculatePKCECodeChallenge, generateCodeVerifier, generateRandomToken } from './pkce.js'
import {
  type ChangeWatch,
  type RefreshContext,
  type RefreshRequest,
  refreshGrant,
  UnsavedGrants,
} from './refresh.js'
import { maxTotalBackoffMs, type ResolvedRetryOptions, resolveRetryOptions } from './retry.js'
import { sanitizeReturnTo } from './return-to.js'
import { Sealer, secretsFrom } from './sealing.js'
import { authorizationCodeGrant, revokeToken, type TokenEndpointClient } from './token-endpoint.js'
import type { TokenStore } from './token-store.js'
import { openTransaction, sealTransaction } from './transaction.js'

/** Options of {@link OngoingAccess.startConsent}. */
export interface StartConsentOptions {
  /** Whose grant this consent creates (your user id, or a random key the adapter keeps in a cookie). */
  userKey: string
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
  userKey: string
  /** The sanitized `returnTo` given to `startConsent`, if any. */
  returnTo?: string | undefined
  token: AccessToken
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
  /** A refresh failed for a reason other than a dead grant (network, server, store). */
  refreshError: [{ userKey: string; error: OngoingAccessError }]
  /** A grant is missing or dead: the user must consent again. */
  consentRequired: [{ userKey: string; reason: ConsentRequiredError['reason'] }]
}

interface CacheEntry {
  token: AccessToken
  refreshAt: number
}

const MAX_USER_KEY_LENGTH = 512
const OPENID_SCOPE = /(?:^|\s)openid(?:\s|$)/

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
  readonly #repository: GrantRepository
  readonly #logger: Logger
  readonly #skewMs: number
  readonly #transactionTtlMs: number
  readonly #cacheMax: number
  readonly #cache = new Map<string, CacheEntry>()
  readonly #inflight = new Map<string, Promise<AccessToken>>()
  readonly #usedTransactions = new Map<string, number>()
  readonly #changeWaiters = new Map<string, Set<() => void>>()
  readonly #refreshContext: RefreshContext
  #metadata: Promise<AuthorizationServerMetadata> | undefined
  #idTokenVerifier: IdTokenVerifier | undefined
  readonly #idTokenAlgorithms: string[]
  #unsubscribe: (() => void) | undefined

  constructor(options: OngoingAccessOptions) {
    super()
    if (typeof options !== 'object' || options === null) throw new TypeError('ongoing: options are required')
    this.#options = options
    absoluteHttpURL(options.issuer, 'issuer')
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
      absoluteHttpURL(options.endpoints.authorization, 'endpoints.authorization')
      absoluteHttpURL(options.endpoints.token, 'endpoints.token')
      if (options.endpoints.revocation !== undefined)
        absoluteHttpURL(options.endpoints.revocation, 'endpoints.revocation')
    }
    if (options.fetch !== undefined && typeof options.fetch !== 'function')
      throw new TypeError('ongoing: `fetch` must be a function')
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
    if (options.logger !== undefined && typeof options.logger !== 'function')
      throw new TypeError('ongoing: `logger` must be a function')
    this.#logger = options.logger ?? silentLogger
    this.#auth = createClientAuthenticator(options.client, () => this.issuer)
    this.sealer = new Sealer(secretsFrom(options.secret))
    this.#limits = {
      timeoutMs: positiveNumber(options.requestTimeoutMs, 'requestTimeoutMs', 10_000),
      maxBodyBytes: positiveNumber(options.maxResponseBytes, 'maxResponseBytes', 1024 * 1024),
    }
    this.#retry = resolveRetryOptions(options.retry)
    this.#idTokenAlgorithms = checkAlgorithms(options.idTokenSigningAlgorithms ?? DEFAULT_ID_TOKEN_ALGORITHMS)
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
    this.#repository = new GrantRepository(
      store,
      options.encryptTokens === false ? undefined : this.sealer,
      this.issuer,
      this.#auth.clientId,
      positiveNumber(options.storeTimeoutMs, 'storeTimeoutMs', 1_000),
    )
    const defaultExpiresInMs =
      positiveNumber(options.defaultExpiresInSeconds, 'defaultExpiresInSeconds', 3_600) * 1000
    this.#refreshContext = {
      repository: this.#repository,
      tokenClient: () => this.#tokenClient(),
      retry: this.#retry,
      skewMs: this.#skewMs,
      lockTtlMs: this.#retry.attempts * this.#limits.timeoutMs + maxTotalBackoffMs(this.#retry) + 2_000,
      watchChanges: (userKey) => this.#watchChanges(userKey),
      defaultExpiresInMs,
      logger: this.#logger,
      onRefresh: (userKey, token, rotated) => {
        this.#logger('info', 'ongoing: token refreshed', { userKey, expiresAt: token.expiresAt, rotated })
        this.emit('refresh', { userKey, expiresAt: token.expiresAt, rotated })
      },
      onRefreshError: (userKey, error) => {
        this.#logger('warn', 'ongoing: token refresh failed', {
          userKey,
          code: error.code,
          status: error.status,
          oauthError: error.oauthError,
        })
        this.emit('refreshError', { userKey, error })
      },
      onConsentRequired: (error) => {
        this.#forget(error.userKey)
        this.#logger('info', 'ongoing: consent required', { userKey: error.userKey, reason: error.reason })
        this.emit('consentRequired', { userKey: error.userKey, reason: error.reason })
      },
      remember: (userKey, grant) => this.#remember(userKey, grant),
      unsaved: new UnsavedGrants(10_000),
    }
    if (store.subscribe !== undefined) {
      this.#unsubscribe = store.subscribe((storeKey) => this.#onStoreChange(storeKey))
    }
  }

  /**
   * Starts a consent: a PKCE (S256) verifier, a random `state`, and the sealed transaction that
   * remembers them until the callback.
   *
   * @throws {OngoingAccessError} `ERR_INVALID_RESPONSE` when discovery fails.
   * @example
   * ```ts
   * const { url, transaction } = await access.startConsent({ userKey, returnTo: '/library' })
   * res.cookie('tx', transaction, { httpOnly: true, sameSite: 'lax' }).redirect(url.href)
   * ```
   * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1, https://www.rfc-editor.org/rfc/rfc7636#section-4.3
   */
  async startConsent(options: StartConsentOptions): Promise<StartConsentResult> {
    const userKey = checkUserKey(options?.userKey)
    const metadata = await this.metadata()
    const state = generateRandomToken()
    const codeVerifier = generateCodeVerifier()
    const scope = options.scope ?? this.#options.scope
    // The callback will verify an ID token: have `jose` ready by then.
    if (OPENID_SCOPE.test(scope)) preloadJose()
    const returnTo = options.returnTo === undefined ? undefined : sanitizeReturnTo(options.returnTo)
    const url = new URL(metadata.authorization)
    const params = { ...this.#options.authorizationParams, ...options.params }
    for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value)
    url.searchParams.set('response_type', 'code')
    url.searchParams.set('client_id', this.#auth.clientId)
    url.searchParams.set('redirect_uri', this.redirectUri)
    if (scope !== '') url.searchParams.set('scope', scope)
    url.searchParams.set('state', state)
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
      expiresAt: Date.now() + this.#transactionTtlMs,
    })
    return { url, transaction, state, codeVerifier }
  }

  /**
   * Finishes a consent: checks the transaction, `state` and `iss`, maps a denial or an error,
   * exchanges the code (with the PKCE verifier) and stores the grant.
   *
   * @throws {OngoingAccessError} `ERR_TRANSACTION` (missing, tampered, expired, replayed, state
   *   mismatch), `ERR_ISSUER_MISMATCH`, `ERR_CONSENT_DENIED`, `ERR_AUTHORIZATION`,
   *   `ERR_TOKEN_ENDPOINT`, `ERR_INVALID_RESPONSE`, `ERR_STORE`.
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
    if (params.state !== tx.state)
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
    if (response.idToken !== undefined && metadata.jwks !== undefined) {
      this.#idTokenVerifier ??= new IdTokenVerifier(
        metadata.jwks,
        this.#fetch,
        this.#limits.timeoutMs,
        this.issuer,
        this.#auth.clientId,
        this.#idTokenAlgorithms,
      )
      await this.#idTokenVerifier.verify(response.idToken)
    }
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
    }
    if (response.refreshToken === undefined) {
      this.#logger(
        'warn',
        'ongoing: the authorization server issued no refresh token; this grant ends when its access token expires',
        {
          userKey: tx.userKey,
        },
      )
    }
    await this.#save(tx.userKey, grant)
    return { userKey: tx.userKey, returnTo: tx.returnTo, token: accessTokenOf(grant, false) }
  }

  /**
   * A fresh access token for `userKey`, refreshed when it expires within `refreshSkewSeconds`.
   * Concurrent callers share one refresh per grant (in this process, and across processes when
   * the store has a lock).
   *
   * @throws {ConsentRequiredError} `ERR_CONSENT_REQUIRED` when there is no grant or it is dead.
   * @throws {OngoingAccessError} `ERR_TOKEN_ENDPOINT`, `ERR_INVALID_RESPONSE` (after retries), `ERR_STORE`.
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
    })
  }

  /**
   * `fetch` with `userKey`'s bearer token. On `401` with `error="invalid_token"` it refreshes once
   * and retries once; never more.
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
    if (response.status !== 401 || !isInvalidTokenChallenge(response.headers.get('www-authenticate')))
      return response
    await response.body?.cancel().catch(() => {})
    const fresh = await this.#refresh(userKey, { force: true, rejectedValue: token.value })
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
    let revokedAtServer = false
    try {
      const read = await this.#repository.read(userKey)
      const token = read?.grant?.refreshToken ?? read?.grant?.accessToken
      const metadata = read?.grant === undefined ? undefined : await this.metadata()
      if (metadata?.revocation !== undefined && token !== undefined && read?.grant !== undefined) {
        const hint = read.grant.refreshToken === undefined ? 'access_token' : 'refresh_token'
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
      this.#forget(userKey)
      await this.#repository.remove(userKey)
    }
    return { revokedAtServer }
  }

  /** The authorization server's metadata (discovered once, or from `endpoints`). */
  metadata(): Promise<AuthorizationServerMetadata> {
    if (this.#metadata === undefined) {
      const { endpoints } = this.#options
      this.#metadata =
        endpoints === undefined
          ? discoverAuthorizationServer(this.issuer, this.#fetch, this.#limits)
          : Promise.resolve({ ...endpoints, issuer: this.issuer, issParameterSupported: false })
      this.#metadata = this.#metadata.then((metadata) => {
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

  /** Stops listening to the store. Does not close the store (you own it). */
  close(): void {
    this.#unsubscribe?.()
    this.#unsubscribe = undefined
    this.#cache.clear()
  }

  #refresh(userKey: string, request: RefreshRequest): Promise<AccessToken> {
    const running = this.#inflight.get(userKey)
    if (running !== undefined) return running
    try {
      checkUserKey(userKey)
    } catch (err) {
      return Promise.reject(err)
    }
    const promise = refreshGrant(this.#refreshContext, userKey, request).finally(() => {
      this.#inflight.delete(userKey)
    })
    this.#inflight.set(userKey, promise)
    return promise
  }

  async #tokenClient(): Promise<TokenEndpointClient> {
    const metadata = await this.metadata()
    return { fetch: this.#fetch, tokenEndpoint: metadata.token, auth: this.#auth, limits: this.#limits }
  }

  async #save(userKey: string, grant: Grant): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await this.#repository.read(userKey)
      const version = await this.#repository.write(userKey, grant, current?.version ?? 0)
      if (version !== undefined) {
        this.#remember(userKey, grant)
        return
      }
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

  #remember(userKey: string, grant: Grant): void {
    if (this.#cacheMax === 0) return
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
    this.#cache.delete(userKey)
    const listeners = this.#changeWaiters.get(userKey)
    if (listeners !== undefined) for (const listener of [...listeners]) listener()
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

function checkUserKey(userKey: unknown): string {
  if (typeof userKey !== 'string' || userKey.length === 0 || userKey.length > MAX_USER_KEY_LENGTH) {
    throw new TypeError(
      `ongoing: \`userKey\` must be a non-empty string of at most ${MAX_USER_KEY_LENGTH} characters`,
    )
  }
  return userKey
}

function withBearer(request: Request, token: AccessToken): Request {
  const headers = new Headers(request.headers)
  headers.set('authorization', `Bearer ${token.value}`)
  return new Request(request, { headers })
}

function isInvalidTokenChallenge(header: string | null): boolean {
  return header !== null && /^\s*bearer\b/i.test(header) && /\berror\s*=\s*"?invalid_token"?/i.test(header)
}
