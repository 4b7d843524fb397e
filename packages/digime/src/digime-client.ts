import {
  type AccessToken,
  type AuthorizationRequest,
  type AuthorizationResponse,
  type AuthorizationServerMetadata,
  type AuthorizationStart,
  type CodeExchange,
  OngoingAccessError,
  type ProfileClient,
  type ProfileContext,
  type ProfileResponse,
  type TokenSet,
} from '@ongoing/core'
import type { DeadGrantPolicy } from '@ongoing/core/adapter'
import { readDigiMeCallback } from './callback.js'
import { DIGIME_DEAD_GRANT, digiMeError } from './errors.js'
import { preloadJose } from './jose.js'
import type { DigiMeConfig } from './options.js'
import { signRequestJWT } from './request-jwt.js'
import { SignedResponseVerifier } from './signed-response.js'
import { tokenSetOf } from './token-payload.js'
import { VERSION } from './version.js'

const AGENT = { sdk: { name: 'ongoing', version: VERSION } }

/** One call of the API: its path (relative to the base URL) and its name in messages. */
interface Call {
  path: string
  what: string
  /** Whether a 200 answer means the server acted (a code or refresh token is spent). */
  acts: boolean
}

const PRE_AUTHORIZATION: Call = { path: 'oauth/authorize', what: 'pre-authorization', acts: false }
const TOKEN: Call = { path: 'oauth/token', what: 'token endpoint', acts: true }

/** The digi.me profile's client of one `OngoingAccess`; see `digiMe`. */
export class DigiMeClient implements ProfileClient {
  readonly issuer: string
  readonly clientId: string
  readonly deadGrant: DeadGrantPolicy = DIGIME_DEAD_GRANT
  readonly #config: DigiMeConfig
  readonly #context: ProfileContext
  readonly #verifier: SignedResponseVerifier
  readonly #metadata: AuthorizationServerMetadata

  constructor(config: DigiMeConfig, context: ProfileContext) {
    this.#config = config
    this.#context = context
    this.issuer = config.baseUrl.href
    this.clientId = config.clientId
    this.#verifier = new SignedResponseVerifier(config.keySetUrl, context)
    this.#metadata = Object.freeze({
      issuer: this.issuer,
      authorization: new URL('authorize', config.consentUrl).href,
      token: new URL(TOKEN.path, config.baseUrl).href,
      jwks: config.keySetUrl.href,
      issParameterSupported: false,
      codeChallengeMethods: ['S256'],
    })
  }

  /** The endpoints, from the options (digi.me publishes no metadata); nothing is fetched. */
  ready(): Promise<AuthorizationServerMetadata> {
    // Every flow that follows verifies a signed answer.
    preloadJose()
    return Promise.resolve(this.#metadata)
  }

  /**
   * Pushes the pre-authorization (PKCE challenge, redirect URI, state, and the digi.me scope when
   * the consent has one), verifies digi.me's signed answer, and sends the user to the consent web
   * client with its `preauthorization_code`.
   */
  async startAuthorization(request: AuthorizationRequest): Promise<AuthorizationStart> {
    const scope = scopeOf(request.scope)
    const response = await this.#call(
      PRE_AUTHORIZATION,
      {
        code_challenge: request.codeChallenge,
        code_challenge_method: request.codeChallengeMethod,
        redirect_uri: request.redirectUri,
        response_mode: 'query',
        response_type: 'code',
        state: request.state,
      },
      JSON.stringify({ agent: AGENT, actions: { pull: scope === undefined ? {} : { scope } } }),
    )
    const payload = await this.#signedAnswer(response, PRE_AUTHORIZATION)
    const code = payload.preauthorization_code
    if (typeof code !== 'string' || code === '')
      throw new OngoingAccessError(
        'ERR_INVALID_RESPONSE',
        'digi.me pre-authorization answered without a `preauthorization_code`',
        { status: response.status },
      )
    const url = new URL(this.#metadata.authorization)
    for (const [name, value] of Object.entries(request.params)) url.searchParams.set(name, value)
    url.searchParams.set('code', code)
    url.searchParams.set('sourceType', 'pull')
    return { url }
  }

  readCallback(callbackUrl: URL): AuthorizationResponse {
    return readDigiMeCallback(callbackUrl)
  }

  /** digi.me's callback carries no `iss` (RFC 9207): the transaction's state is the whole check. */
  async checkIssuer(): Promise<void> {}

  async exchangeCode(exchange: CodeExchange): Promise<TokenSet> {
    const claims: Record<string, string> = { grant_type: 'authorization_code', code: exchange.code }
    if (exchange.codeVerifier !== undefined) claims.code_verifier = exchange.codeVerifier
    const payload = await this.#signedAnswer(await this.#call(TOKEN, claims), TOKEN)
    return tokenSetOf(payload, { issuer: this.issuer, clientId: this.clientId, withClaims: true })
  }

  async refresh(refreshToken: string): Promise<TokenSet> {
    const claims = { grant_type: 'refresh_token', refresh_token: refreshToken }
    const payload = await this.#signedAnswer(await this.#call(TOKEN, claims), TOKEN)
    return tokenSetOf(payload, { issuer: this.issuer, clientId: this.clientId, withClaims: false })
  }

  /** A data call carries the access token as a claim of a request JWT signed for this request alone. */
  async authorize(request: Request, token: AccessToken): Promise<Request> {
    const jwt = await this.#sign({ access_token: token.value })
    const headers = new Headers(request.headers)
    headers.set('authorization', `Bearer ${jwt}`)
    return new Request(request, { headers })
  }

  /** `401` with `X-Error-Code: InvalidToken`: the access token was refused (read from the headers only). */
  rejectsToken(response: Response): boolean {
    return response.status === 401 && response.headers.get('x-error-code') === 'InvalidToken'
  }

  // digi.me has no revocation endpoint: `revoke` is left out, and `access.revoke` forgets locally.

  async #sign(claims: Readonly<Record<string, unknown>>): Promise<string> {
    try {
      return await signRequestJWT(this.#config.key, this.clientId, claims)
    } catch (err) {
      throw new OngoingAccessError(
        'ERR_CONFIGURATION',
        'digi.me: a request JWT could not be signed with `privateKey`',
        { cause: err },
      )
    }
  }

  /** One attempt: a fresh request JWT, one bounded request. */
  async #call(call: Call, claims: Record<string, unknown>, body?: string): Promise<ProfileResponse> {
    const headers: Record<string, string> = {
      accept: 'application/json',
      authorization: `Bearer ${await this.#sign(claims)}`,
    }
    if (body !== undefined) headers['content-type'] = 'application/json'
    return this.#context.request(
      new URL(call.path, this.#config.baseUrl).href,
      { method: 'POST', headers, ...(body === undefined ? {} : { body }) },
      `digi.me ${call.what}`,
    )
  }

  /** The verified payload of a `{"token": "<JWS>"}` answer; a digi.me error otherwise. */
  async #signedAnswer(response: ProfileResponse, call: Call): Promise<Record<string, unknown>> {
    if (response.status !== 200) throw digiMeError(response, call.what)
    let token: unknown
    try {
      token = (JSON.parse(response.body) as { token?: unknown } | null)?.token
    } catch {
      throw new OngoingAccessError(
        'ERR_INVALID_RESPONSE',
        `digi.me ${call.what} answered 200 but not with JSON`,
        {
          status: 200,
          outcomeUnknown: call.acts,
        },
      )
    }
    return this.#verifier.verify(token, call.what, call.acts)
  }
}

/**
 * The digi.me scope object of a consent, given as JSON in `startConsent({ scope })` (or the
 * `scope` option of `OngoingAccess`): `''` for none.
 *
 * @throws {TypeError} when the scope is not the JSON of an object.
 */
function scopeOf(scope: string): Record<string, unknown> | undefined {
  if (scope === '') return undefined
  let value: unknown
  try {
    value = JSON.parse(scope)
  } catch {}
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new TypeError(
      'ongoing: with digi.me, `scope` is a digi.me scope object as JSON, e.g. JSON.stringify({ serviceGroups: [{ id: 1 }] }), or empty for no scope',
    )
  return value as Record<string, unknown>
}
