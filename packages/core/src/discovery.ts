import { OngoingAccessError } from './errors.js'
import { type ASRequestLimits, parseJSONObject, requestAS } from './http.js'
import { isLoopback } from './options.js'

/** The endpoints of an authorization server. */
export interface AuthorizationServerEndpoints {
  /** The authorization endpoint (RFC 6749 §3.1). */
  authorization: string
  /** The token endpoint (RFC 6749 §3.2). */
  token: string
  /** The revocation endpoint (RFC 7009), when the server has one. */
  revocation?: string
  /** The JWKS of the server (RFC 7517), when it signs anything we verify. */
  jwks?: string
  /**
   * The pushed authorization request endpoint (RFC 9126 §5, `pushed_authorization_request_endpoint`),
   * when the server has one: needed for `pushedAuthorizationRequests`.
   */
  pushedAuthorizationRequest?: string
}

/** What we use of an authorization server's metadata. */
export interface AuthorizationServerMetadata extends AuthorizationServerEndpoints {
  issuer: string
  /** RFC 9207: the server puts `iss` in every authorization response. */
  issParameterSupported: boolean
  /**
   * `token_endpoint_auth_methods_supported` (RFC 8414 §2). Discovery fills in the RFC's default,
   * `['client_secret_basic']`, when the server leaves it out; `undefined` with `endpoints`.
   */
  tokenEndpointAuthMethods?: string[]
  /** `token_endpoint_auth_signing_alg_values_supported`, when the server lists it (no default). */
  tokenEndpointAuthSigningAlgs?: string[]
  /** `code_challenge_methods_supported` (RFC 8414 §2, RFC 7636), when the server lists it. */
  codeChallengeMethods?: string[]
  /**
   * RFC 9126 §5 `require_pushed_authorization_requests`: the server takes authorization requests
   * only pushed, so every consent is pushed. `undefined` with `endpoints`.
   */
  requirePushedAuthorizationRequests?: boolean
  /** `dpop_signing_alg_values_supported` (RFC 9449 §5.1), when the server lists it. */
  dpopSigningAlgs?: string[]
}

/**
 * Reads the server's metadata: RFC 8414 first (`/.well-known/oauth-authorization-server`), then
 * OpenID Connect Discovery (`/.well-known/openid-configuration`). The `issuer` in the document must
 * be exactly the configured one (RFC 8414 §3.3).
 *
 * @throws {OngoingAccessError} `ERR_NETWORK`, `ERR_INVALID_RESPONSE` (no usable document),
 *   `ERR_ISSUER_MISMATCH` (the document names another `issuer`).
 * @example
 * ```ts
 * const metadata = await discoverAuthorizationServer('https://as.example.com', fetch, {
 *   timeoutMs: 10_000,
 *   maxBodyBytes: 1024 * 1024,
 * })
 * metadata.token // 'https://as.example.com/oauth/token'
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3
 */
export async function discoverAuthorizationServer(
  issuer: string,
  fetchImpl: typeof fetch,
  limits: ASRequestLimits,
  allowInsecureRequests = false,
): Promise<AuthorizationServerMetadata> {
  const httpURL = (value: unknown, name: string) => endpointURL(value, name, allowInsecureRequests)
  const base = new URL(issuer)
  const path = base.pathname === '/' ? '' : base.pathname.replace(/\/$/, '')
  const candidates = [
    new URL(`/.well-known/oauth-authorization-server${path}`, base).href,
    new URL(`${path}/.well-known/openid-configuration`, base).href,
  ]
  let lastProblem = 'no metadata found'
  for (const url of candidates) {
    let response: Awaited<ReturnType<typeof requestAS>>
    try {
      response = await requestAS(
        fetchImpl,
        url,
        { headers: { accept: 'application/json' } },
        limits,
        'discovery',
      )
    } catch (err) {
      // No answer at all: the same ERR_NETWORK as at any other endpoint.
      if (err instanceof OngoingAccessError && err.code === 'ERR_NETWORK') throw err
      lastProblem = (err as Error).message
      continue
    }
    if (response.status !== 200) {
      lastProblem = `${url} answered ${response.status}`
      continue
    }
    const doc = parseJSONObject(response.body)
    if (doc === undefined)
      throw new OngoingAccessError('ERR_INVALID_RESPONSE', `Discovery: ${url} is not a JSON object`)
    if (doc.issuer !== issuer) {
      throw new OngoingAccessError(
        'ERR_ISSUER_MISMATCH',
        `Discovery: metadata names issuer ${JSON.stringify(doc.issuer)}, expected ${JSON.stringify(issuer)}`,
      )
    }
    const authorization = httpURL(doc.authorization_endpoint, 'authorization_endpoint')
    const token = httpURL(doc.token_endpoint, 'token_endpoint')
    const metadata: AuthorizationServerMetadata = {
      issuer,
      authorization,
      token,
      issParameterSupported: doc.authorization_response_iss_parameter_supported === true,
      // RFC 8414 §2: absent means client_secret_basic only.
      tokenEndpointAuthMethods: stringList(doc, 'token_endpoint_auth_methods_supported', url) ?? [
        'client_secret_basic',
      ],
    }
    const signingAlgs = stringList(doc, 'token_endpoint_auth_signing_alg_values_supported', url)
    if (signingAlgs !== undefined) metadata.tokenEndpointAuthSigningAlgs = signingAlgs
    const challengeMethods = stringList(doc, 'code_challenge_methods_supported', url)
    if (challengeMethods !== undefined) metadata.codeChallengeMethods = challengeMethods
    const dpopAlgs = stringList(doc, 'dpop_signing_alg_values_supported', url)
    if (dpopAlgs !== undefined) metadata.dpopSigningAlgs = dpopAlgs
    if (doc.revocation_endpoint !== undefined)
      metadata.revocation = httpURL(doc.revocation_endpoint, 'revocation_endpoint')
    if (doc.jwks_uri !== undefined) metadata.jwks = httpURL(doc.jwks_uri, 'jwks_uri')
    if (doc.pushed_authorization_request_endpoint !== undefined)
      metadata.pushedAuthorizationRequest = httpURL(
        doc.pushed_authorization_request_endpoint,
        'pushed_authorization_request_endpoint',
      )
    metadata.requirePushedAuthorizationRequests = doc.require_pushed_authorization_requests === true
    if (metadata.requirePushedAuthorizationRequests && metadata.pushedAuthorizationRequest === undefined)
      throw new OngoingAccessError(
        'ERR_INVALID_RESPONSE',
        `Discovery: ${url} sets \`require_pushed_authorization_requests\` but has no \`pushed_authorization_request_endpoint\``,
      )
    return metadata
  }
  throw new OngoingAccessError('ERR_INVALID_RESPONSE', `Discovery of ${issuer} failed: ${lastProblem}`)
}

function stringList(doc: Record<string, unknown>, name: string, url: string): string[] | undefined {
  const value = doc[name]
  if (value === undefined || value === null) return undefined
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string'))
    throw new OngoingAccessError(
      'ERR_INVALID_RESPONSE',
      `Discovery: ${url} has a \`${name}\` that is not an array of strings`,
    )
  return value as string[]
}

function endpointURL(value: unknown, name: string, allowInsecureRequests: boolean): string {
  if (typeof value === 'string') {
    let url: URL | undefined
    try {
      url = new URL(value)
    } catch {}
    if (
      url?.protocol === 'https:' ||
      (url?.protocol === 'http:' && (allowInsecureRequests || isLoopback(url)))
    )
      return url.href
    if (url?.protocol === 'http:') {
      throw new OngoingAccessError(
        'ERR_INVALID_RESPONSE',
        `Discovery: metadata \`${name}\` uses plain http off loopback (set \`allowInsecureRequests\` only for a test network)`,
      )
    }
  }
  throw new OngoingAccessError(
    'ERR_INVALID_RESPONSE',
    `Discovery: metadata \`${name}\` is missing or not an http(s) URL`,
  )
}
