import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { ClientLike, ClientMetadata, Configuration, OIDCProviderError } from 'oidc-provider'
import Provider from 'oidc-provider'
import {
  CLIENT_SIGNING_ALGORITHMS,
  type ClientSigningKeys,
  generateClientSigningKeys,
  generateServerSigningKey,
  type PrivateJWK,
  toPublicJWK,
} from './client-keys.js'
import { MemoryStore } from './memory-store.js'
import { readRequestBody, replayRequest } from './request-body.js'
import { ServerStats, type TestAuthorizationServerStats } from './server-stats.js'

export type { ClientSigningKeys, PrivateJWK } from './client-keys.js'
export type { TestAuthorizationServerStats } from './server-stats.js'

/** Options of {@link startTestAuthorizationServer}. */
export interface TestAuthorizationServerOptions {
  /** Lifetime of issued access tokens (`expires_in`). Default `60`. */
  accessTokenTTLSeconds?: number
  /**
   * Lifetime of each issued refresh token, counted from its issue: a rotated refresh token gets
   * the full lifetime again. Default `3600`.
   */
  refreshTokenTTLSeconds?: number
  /**
   * Rotate refresh tokens on every use, strictly: presenting an already rotated refresh token
   * gets `invalid_grant` and revokes the whole grant (every token issued under it), concurrent
   * uses of one refresh token included. `false` keeps the same refresh token for the grant's
   * life and allows any number of uses. Default `true`.
   */
  rotateRefreshToken?: boolean
  /** Port to listen on, on 127.0.0.1. Default `0` (a free port). */
  port?: number
  /**
   * Redirect URIs every client may use, in addition to the defaults
   * (`http://127.0.0.1/callback`, `http://localhost/callback`, `http://127.0.0.1/auth/callback`,
   * `http://localhost/auth/callback`). Loopback `http` URIs match on any port (RFC 8252). A
   * non-loopback `http` URI makes the clients web clients, which compare redirect URIs exactly,
   * port included.
   */
  redirectUris?: string[]
  /** Scopes the server knows. Default `['openid', 'offline_access', 'api:read', 'api:write']`. */
  scopes?: string[]
  /**
   * When a refresh token is issued. `'always'`: to every client allowed the refresh_token grant,
   * whatever the scope and prompt. `'offline_access'`: oidc-provider's own rule, as OpenID Connect
   * Core section 11 describes it: only when the granted scope has `offline_access`, which the server
   * grants only to a request with `prompt=consent`. Default `'always'`.
   */
  refreshTokens?: 'always' | 'offline_access'
  /**
   * Client authentication methods the server accepts and advertises
   * (`token_endpoint_auth_methods_supported`), for a server that does not support them all.
   * A client whose method is left out is not registered (the confidential client is registered
   * with `client_secret_post` when only that one is listed). Default: `client_secret_basic`,
   * `client_secret_post`, `client_secret_jwt`, `private_key_jwt`, `none`.
   */
  clientAuthMethods?: string[]
  /**
   * Algorithms accepted and advertised for `private_key_jwt` assertions
   * (`token_endpoint_auth_signing_alg_values_supported`). Default: RS256, PS256, PS512, ES256,
   * EdDSA (and Ed25519).
   */
  clientAuthSigningAlgorithms?: string[]
  /** The confidential client's secret, e.g. one with characters form-encoding changes. Default: random. */
  confidentialClientSecret?: string
  /**
   * The `error` the token endpoint answers (status 400) to a refresh token that is expired,
   * revoked or reused, for a server that mislabels a dead grant. Default: `'invalid_grant'`, as
   * RFC 6749 section 5.2 says.
   */
  deadRefreshTokenError?: 'invalid_grant' | 'invalid_request' | 'unauthorized_client'
  /**
   * Pushed authorization requests (RFC 9126), through oidc-provider's own
   * `features.pushedAuthorizationRequests`. `true`: offered at `/request`
   * (`pushed_authorization_request_endpoint` in the metadata), and plain authorization requests are
   * taken too. `'required'`: the metadata says `require_pushed_authorization_requests: true`, and an
   * authorization request that was not pushed is refused (`invalid_request`). `false`: not offered
   * (no endpoint in the metadata). Default `true`, as oidc-provider has it.
   *
   * @see https://www.rfc-editor.org/rfc/rfc9126
   */
  pushedAuthorizationRequests?: boolean | 'required'
  /**
   * DPoP (RFC 9449), through oidc-provider's own `features.dPoP`. `true`: offered
   * (`dpop_signing_alg_values_supported` in the metadata: ES256, Ed25519, EdDSA): a token request
   * with a proof gets DPoP-bound tokens (`token_type: DPoP`, `cnf.jkt` in introspection), one
   * without gets Bearer ones. `'nonce'`: as `true`, and every proof must carry a server nonce:
   * a proof without one (or with a stale one) gets `400 use_dpop_nonce` with a `DPoP-Nonce` header.
   * `false`: not offered. Default `true`, as oidc-provider has it.
   *
   * @see https://www.rfc-editor.org/rfc/rfc9449#section-8
   */
  dpop?: boolean | 'nonce'
}

/** The clients registered at a {@link TestAuthorizationServer}. */
export interface TestAuthorizationServerClients {
  /** Authenticates with its secret: `client_secret_basic` or `client_secret_post`, either one. */
  confidential: { id: string; secret: string }
  /**
   * Authenticates with `private_key_jwt`, signed with any of `keys` (private JWKs; the server has
   * their public halves). Accepted algorithms: RS256, PS256, PS512, ES256, EdDSA.
   */
  privateKeyJwt: { id: string; keys: ClientSigningKeys }
  /** A public client (`token_endpoint_auth_method: none`). */
  public: { id: string; authMethod: 'none' }
}

/** A running test authorization server; see {@link startTestAuthorizationServer}. */
export interface TestAuthorizationServer {
  /** The issuer identifier, e.g. `http://127.0.0.1:54321` (no trailing slash). */
  issuer: string
  /** The issuer as a URL. */
  url: URL
  /** The registered clients and their credentials. */
  clients: TestAuthorizationServerClients
  /** Counters since start or the last {@link TestAuthorizationServer.resetStats}. */
  stats(): TestAuthorizationServerStats
  /** Sets every counter back to zero. */
  resetStats(): void
  /**
   * Revokes every grant of a user and every token issued under them, as when the user withdraws
   * the app's access at the server. Later refreshes get `invalid_grant`.
   *
   * @param accountId - The user: with the development login, the login name.
   */
  revokeGrantsOf(accountId: string): Promise<void>
  /** Stops the server and drops every open connection. */
  close(): Promise<void>
}

const DEFAULT_REDIRECT_URIS = [
  'http://127.0.0.1/callback',
  'http://localhost/callback',
  'http://127.0.0.1/auth/callback',
  'http://localhost/auth/callback',
]
const DEFAULT_SCOPES = ['openid', 'offline_access', 'api:read', 'api:write']
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]'])
const COOKIE_KEYS = ['ongoing-testing-cookie-key-1']
const CLIENT_IDS = {
  confidential: 'confidential-client',
  privateKeyJwt: 'private-key-jwt-client',
  public: 'public-client',
} as const
const CONTROL_PREFIX = '/__ongoing/'
const REFRESH_TOKEN_REUSE = 'refresh token already used'

interface Settings {
  accessTokenTTLSeconds: number
  refreshTokenTTLSeconds: number
  rotateRefreshToken: boolean
  port: number
  redirectUris: string[]
  scopes: string[]
  refreshTokens: 'always' | 'offline_access'
  clientAuthMethods: string[] | undefined
  clientAuthSigningAlgorithms: string[]
  deadRefreshTokenError: 'invalid_grant' | 'invalid_request' | 'unauthorized_client'
  pushedAuthorizationRequests: boolean | 'required'
  dpop: boolean | 'nonce'
}

/**
 * Starts a real OAuth 2.0 authorization server (oidc-provider) on 127.0.0.1 for tests.
 *
 * It has the authorization code grant with PKCE (S256, required for every client), refresh
 * tokens with strict rotation, revocation (RFC 7009), introspection (RFC 7662), pushed
 * authorization requests (RFC 9126; optional by default, or required, or off), DPoP (RFC 9449; with
 * or without server nonces, or off) and the RFC 9207 `iss` authorization response parameter. The login and consent pages are oidc-provider's
 * development pages: any login name and password sign in, the login name is the account id.
 * {@link driveConsent} goes through them without a browser.
 *
 * By default a refresh token is issued to every client allowed the refresh_token grant (all
 * three), whatever the scope and whether or not `prompt=consent` was sent; `refreshTokens:
 * 'offline_access'` restores oidc-provider's own rule (only for a granted `offline_access`, which
 * needs `prompt=consent`). Requests without `openid` scope are
 * plain OAuth 2.0 and work the same, without an ID token.
 *
 * The same server answers `GET /__ongoing/stats` (the {@link TestAuthorizationServerStats} as
 * JSON), `POST /__ongoing/reset` and `POST /__ongoing/revoke-grants?accountId=…`, so a test can
 * drive a server running in another process (see the `ongoing-test-as` command).
 *
 * @param options - Token lifetimes, rotation, port, redirect URIs and scopes.
 * @returns The running server, its clients and its counters.
 * @throws TypeError when an option is invalid.
 * @example
 * ```ts
 * const as = await startTestAuthorizationServer({ accessTokenTTLSeconds: 5 })
 * try {
 *   // point the client under test at as.issuer with as.clients.confidential
 *   expect(as.stats().tokenCalls.refresh_token).toBe(1)
 * } finally {
 *   await as.close()
 * }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749 OAuth 2.0
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.14.2 refresh token rotation and reuse
 */
export async function startTestAuthorizationServer(
  options: TestAuthorizationServerOptions = {},
): Promise<TestAuthorizationServer> {
  const settings = resolveSettings(options)
  const [clientKeys, serverKey] = await Promise.all([generateClientSigningKeys(), generateServerSigningKey()])

  const server = createServer({ keepAliveTimeout: 1_000 })
  await listen(server, settings.port)
  const { port } = server.address() as AddressInfo
  const issuer = `http://127.0.0.1:${port}`

  const clients: TestAuthorizationServerClients = {
    confidential: {
      id: CLIENT_IDS.confidential,
      secret: options.confidentialClientSecret ?? randomBytes(32).toString('base64url'),
    },
    privateKeyJwt: { id: CLIENT_IDS.privateKeyJwt, keys: clientKeys },
    public: { id: CLIENT_IDS.public, authMethod: 'none' },
  }
  const stats = new ServerStats()
  const store = new MemoryStore(() => stats.countGrantRevoked())
  let provider: Provider
  try {
    provider = new Provider(issuer, buildConfiguration(settings, clients, serverKey, store))
  } catch (error) {
    server.close()
    throw error
  }

  provider.on('grant.revoked', () => stats.countGrantRevoked())
  provider.on('grant.error', (_ctx, error) => {
    if ((error as OIDCProviderError | undefined)?.error_detail === REFRESH_TOKEN_REUSE) {
      stats.countRefreshTokenReuse()
    }
  })

  const revokeGrantsOf = async (accountId: string): Promise<void> => {
    for (const grantId of store.grantIdsOf(accountId)) {
      store.revokeGrant(grantId)
      stats.countGrantRevoked()
    }
  }

  if (settings.deadRefreshTokenError !== 'invalid_grant') {
    const mislabel = settings.deadRefreshTokenError
    // Answers a dead refresh token as some servers do: with another error than invalid_grant.
    provider.use(async (ctx, next) => {
      await next()
      const body = ctx.body as { error?: unknown } | undefined
      const grantType = ctx.oidc?.params?.grant_type
      if (ctx.status === 400 && body?.error === 'invalid_grant' && grantType === 'refresh_token')
        ctx.body = { ...body, error: mislabel }
    })
  }

  const handleProvider = provider.callback()
  const tokenPath = new URL(provider.urlFor('token')).pathname
  const revocationPath = new URL(provider.urlFor('revocation')).pathname
  const pushedAuthorizationRequestPath =
    settings.pushedAuthorizationRequests === false
      ? undefined
      : new URL(provider.urlFor('pushed_authorization_request')).pathname

  server.on('request', function handleRequest(req: IncomingMessage, res: ServerResponse) {
    const path = (req.url ?? '/').split('?', 1)[0]
    if (path?.startsWith(CONTROL_PREFIX)) {
      void handleControl(req, res, { stats, revokeGrantsOf }).catch(() => sendStatus(res, 500))
    } else if (req.method === 'POST' && path === pushedAuthorizationRequestPath) {
      stats.countPushedAuthorizationRequest()
      void handleProvider(req, res)
    } else if (req.method === 'POST' && (path === tokenPath || path === revocationPath)) {
      void countAndForward(req, res, path === tokenPath, stats, handleProvider).catch(() =>
        sendStatus(res, 500),
      )
    } else {
      void handleProvider(req, res)
    }
  })

  let closing: Promise<void> | undefined
  return {
    issuer,
    url: new URL(issuer),
    clients,
    stats: () => stats.snapshot(),
    resetStats: () => stats.reset(),
    revokeGrantsOf,
    close: () => {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()))
        server.closeAllConnections()
      })
      return closing
    },
  }
}

function resolveSettings(options: TestAuthorizationServerOptions): Settings {
  const positiveInteger = (name: string, value: number | undefined, fallback: number): number => {
    if (value === undefined) {
      return fallback
    }
    if (!Number.isInteger(value) || value <= 0) {
      throw new TypeError(`${name} must be a positive integer`)
    }
    return value
  }
  const port = options.port ?? 0
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new TypeError('port must be an integer from 0 to 65535')
  }
  if (options.rotateRefreshToken !== undefined && typeof options.rotateRefreshToken !== 'boolean') {
    throw new TypeError('rotateRefreshToken must be a boolean')
  }
  for (const uri of options.redirectUris ?? []) {
    if (typeof uri !== 'string' || !URL.canParse(uri)) {
      throw new TypeError(`redirectUris must contain absolute URIs, got ${JSON.stringify(uri)}`)
    }
  }
  const scopes = options.scopes ?? DEFAULT_SCOPES
  const refreshTokens = options.refreshTokens ?? 'always'
  if (refreshTokens !== 'always' && refreshTokens !== 'offline_access') {
    throw new TypeError(
      `refreshTokens must be 'always' or 'offline_access', got ${JSON.stringify(refreshTokens)}`,
    )
  }
  if (
    !Array.isArray(scopes) ||
    scopes.some((scope) => typeof scope !== 'string' || !/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(scope))
  ) {
    throw new TypeError('scopes must be an array of scope tokens (RFC 6749 section 3.3)')
  }
  const stringList = (name: string, value: unknown): string[] | undefined => {
    if (value === undefined) return undefined
    if (!Array.isArray(value) || value.some((item) => typeof item !== 'string'))
      throw new TypeError(`${name} must be an array of strings`)
    return value
  }
  const deadRefreshTokenError = options.deadRefreshTokenError ?? 'invalid_grant'
  if (!['invalid_grant', 'invalid_request', 'unauthorized_client'].includes(deadRefreshTokenError))
    throw new TypeError(
      `deadRefreshTokenError must be 'invalid_grant', 'invalid_request' or 'unauthorized_client', got ${JSON.stringify(deadRefreshTokenError)}`,
    )
  if (
    options.confidentialClientSecret !== undefined &&
    (typeof options.confidentialClientSecret !== 'string' || options.confidentialClientSecret === '')
  )
    throw new TypeError('confidentialClientSecret must be a non-empty string')
  const pushedAuthorizationRequests = options.pushedAuthorizationRequests ?? true
  if (typeof pushedAuthorizationRequests !== 'boolean' && pushedAuthorizationRequests !== 'required')
    throw new TypeError(
      `pushedAuthorizationRequests must be true, false or 'required', got ${JSON.stringify(pushedAuthorizationRequests)}`,
    )
  const dpop = options.dpop ?? true
  if (typeof dpop !== 'boolean' && dpop !== 'nonce')
    throw new TypeError(`dpop must be true, false or 'nonce', got ${JSON.stringify(dpop)}`)
  return {
    dpop,
    clientAuthMethods: stringList('clientAuthMethods', options.clientAuthMethods),
    clientAuthSigningAlgorithms: stringList(
      'clientAuthSigningAlgorithms',
      options.clientAuthSigningAlgorithms,
    ) ?? [...CLIENT_SIGNING_ALGORITHMS, 'Ed25519'],
    accessTokenTTLSeconds: positiveInteger('accessTokenTTLSeconds', options.accessTokenTTLSeconds, 60),
    refreshTokenTTLSeconds: positiveInteger('refreshTokenTTLSeconds', options.refreshTokenTTLSeconds, 3600),
    rotateRefreshToken: options.rotateRefreshToken ?? true,
    port,
    redirectUris: [...new Set([...DEFAULT_REDIRECT_URIS, ...(options.redirectUris ?? [])])],
    scopes: [...new Set(scopes)],
    refreshTokens,
    deadRefreshTokenError,
    pushedAuthorizationRequests,
  }
}

function buildConfiguration(
  settings: Settings,
  clients: TestAuthorizationServerClients,
  serverKey: PrivateJWK,
  store: MemoryStore,
): Configuration {
  // Native clients may use loopback redirect URIs on any port (RFC 8252 section 7.3), which a
  // test app listening on port 0 needs; web clients are the fallback for non-loopback http URIs.
  const applicationType = settings.redirectUris.some((uri) => {
    const { protocol, hostname } = new URL(uri)
    return protocol === 'http:' && !LOOPBACK_HOSTS.has(hostname)
  })
    ? 'web'
    : 'native'
  const common = {
    application_type: applicationType,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: settings.redirectUris,
  }
  const methods = settings.clientAuthMethods
  const allowed = (method: string) => methods === undefined || methods.includes(method)
  const secretMethod = allowed('client_secret_basic') ? 'client_secret_basic' : 'client_secret_post'
  const registered: ClientMetadata[] = [
    {
      ...common,
      client_id: clients.confidential.id,
      client_secret: clients.confidential.secret,
      token_endpoint_auth_method: secretMethod,
    },
    {
      ...common,
      client_id: clients.privateKeyJwt.id,
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: Object.values(clients.privateKeyJwt.keys).map(toPublicJWK) },
    },
    { ...common, client_id: clients.public.id, token_endpoint_auth_method: 'none' },
  ].filter((client) => allowed(client.token_endpoint_auth_method))

  const grantLifetimeSeconds = Math.max(settings.refreshTokenTTLSeconds * 100, 365 * 24 * 60 * 60)
  return {
    adapter: store.adapterFactory,
    clients: registered,
    jwks: { keys: [serverKey] },
    cookies: { keys: COOKIE_KEYS },
    scopes: settings.scopes,
    claims: { openid: ['sub'], profile: ['name'] },
    findAccount: async (_ctx: unknown, sub: string) => ({
      accountId: sub,
      claims: async () => ({ sub, name: sub.charAt(0).toUpperCase() + sub.slice(1) }),
    }),
    features: {
      devInteractions: { enabled: true },
      revocation: { enabled: true, allowedPolicy: ownTokensOnly },
      introspection: { enabled: true, allowedPolicy: ownTokensOnly },
      rpInitiatedLogout: { enabled: false },
      pushedAuthorizationRequests: {
        enabled: settings.pushedAuthorizationRequests !== false,
        requirePushedAuthorizationRequests: settings.pushedAuthorizationRequests === 'required',
      },
      dPoP: {
        enabled: settings.dpop !== false,
        // Nonces are HMACs of the time under this secret, good for a minute or so (RFC 9449 §8).
        ...(settings.dpop === 'nonce' ? { nonceSecret: randomBytes(32), requireNonce: () => true } : {}),
      },
    },
    ...(methods === undefined ? {} : { clientAuthMethods: methods as never }),
    enabledJWA: { clientAuthSigningAlgValues: settings.clientAuthSigningAlgorithms as never },
    pkce: { required: () => true },
    allowOmittingSingleRegisteredRedirectUri: false,
    // oidc-provider's default issues refresh tokens only for `offline_access`, which it drops
    // from any request without `prompt=consent`; by default here the client's grant types decide.
    issueRefreshToken: async (_ctx: unknown, client: ClientLike, code: { scopes: Set<string> }) =>
      client.grantTypeAllowed('refresh_token') &&
      (settings.refreshTokens === 'always' || code.scopes.has('offline_access')),
    // Refresh tokens must outlive the user's session at the server: that is the point of them.
    expiresWithSession: async () => false,
    rotateRefreshToken: settings.rotateRefreshToken,
    clientBasedCORS: () => true,
    renderError: async (ctx: { type: string; body: unknown }, out: Record<string, string>) => {
      ctx.type = 'json'
      ctx.body = out
    },
    ttl: {
      AccessToken: settings.accessTokenTTLSeconds,
      AuthorizationCode: 60,
      BackchannelAuthenticationRequest: 600,
      ClientCredentials: settings.accessTokenTTLSeconds,
      DeviceCode: 600,
      Grant: grantLifetimeSeconds,
      IdToken: 3600,
      Interaction: 3600,
      PreAuthorizedCode: 600,
      RefreshToken: settings.refreshTokenTTLSeconds,
      Session: grantLifetimeSeconds,
    },
  }
}

function ownTokensOnly(_ctx: unknown, client: ClientLike, token: { clientId?: string }): boolean {
  return token.clientId === client.clientId
}

async function countAndForward(
  req: IncomingMessage,
  res: ServerResponse,
  isTokenEndpoint: boolean,
  stats: ServerStats,
  forward: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
): Promise<void> {
  const body = await readRequestBody(req)
  if (isTokenEndpoint) {
    const isForm = (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')
    const grantType = body && isForm ? new URLSearchParams(body.toString('utf8')).get('grant_type') : null
    stats.countTokenCall(grantType ?? undefined)
  } else {
    stats.countRevocationCall()
  }
  if (!body) {
    sendStatus(res, 413)
    return
  }
  await forward(replayRequest(req, body), res)
}

interface ControlContext {
  stats: ServerStats
  revokeGrantsOf(accountId: string): Promise<void>
}

async function handleControl(
  req: IncomingMessage,
  res: ServerResponse,
  control: ControlContext,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1')
  const route = `${req.method} ${url.pathname.slice(CONTROL_PREFIX.length)}`
  switch (route) {
    case 'GET stats':
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
      res.end(JSON.stringify(control.stats.snapshot()))
      return
    case 'POST reset':
      control.stats.reset()
      sendStatus(res, 204)
      return
    case 'POST revoke-grants': {
      const accountId = url.searchParams.get('accountId')
      if (!accountId) {
        sendStatus(res, 400)
        return
      }
      await control.revokeGrantsOf(accountId)
      sendStatus(res, 204)
      return
    }
    default:
      sendStatus(res, 404)
  }
}

function sendStatus(res: ServerResponse, status: number): void {
  if (!res.headersSent) {
    res.writeHead(status)
  }
  res.end()
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
}
