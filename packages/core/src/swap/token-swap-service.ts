import { createHash } from 'node:crypto'
import { isOngoingAccessError } from '../errors.js'
import type { OngoingAccess } from '../ongoing-access.js'
import type { TokenSet } from '../profile.js'
import { withRetries } from '../retry.js'
import { createMemoryRateLimiter } from './memory-rate-limiter.js'

/**
 * Decides whether a client address may make another swap or refresh call now. Return `false` to
 * answer `429`.
 */
export type SwapRateLimiter = (clientAddress: string) => boolean | Promise<boolean>

/** Options of {@link TokenSwapService}. */
export interface TokenSwapOptions {
  /**
   * Redirect URIs the mobile app may use (custom schemes, universal links). A swap request's
   * `redirect_uri` must be one of them; without one in the request, the first is used.
   * Default: `[access.redirectUri]`.
   */
  redirectUris?: string[]
  /** Refuse refresh handles older than this (seconds since the handle was issued). Default: no limit. */
  maxHandleAgeSeconds?: number
  /** Largest request body accepted. Default: 8 KB. */
  maxBodyBytes?: number
  /**
   * Rate limit per client address. Default: 30 calls a minute per address, in memory, an IPv6
   * address counting with its /64 and at most 100,000 clients tracked a minute
   * (`createMemoryRateLimiter(30, 60_000)`); `false` turns it off.
   */
  rateLimit?: SwapRateLimiter | false
}

/** A swap request, as an adapter read it. */
export interface SwapRequest {
  /** The `Content-Type` header. */
  contentType: string | undefined
  /** The raw body, read by the adapter with at most `maxBodyBytes + 1` bytes; `undefined` if it was larger. */
  body: string | undefined
  /** The client's address, for rate limiting. */
  clientAddress: string
}

/** What an adapter writes back: always JSON, never cached. */
export interface SwapResponse {
  status: number
  headers: Record<string, string>
  json: Record<string, unknown>
}

interface HandleShape {
  v: 1
  rt: string
  iat: number
}

/**
 * The token swap and refresh service for native apps (the protocol of the Spotify iOS SDK's
 * `tokenSwapURL` / `tokenRefreshURL`): the app never holds the client secret, and never holds the
 * real refresh token — it gets a sealed handle (AES-256-GCM, key id, rotation through `secret`,
 * bound to the issuer and the client id), which only this service can open.
 *
 * - `POST swap`, form `code` (and `code_verifier`, `redirect_uri` when the app used PKCE) →
 *   `{ access_token, token_type, expires_in, refresh_token: <handle>, scope }`.
 * - `POST refresh`, form `refresh_token=<handle>` → `{ access_token, token_type, expires_in, scope }`,
 *   plus a new handle when the server rotated the refresh token.
 * - Errors are RFC 6749 §5.2 JSON; bad input is answered `400` without calling the server.
 *
 * @example
 * ```ts
 * const swap = new TokenSwapService(access, { redirectUris: ['myapp://callback'] })
 * const response = await swap.swap({ contentType, body, clientAddress })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5 (responses), https://www.rfc-editor.org/rfc/rfc8252 (native apps)
 */
export class TokenSwapService {
  /** Largest body an adapter should read. */
  readonly maxBodyBytes: number
  readonly #access: OngoingAccess
  readonly #redirectUris: string[]
  readonly #maxAgeMs: number | undefined
  readonly #rateLimit: SwapRateLimiter | undefined
  readonly #inflight = new Map<string, Promise<SwapResponse>>()

  constructor(access: OngoingAccess, options: TokenSwapOptions = {}) {
    this.#access = access
    this.#redirectUris = options.redirectUris ?? [access.redirectUri]
    if (
      !Array.isArray(this.#redirectUris) ||
      this.#redirectUris.length === 0 ||
      this.#redirectUris.some((u) => typeof u !== 'string' || u === '')
    ) {
      throw new TypeError('ongoing: `redirectUris` must be a non-empty list of URIs')
    }
    const { maxHandleAgeSeconds, maxBodyBytes = 8 * 1024 } = options
    if (maxHandleAgeSeconds !== undefined && !(maxHandleAgeSeconds > 0))
      throw new TypeError('ongoing: `maxHandleAgeSeconds` must be positive')
    if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 256)
      throw new TypeError('ongoing: `maxBodyBytes` must be an integer of at least 256')
    this.#maxAgeMs = maxHandleAgeSeconds === undefined ? undefined : maxHandleAgeSeconds * 1000
    this.maxBodyBytes = maxBodyBytes
    if (
      options.rateLimit !== undefined &&
      options.rateLimit !== false &&
      typeof options.rateLimit !== 'function'
    ) {
      throw new TypeError('ongoing: `rateLimit` must be a function or false')
    }
    this.#rateLimit =
      options.rateLimit === false ? undefined : (options.rateLimit ?? createMemoryRateLimiter(30, 60_000))
  }

  /** `POST swap`: exchanges an authorization code for tokens, handing out a sealed refresh handle. */
  async swap(request: SwapRequest): Promise<SwapResponse> {
    const form = await this.#readForm(request)
    if ('status' in form) return form
    const code = single(form, 'code')
    if (code === undefined || code === '') return invalidRequest('`code` is missing or empty')
    const verifier = single(form, 'code_verifier')
    if (verifier !== undefined && !/^[A-Za-z0-9._~-]{43,128}$/.test(verifier))
      return invalidRequest('`code_verifier` is malformed')
    const requested = single(form, 'redirect_uri')
    if (requested !== undefined && !this.#redirectUris.includes(requested))
      return invalidRequest('`redirect_uri` is not registered')
    const redirectUri = requested ?? this.#redirectUris[0]!
    return this.#call(async () => {
      const response = await this.#access.profileClient.exchangeCode({
        code,
        codeVerifier: verifier,
        redirectUri,
        nonce: undefined,
        claimsRequired: false,
      })
      return this.#answer(response, undefined)
    })
  }

  /** `POST refresh`: refreshes with the real refresh token sealed in the handle. */
  async refresh(request: SwapRequest): Promise<SwapResponse> {
    const form = await this.#readForm(request)
    if ('status' in form) return form
    const handle = single(form, 'refresh_token')
    if (handle === undefined || handle === '') return invalidRequest('`refresh_token` is missing or empty')
    const refreshToken = this.#openHandle(handle)
    if (refreshToken === undefined)
      return oauthError(
        400,
        'invalid_grant',
        'The refresh token is invalid, expired, or was issued for another client',
      )
    // The same handle sent twice at once (a retrying app) shares one call: two would trip rotation.
    const key = createHash('sha256').update(handle).digest('base64url')
    const running = this.#inflight.get(key)
    if (running !== undefined) return running
    const promise = this.#call(async () => {
      const profile = this.#access.profileClient
      const response = await withRetries(() => profile.refresh(refreshToken), this.#access.retryOptions)
      return this.#answer(response, refreshToken)
    }, true).finally(() => this.#inflight.delete(key))
    this.#inflight.set(key, promise)
    return promise
  }

  /** Seals a refresh token into a handle for the configured issuer and client. */
  sealHandle(refreshToken: string): string {
    const shape: HandleShape = { v: 1, rt: refreshToken, iat: Date.now() }
    return this.#access.sealer.seal('swap-handle', JSON.stringify(shape), this.#binding())
  }

  #openHandle(handle: string): string | undefined {
    const json = this.#access.sealer.open('swap-handle', handle, this.#binding())
    if (json === undefined) return undefined
    const shape = JSON.parse(json) as HandleShape
    if (shape.v !== 1 || typeof shape.rt !== 'string') return undefined
    if (this.#maxAgeMs !== undefined && Date.now() - shape.iat > this.#maxAgeMs) return undefined
    return shape.rt
  }

  /**
   * What a handle is bound to: the issuer and the client id. Two authorization servers may share a
   * client id (and the app one `secret`); a handle of one must never reach the other.
   */
  #binding(): string {
    return JSON.stringify([this.#access.issuer, this.#access.clientId])
  }

  #answer(response: TokenSet, previousRefreshToken: string | undefined): SwapResponse {
    const json: Record<string, unknown> = {
      access_token: response.accessToken,
      token_type: response.tokenType,
      expires_in:
        response.expiresAt !== undefined
          ? Math.max(0, Math.floor((response.expiresAt - Date.now()) / 1000))
          : (response.expiresIn ?? 3600),
    }
    if (response.scope !== undefined) json.scope = response.scope
    if (response.refreshToken !== undefined && response.refreshToken !== previousRefreshToken) {
      json.refresh_token = this.sealHandle(response.refreshToken)
    }
    return { status: 200, headers: NO_STORE, json }
  }

  async #readForm(request: SwapRequest): Promise<URLSearchParams | SwapResponse> {
    const type = request.contentType?.split(';')[0]?.trim().toLowerCase()
    if (type !== 'application/x-www-form-urlencoded')
      return invalidRequest('Content-Type must be application/x-www-form-urlencoded')
    if (request.body === undefined || Buffer.byteLength(request.body) > this.maxBodyBytes)
      return invalidRequest('The request body is too large')
    if (this.#rateLimit !== undefined && !(await this.#rateLimit(request.clientAddress))) {
      return {
        status: 429,
        headers: { ...NO_STORE, 'retry-after': '60' },
        json: { error: 'slow_down', error_description: 'Too many requests' },
      }
    }
    return new URLSearchParams(request.body)
  }

  async #call(operation: () => Promise<SwapResponse>, refreshing = false): Promise<SwapResponse> {
    try {
      return await operation()
    } catch (err) {
      // A server that says "dead grant" its own way: the app hears it the standard way.
      if (refreshing && this.#access.deadGrantPolicy.isDead(err) && err.oauthError !== 'invalid_grant')
        return oauthError(400, 'invalid_grant', 'The refresh token expired or was revoked')
      if (
        isOngoingAccessError(err) &&
        err.code === 'ERR_TOKEN_ENDPOINT' &&
        err.oauthError !== undefined &&
        err.status !== undefined &&
        err.status < 500
      ) {
        // The authorization server's own error is the cause: pass it through.
        return oauthError(err.status, err.oauthError, err.oauthErrorDescription)
      }
      if (isOngoingAccessError(err) && err.code === 'ERR_NETWORK')
        return oauthError(504, 'temporarily_unavailable', 'The authorization server did not answer')
      return oauthError(502, 'server_error', 'The authorization server answered unexpectedly')
    }
  }
}

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' }

function single(form: URLSearchParams, name: string): string | undefined {
  const values = form.getAll(name)
  return values.length === 1 ? values[0] : values.length === 0 ? undefined : ''
}

function invalidRequest(description: string): SwapResponse {
  return oauthError(400, 'invalid_request', description)
}

function oauthError(status: number, error: string, description: string | undefined): SwapResponse {
  const json: Record<string, unknown> = { error }
  if (description !== undefined) json.error_description = description
  return { status, headers: NO_STORE, json }
}
