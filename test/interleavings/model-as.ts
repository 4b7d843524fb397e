/**
 * A model authorization server with strict refresh-token rotation, and the API it protects.
 *
 * - Every refresh answer rotates: a new access token and a new refresh token; the one presented is
 *   spent. Presenting a spent refresh token again is taken as theft: the whole grant is revoked
 *   (RFC 9700 §4.14.2, the strict reading).
 * - Every presentation of every refresh token is logged, with whether the server processed it.
 *   What the client could know of it (answered, lost, refused) is filled in by the harness, which
 *   owns the network between the instances and this server.
 * - Tokens are readable on purpose (`at.alice.2.3`: user alice, her grant #2, its 3rd rotation), so
 *   a trace says whose token went where.
 */

export const ISSUER = 'https://as.test'
export const ENDPOINTS = {
  authorization: `${ISSUER}/authorize`,
  token: `${ISSUER}/token`,
  revocation: `${ISSUER}/revoke`,
}
export const METADATA_URLS = [
  `${ISSUER}/.well-known/oauth-authorization-server`,
  `${ISSUER}/.well-known/openid-configuration`,
]
export const API_URL = 'https://api.test/me'
export const REDIRECT_URI = 'https://app.test/auth/callback'
export const CLIENT = { id: 'app', secret: 'app-client-secret' }

/** Lifetime of the access tokens the server issues on consent and refresh. */
export const ACCESS_TOKEN_TTL_S = 600

export interface TokenId {
  kind: 'at' | 'rt'
  user: string
  grant: number
  gen: number
}

export function parseToken(value: string): TokenId | undefined {
  const match = /^(at|rt)\.([a-z]+)\.(\d+)\.(\d+)$/.exec(value)
  if (match === null) return undefined
  return { kind: match[1] as 'at' | 'rt', user: match[2]!, grant: Number(match[3]), gen: Number(match[4]) }
}

/** `alice#2.3`: grant 2 of alice, generation 3. */
export function describeToken(value: string | undefined): string {
  if (value === undefined) return '-'
  const id = parseToken(value)
  return id === undefined ? '?' : `${id.user}#${id.grant}.${id.gen}`
}

export interface ModelGrant {
  user: string
  n: number
  /** The generation of the current refresh token. */
  gen: number
  alive: boolean
  revokedBecause?: 'reuse' | 'revocation'
  revokedAtSeq?: number
  /** Expiry of each generation's access token (ms). */
  accessExpiresAt: Map<number, number>
  createdAtSeq: number
  /** How the client got it: a consent (code exchange) or tokens given to `restore`. */
  origin: 'consent' | 'restore' | 'setup'
}

/** One refresh-token presentation by the client: sent, and perhaps processed by the server. */
export interface Presentation {
  id: number
  rt: string
  user: string
  grant: number
  gen: number
  instance: number
  /** When the client sent it (virtual ms) and its place in the run's order. */
  at: number
  seq: number
  /** The server processed it (rotated, or detected reuse, or refused it as invalid). */
  processed: boolean
  processedSeq?: number
  result: 'rotated' | 'reuse' | 'invalid' | undefined
  /** The refresh token it issued, when it rotated. */
  issued: string | undefined
  /**
   * What the client learnt: the answer (`answered`), a failure that says the server never saw
   * it (`refused`: connection refused, 503 with Retry-After), a failure that leaves the outcome
   * unknown (`unknown`: timeout, reset, 5xx), or nothing because the process died (`died`).
   */
  delivery: 'pending' | 'answered' | 'refused' | 'unknown' | 'died'
  /** When the client saw the failure (ms), for `refused`/`unknown`. */
  failedAt: number | undefined
  /** When `delivery` stopped being `pending` (event sequence number). */
  settledSeq: number | undefined
}

export interface ModelAnswer {
  status: number
  body: Record<string, unknown>
  headers?: Record<string, string>
  presentation?: Presentation
}

export class ModelAuthorizationServer {
  readonly grants = new Map<string, ModelGrant[]>()
  readonly presentations: Presentation[] = []
  /** Access tokens the API was told to reject (a fault): rejected from then on. */
  readonly rejectedAccessTokens = new Set<string>()
  readonly #codes = new Map<string, { user: string; challenge: string; used: boolean }>()
  #codeCount = 0

  constructor(
    private readonly now: () => number,
    private readonly seq: () => number,
  ) {}

  grantsOf(user: string): ModelGrant[] {
    let list = this.grants.get(user)
    if (list === undefined) {
      list = []
      this.grants.set(user, list)
    }
    return list
  }

  grant(user: string, n: number): ModelGrant | undefined {
    return this.grants.get(user)?.[n - 1]
  }

  /** A new grant, as if the user consented (or the tokens came from elsewhere, for `restore`). */
  mintGrant(user: string, origin: ModelGrant['origin'], accessTtlS = ACCESS_TOKEN_TTL_S) {
    const list = this.grantsOf(user)
    const grant: ModelGrant = {
      user,
      n: list.length + 1,
      gen: 1,
      alive: true,
      accessExpiresAt: new Map([[1, this.now() + accessTtlS * 1000]]),
      createdAtSeq: this.seq(),
      origin,
    }
    list.push(grant)
    return {
      grant,
      accessToken: `at.${user}.${grant.n}.1`,
      refreshToken: `rt.${user}.${grant.n}.1`,
      expiresIn: accessTtlS,
    }
  }

  /** The authorization endpoint: the user (`user`) consents at once; returns the callback URL. */
  authorize(url: URL, user: string): string {
    const state = url.searchParams.get('state') ?? ''
    const challenge = url.searchParams.get('code_challenge') ?? ''
    const code = `code.${user}.${++this.#codeCount}`
    this.#codes.set(code, { user, challenge, used: false })
    const callback = new URL(url.searchParams.get('redirect_uri') ?? REDIRECT_URI)
    callback.searchParams.set('code', code)
    callback.searchParams.set('state', state)
    return callback.href
  }

  /**
   * A refresh request leaves the client: logged as a presentation, not processed yet. Returns
   * `undefined` for other grant types.
   */
  present(form: URLSearchParams, instance: number): Presentation | undefined {
    if (form.get('grant_type') !== 'refresh_token') return undefined
    const rt = form.get('refresh_token') ?? ''
    const id = parseToken(rt)
    const presentation: Presentation = {
      id: this.presentations.length + 1,
      rt,
      user: id?.user ?? '?',
      grant: id?.grant ?? 0,
      gen: id?.gen ?? 0,
      instance,
      at: this.now(),
      seq: this.seq(),
      processed: false,
      result: undefined,
      issued: undefined,
      delivery: 'pending',
      failedAt: undefined,
      settledSeq: undefined,
    }
    this.presentations.push(presentation)
    return presentation
  }

  /** The token endpoint processes a request that reached it (`presentation`: its refresh log entry). */
  token(form: URLSearchParams, presentation: Presentation | undefined): ModelAnswer {
    const grantType = form.get('grant_type')
    if (grantType === 'authorization_code') {
      const code = this.#codes.get(form.get('code') ?? '')
      if (code === undefined || code.used) return invalidGrant()
      code.used = true
      const minted = this.mintGrant(code.user, 'consent')
      return ok(minted.accessToken, minted.refreshToken, minted.expiresIn)
    }
    if (grantType !== 'refresh_token' || presentation === undefined)
      return { status: 400, body: { error: 'unsupported_grant_type' } }
    presentation.processed = true
    presentation.processedSeq = this.seq()
    presentation.result = 'invalid'
    const id = parseToken(presentation.rt)
    const grant = id?.kind === 'rt' ? this.grant(id.user, id.grant) : undefined
    if (id === undefined || grant === undefined || !grant.alive || id.gen > grant.gen)
      return { ...invalidGrant(), presentation }
    if (id.gen < grant.gen) {
      // A spent refresh token came back: strict rotation revokes the whole grant.
      grant.alive = false
      grant.revokedBecause = 'reuse'
      grant.revokedAtSeq = this.seq()
      presentation.result = 'reuse'
      return { ...invalidGrant(), presentation }
    }
    grant.gen += 1
    grant.accessExpiresAt.set(grant.gen, this.now() + ACCESS_TOKEN_TTL_S * 1000)
    presentation.result = 'rotated'
    presentation.issued = `rt.${grant.user}.${grant.n}.${grant.gen}`
    return {
      ...ok(`at.${grant.user}.${grant.n}.${grant.gen}`, presentation.issued, ACCESS_TOKEN_TTL_S),
      presentation,
    }
  }

  /** RFC 7009: revokes the grant of a refresh token (or of an access token). Always 200. */
  revoke(form: URLSearchParams): ModelAnswer {
    const id = parseToken(form.get('token') ?? '')
    const grant = id === undefined ? undefined : this.grant(id.user, id.grant)
    if (grant?.alive) {
      grant.alive = false
      grant.revokedBecause = 'revocation'
      grant.revokedAtSeq = this.seq()
    }
    return { status: 200, body: {} }
  }

  /** RFC 8414 metadata (served at both well-known URLs). */
  metadata(): ModelAnswer {
    return {
      status: 200,
      body: {
        issuer: ISSUER,
        authorization_endpoint: ENDPOINTS.authorization,
        token_endpoint: ENDPOINTS.token,
        revocation_endpoint: ENDPOINTS.revocation,
      },
    }
  }

  /** Whether the API accepts this access token now. */
  accepts(accessToken: string): boolean {
    const id = parseToken(accessToken)
    if (id?.kind !== 'at' || this.rejectedAccessTokens.has(accessToken)) return false
    const grant = this.grant(id.user, id.grant)
    const expiresAt = grant?.accessExpiresAt.get(id.gen)
    return grant?.alive === true && expiresAt !== undefined && this.now() < expiresAt
  }

  /** The API: `{ user }` for a token it accepts, `401 invalid_token` otherwise. */
  api(accessToken: string): ModelAnswer {
    if (!this.accepts(accessToken))
      return {
        status: 401,
        body: { error: 'invalid_token' },
        headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
      }
    return { status: 200, body: { user: parseToken(accessToken)?.user } }
  }

  accessExpiresAt(accessToken: string): number | undefined {
    const id = parseToken(accessToken)
    return id === undefined ? undefined : this.grant(id.user, id.grant)?.accessExpiresAt.get(id.gen)
  }
}

function ok(accessToken: string, refreshToken: string, expiresIn: number): ModelAnswer {
  return {
    status: 200,
    body: {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: expiresIn,
      refresh_token: refreshToken,
      scope: 'offline_access api',
    },
  }
}

function invalidGrant(): ModelAnswer {
  return { status: 400, body: { error: 'invalid_grant' } }
}
