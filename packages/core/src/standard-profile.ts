import { type AccessToken, dpopKeyOf } from './access-token.js'
import { parseCallbackParameters } from './callback.js'
import { type ClientAuthenticator, type ClientOptions, createClientAuthenticator } from './client-auth.js'
import { type DeadGrantPolicy, deadGrantPolicy } from './dead-grant.js'
import {
  type AuthorizationServerEndpoints,
  type AuthorizationServerMetadata,
  discoverAuthorizationServer,
} from './discovery.js'
import {
  asksForDPoPNonce,
  calculateDPoPThumbprint,
  chooseDPoPAlgorithm,
  createDPoPProof,
  type DPoPKeyMaterial,
  DPoPServerState,
  generateDPoPKey,
} from './dpop.js'
import { OngoingAccessError } from './errors.js'
import type { ASRequestLimits } from './http.js'
import {
  checkAlgorithms,
  DEFAULT_ID_TOKEN_ALGORITHMS,
  type IdTokenClaims,
  IdTokenVerifier,
} from './id-token.js'
import { preloadJose } from './jose.js'
import { absoluteHttpURL, checkSecureTransport } from './options.js'
import { generateRandomToken } from './pkce.js'
import type {
  AuthorizationRequest,
  AuthorizationResponse,
  AuthorizationStart,
  CodeExchange,
  Profile,
  ProfileClient,
  ProfileContext,
  TokenSet,
} from './profile.js'
import { pushAuthorizationRequest } from './pushed-authorization.js'
import { checkServerSupport } from './server-support.js'
import {
  authorizationCodeGrant,
  refreshTokenGrant,
  revokeToken,
  type TokenEndpointClient,
  type TokenEndpointResponse,
} from './token-endpoint.js'

/** The options of the standard profile: those of `OngoingAccess` that describe the server and the client. */
export interface StandardProfileOptions {
  issuer?: string | undefined
  endpoints?: AuthorizationServerEndpoints | undefined
  issParameterSupported?: boolean | undefined
  client?: ClientOptions | undefined
  authorizationParams?: Record<string, string> | undefined
  idTokenSigningAlgorithms?: string[] | undefined
  deadGrantErrors?: readonly string[] | undefined
  allowInsecureRequests?: boolean | undefined
  pushedAuthorizationRequests?: boolean | undefined
  dpop?: boolean | undefined
}

export const OPENID_SCOPE = /(?:^|\s)openid(?:\s|$)/
const OFFLINE_ACCESS_SCOPE = /(?:^|\s)offline_access(?:\s|$)/
const ENDPOINT_NAMES = ['authorization', 'token', 'revocation', 'jwks', 'pushedAuthorizationRequest'] as const

/**
 * The standard profile: OAuth 2.0 (RFC 6749) with PKCE, RFC 8414 / OpenID Connect discovery,
 * RFC 9207 `iss`, RFC 9126 pushed authorization requests, RFC 7009 revocation, Bearer tokens
 * (RFC 6750) or DPoP-bound ones (RFC 9449, the `dpop` option), and OpenID Connect ID tokens.
 * `OngoingAccess` builds it from its own options when no `profile` is given. Options are checked
 * here, at once.
 *
 * @throws {TypeError} for a bad option.
 * @see https://www.rfc-editor.org/rfc/rfc6749, https://openid.net/specs/openid-connect-core-1_0.html
 */
export function standardProfile(options: StandardProfileOptions): Profile {
  const allowInsecure = options.allowInsecureRequests === true
  checkSecureTransport(absoluteHttpURL(options.issuer, 'issuer'), 'issuer', allowInsecure)
  const { pushedAuthorizationRequests } = options
  if (pushedAuthorizationRequests !== undefined && typeof pushedAuthorizationRequests !== 'boolean')
    throw new TypeError('ongoing: `pushedAuthorizationRequests` must be a boolean')
  if (options.dpop !== undefined && typeof options.dpop !== 'boolean')
    throw new TypeError('ongoing: `dpop` must be a boolean')
  if (options.endpoints !== undefined) {
    for (const name of ENDPOINT_NAMES) {
      const value = options.endpoints[name]
      if (value === undefined && name !== 'authorization' && name !== 'token') continue
      checkSecureTransport(absoluteHttpURL(value, `endpoints.${name}`), `endpoints.${name}`, allowInsecure)
    }
  }
  // Compared as a string, exactly (RFC 8414 §3.3, RFC 9207 §2.4): no normalization.
  const issuer = options.issuer as string // checked above
  const auth = createClientAuthenticator(options.client as ClientOptions, () => issuer)
  const deadGrant = deadGrantPolicy(options.deadGrantErrors)
  const algorithms = checkAlgorithms(options.idTokenSigningAlgorithms ?? DEFAULT_ID_TOKEN_ALGORITHMS)
  return {
    name: 'oauth2',
    create: (context) => new StandardClient(options, issuer, auth, deadGrant, algorithms, context),
  }
}

class StandardClient implements ProfileClient {
  readonly issuer: string
  readonly clientId: string
  readonly deadGrant: DeadGrantPolicy
  readonly #options: StandardProfileOptions
  readonly #auth: ClientAuthenticator
  readonly #algorithms: string[]
  readonly #fetch: typeof fetch
  readonly #limits: ASRequestLimits
  #metadata: Promise<AuthorizationServerMetadata> | undefined
  /** With `dpop`: the servers' nonces and clock, for every proof of this client. */
  readonly #dpop: DPoPServerState | undefined
  #idTokenVerifier: IdTokenVerifier | undefined

  constructor(
    options: StandardProfileOptions,
    issuer: string,
    auth: ClientAuthenticator,
    deadGrant: DeadGrantPolicy,
    algorithms: string[],
    context: ProfileContext,
  ) {
    this.#options = options
    this.issuer = issuer
    this.#auth = auth
    this.clientId = auth.clientId
    this.deadGrant = deadGrant
    this.#algorithms = algorithms
    this.#fetch = context.fetch
    this.#limits = { timeoutMs: context.requestTimeoutMs, maxBodyBytes: context.maxResponseBytes }
    this.#dpop = options.dpop === true ? new DPoPServerState() : undefined
    // Only with DPoP: without it, `fetch` keeps no spare copy of each request for a nonce retry.
    if (this.#dpop !== undefined)
      this.asksForNewProof = (request, response) => this.#asksForNonce(request, response)
  }

  readonly asksForNewProof?: (request: Request, response: Response) => boolean

  ready(): Promise<AuthorizationServerMetadata> {
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
        await checkServerSupport(metadata, this.#auth, {
          pushedAuthorizationRequests: this.#options.pushedAuthorizationRequests === true,
        })
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

  async startAuthorization(request: AuthorizationRequest): Promise<AuthorizationStart> {
    const metadata = await this.ready()
    const { scope } = request
    const openid = OPENID_SCOPE.test(scope)
    // The callback will verify an ID token: have `jose` ready by then.
    if (openid) preloadJose()
    const nonce = openid ? generateRandomToken() : undefined
    const params = new URLSearchParams({
      // OpenID Connect Core §11: a request for offline_access carries prompt=consent.
      ...(OFFLINE_ACCESS_SCOPE.test(scope) ? { prompt: 'consent' } : {}),
      ...this.#options.authorizationParams,
      ...request.params,
    })
    params.set('response_type', 'code')
    params.set('client_id', this.clientId)
    params.set('redirect_uri', request.redirectUri)
    if (scope !== '') params.set('scope', scope)
    params.set('state', request.state)
    if (nonce !== undefined) params.set('nonce', nonce)
    params.set('code_challenge', request.codeChallenge)
    params.set('code_challenge_method', request.codeChallengeMethod)
    let dpopKey: DPoPKeyMaterial | undefined
    if (this.#dpop !== undefined) {
      // RFC 9449 §10: the code is bound to the grant's key from the start.
      dpopKey = await generateDPoPKey(chooseDPoPAlgorithm(metadata.dpopSigningAlgs))
      params.set('dpop_jkt', await calculateDPoPThumbprint(dpopKey))
    }
    const url = new URL(metadata.authorization)
    // RFC 9126 §5: a server that requires pushed requests refuses any other, whatever the option says.
    const endpoint = metadata.pushedAuthorizationRequest
    if (
      endpoint !== undefined &&
      (this.#options.pushedAuthorizationRequests === true || metadata.requirePushedAuthorizationRequests)
    ) {
      const { requestUri } = await pushAuthorizationRequest(
        { fetch: this.#fetch, auth: this.#auth, limits: this.#limits },
        endpoint,
        params,
      )
      // RFC 9126 §4: the redirect carries the reference and the client, nothing of the request.
      url.searchParams.set('client_id', this.clientId)
      url.searchParams.set('request_uri', requestUri)
    } else {
      for (const [name, value] of params) url.searchParams.set(name, value)
    }
    return { url, nonce, dpopKey }
  }

  readCallback(callbackUrl: URL): AuthorizationResponse {
    const params = parseCallbackParameters(callbackUrl)
    const common = { state: params.state, iss: params.iss }
    if (params.error === 'access_denied' || params.result === 'CANCEL')
      return { ...common, outcome: 'denied', error: params.error }
    if (params.error !== undefined || params.result === 'ERROR')
      return {
        ...common,
        outcome: 'error',
        error: params.error ?? 'error',
        errorDescription: params.errorDescription,
      }
    return { ...common, outcome: 'code', code: params.code }
  }

  async checkIssuer(response: AuthorizationResponse): Promise<void> {
    const metadata = await this.ready()
    if (response.iss !== undefined) {
      if (response.iss !== this.issuer)
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
  }

  async exchangeCode(exchange: CodeExchange): Promise<TokenSet> {
    const client = await this.tokenEndpointClient(exchange.dpopKey)
    const response = await authorizationCodeGrant(
      client,
      exchange.code,
      exchange.codeVerifier,
      exchange.redirectUri,
    )
    const claims = await this.#verifyIdToken(response.idToken, exchange)
    return { ...tokenSetOf(response), claims }
  }

  async refresh(refreshToken: string, dpopKey?: DPoPKeyMaterial): Promise<TokenSet> {
    return tokenSetOf(await refreshTokenGrant(await this.tokenEndpointClient(dpopKey), refreshToken))
  }

  authorize(request: Request, token: AccessToken): Request | Promise<Request> {
    const key = this.#dpop === undefined ? undefined : dpopKeyOf(token)
    const headers = new Headers(request.headers)
    if (key === undefined || this.#dpop === undefined) {
      headers.set('authorization', `Bearer ${token.value}`)
      return new Request(request, { headers })
    }
    return this.#authorizeDPoP(request, headers, token.value, key, this.#dpop)
  }

  /** RFC 9449 §7.1: `Authorization: DPoP <token>` and a proof of this request, with `ath`. */
  async #authorizeDPoP(
    request: Request,
    headers: Headers,
    token: string,
    key: DPoPKeyMaterial,
    state: DPoPServerState,
  ): Promise<Request> {
    headers.set('authorization', `DPoP ${token}`)
    headers.set(
      'dpop',
      await createDPoPProof(key, {
        htm: request.method,
        url: request.url,
        nonce: state.nonceFor(request.url),
        accessToken: token,
        clockOffsetSeconds: state.clockOffsetSeconds,
      }),
    )
    return new Request(request, { headers })
  }

  #asksForNonce(request: Request, response: Response): boolean {
    if (this.#dpop === undefined) return false
    // Any answer may carry the next nonce (RFC 9449 §8.2); a 401 `use_dpop_nonce` asks for it now.
    const nonce = this.#dpop.noteNonce(request.url, response.headers)
    return nonce !== undefined && asksForDPoPNonce(response)
  }

  rejectsToken(response: Response): boolean {
    return response.status === 401 && !namesAnotherError(response.headers.get('www-authenticate'))
  }

  async revoke(
    token: string,
    hint: 'refresh_token' | 'access_token',
    dpopKey?: DPoPKeyMaterial,
  ): Promise<boolean> {
    const metadata = await this.ready()
    if (metadata.revocation === undefined) return false
    return revokeToken(
      { fetch: this.#fetch, auth: this.#auth, limits: this.#limits, dpop: this.#dpopOf(dpopKey) },
      metadata.revocation,
      token,
      hint,
    )
  }

  /** The token endpoint, its client authentication and limits (and DPoP, with a grant's key). */
  async tokenEndpointClient(dpopKey?: DPoPKeyMaterial): Promise<TokenEndpointClient> {
    const metadata = await this.ready()
    return {
      fetch: this.#fetch,
      tokenEndpoint: metadata.token,
      auth: this.#auth,
      limits: this.#limits,
      dpop: this.#dpopOf(dpopKey),
    }
  }

  #dpopOf(key: DPoPKeyMaterial | undefined) {
    return this.#dpop === undefined ? undefined : { key, state: this.#dpop }
  }

  /**
   * The verified claims of the token response's ID token; `undefined` when there is none, or no key
   * set to verify it with, unless the claims are required (then that is an error).
   */
  async #verifyIdToken(
    idToken: string | undefined,
    exchange: CodeExchange,
  ): Promise<IdTokenClaims | undefined> {
    if (idToken === undefined) {
      if (!exchange.claimsRequired) return undefined
      throw new OngoingAccessError(
        'ERR_INVALID_RESPONSE',
        'Token endpoint answered without an ID token, which `userKeyFromClaims` needs: did the server grant the `openid` scope?',
      )
    }
    const metadata = await this.ready()
    if (metadata.jwks === undefined) {
      if (!exchange.claimsRequired) return undefined
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
      this.clientId,
      this.#algorithms,
    )
    return this.#idTokenVerifier.verify(idToken, exchange.nonce)
  }
}

function tokenSetOf(response: TokenEndpointResponse): TokenSet {
  return {
    accessToken: response.accessToken,
    tokenType: response.tokenType,
    expiresIn: response.expiresIn,
    refreshToken: response.refreshToken,
    refreshExpiresIn: response.refreshExpiresIn,
    scope: response.scope,
  }
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
