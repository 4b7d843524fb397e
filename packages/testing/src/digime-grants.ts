import { createHash, randomBytes, randomUUID } from 'node:crypto'
import {
  EXPIRED_REFRESH_TOKEN,
  INVALID_ACCESS_TOKEN,
  INVALID_REFRESH_TOKEN,
  refuse,
} from './digime-errors.js'

const PREAUTHORIZATION_TTL_MS = 10 * 60_000
const AUTHORIZATION_CODE_TTL_MS = 10 * 60_000
const SESSION_TTL_MS = 15 * 60_000

/** A pushed pre-authorization (or re-authorization), waiting for the user at the consent page. */
export interface PreAuthorization {
  code: string
  kind: 'authorize' | 'reauthorize'
  clientId: string
  codeChallenge: string
  redirectUri: string
  state: string
  expiresAt: number
  used: boolean
  /** Re-authorization only: the user of the access token it was made with. */
  userId?: string
}

interface AuthorizationCode {
  clientId: string
  userId: string
  codeChallenge: string
  redirectUri: string
  expiresAt: number
  used: boolean
  grantId?: string
}

interface Grant {
  id: string
  clientId: string
  userId: string
  /** Unix ms: the first refresh token's expiry, which every rotated one keeps. */
  refreshExpiresAt: number
  revoked: boolean
}

interface AccessToken {
  grantId: string
  expiresAt: number
}

interface RefreshToken {
  grantId: string
  rotated: boolean
}

interface DataSession {
  clientId: string
  userId: string
  expiresAt: number
}

/** The payload of a token response JWS (code exchange and refresh). */
export interface DigiMeTokenPayload {
  access_token: { value: string; expires_on: number }
  refresh_token: { value: string; expires_on: number }
  token_type: 'Bearer'
  sub: string
  consentid: string
  identifier: { id: string }
}

export interface GrantSettings {
  accessTokenTTLSeconds: number
  refreshTokenTTLSeconds: number
  rotateRefreshToken: boolean
}

/** What the grants report to the server's counters. */
export interface GrantEvents {
  grantRevoked(): void
  refreshTokenReused(): void
}

const token = (): string => randomBytes(32).toString('base64url')

/** Everything the digi.me test server issues, and the rules for using it. All in memory. */
export class DigiMeGrants {
  readonly #preAuthorizations = new Map<string, PreAuthorization>()
  readonly #codes = new Map<string, AuthorizationCode>()
  readonly #grants = new Map<string, Grant>()
  readonly #accessTokens = new Map<string, AccessToken>()
  readonly #refreshTokens = new Map<string, RefreshToken>()
  readonly #sessions = new Map<string, DataSession>()
  readonly #settings: GrantSettings
  readonly #events: GrantEvents

  constructor(settings: GrantSettings, events: GrantEvents) {
    this.#settings = settings
    this.#events = events
  }

  createPreAuthorization(
    request: Omit<PreAuthorization, 'code' | 'expiresAt' | 'used'>,
  ): PreAuthorization & { session: { key: string; expiry: number } } {
    const preAuthorization = {
      ...request,
      code: token(),
      expiresAt: Date.now() + PREAUTHORIZATION_TTL_MS,
      used: false,
    }
    this.#preAuthorizations.set(preAuthorization.code, preAuthorization)
    return { ...preAuthorization, session: { key: randomUUID(), expiry: preAuthorization.expiresAt } }
  }

  /** The pre-authorization of a code, whatever its state; `undefined` when unknown. */
  findPreAuthorization(code: string): PreAuthorization | undefined {
    return this.#preAuthorizations.get(code)
  }

  /** Issues the authorization code for a consent the user gave. */
  issueAuthorizationCode(preAuthorization: PreAuthorization, userId: string): string {
    const code = token()
    this.#codes.set(code, {
      clientId: preAuthorization.clientId,
      userId,
      codeChallenge: preAuthorization.codeChallenge,
      redirectUri: preAuthorization.redirectUri,
      expiresAt: Date.now() + AUTHORIZATION_CODE_TTL_MS,
      used: false,
    })
    return code
  }

  /**
   * Exchanges an authorization code. Any presentation uses the code up, a failed PKCE check
   * included; presenting it again revokes the grant it was exchanged for (RFC 6749 section 4.1.2).
   */
  exchangeCode(
    clientId: string,
    code: string,
    codeVerifier: string,
    redirectUri: string | undefined,
  ): DigiMeTokenPayload {
    const record = this.#codes.get(code)
    if (!record || record.clientId !== clientId) {
      refuse('invalid_code', 'The authorization code is invalid')
    }
    if (record.used) {
      const grant = record.grantId === undefined ? undefined : this.#grants.get(record.grantId)
      if (grant && !grant.revoked) this.#revoke(grant)
      refuse('invalid_code', 'The authorization code has already been used')
    }
    record.used = true
    if (Date.now() >= record.expiresAt) {
      refuse('invalid_code', 'The authorization code is expired')
    }
    if (createHash('sha256').update(codeVerifier).digest('base64url') !== record.codeChallenge) {
      refuse('pkce_mismatch', 'The code_verifier does not match the code_challenge')
    }
    if (redirectUri !== undefined && redirectUri !== record.redirectUri) {
      refuse('invalid_redirect_uri', 'The redirect_uri does not match the pre-authorization')
    }
    const now = Date.now()
    const grant: Grant = {
      id: randomUUID(),
      clientId,
      userId: record.userId,
      refreshExpiresAt: (Math.floor(now / 1000) + this.#settings.refreshTokenTTLSeconds) * 1000,
      revoked: false,
    }
    this.#grants.set(grant.id, grant)
    record.grantId = grant.id
    const refreshToken = token()
    this.#refreshTokens.set(refreshToken, { grantId: grant.id, rotated: false })
    return this.#tokenPayload(grant, refreshToken)
  }

  /**
   * Refreshes: a new access token, and with rotation a new refresh token that keeps the first
   * one's expiry. A rotated refresh token presented again revokes the grant.
   */
  refresh(clientId: string, refreshToken: string): DigiMeTokenPayload {
    const record = this.#refreshTokens.get(refreshToken)
    const grant = record && this.#grants.get(record.grantId)
    if (!record || !grant || grant.clientId !== clientId || grant.revoked) {
      refuse('invalid_refresh_token', INVALID_REFRESH_TOKEN)
    }
    if (Date.now() >= grant.refreshExpiresAt) {
      refuse('expired_refresh_token', EXPIRED_REFRESH_TOKEN)
    }
    if (record.rotated) {
      this.#events.refreshTokenReused()
      this.#revoke(grant)
      refuse('reused_refresh_token', INVALID_REFRESH_TOKEN)
    }
    let current = refreshToken
    if (this.#settings.rotateRefreshToken) {
      record.rotated = true
      current = token()
      this.#refreshTokens.set(current, { grantId: grant.id, rotated: false })
    }
    return this.#tokenPayload(grant, current)
  }

  /** The grant a live access token belongs to; refuses an unknown, expired or revoked one. */
  grantOfAccessToken(clientId: string, accessToken: string): Grant {
    const record = this.#accessTokens.get(accessToken)
    const grant = record && this.#grants.get(record.grantId)
    if (!record || !grant || grant.clientId !== clientId || grant.revoked || Date.now() >= record.expiresAt) {
      refuse('invalid_access_token', INVALID_ACCESS_TOKEN)
    }
    return grant
  }

  /**
   * The user of an access token this server issued to the client, expired or revoked alike (a
   * re-authorization brings an old one); refuses a token it never issued.
   */
  userOfAnyAccessToken(clientId: string, accessToken: string): string {
    const record = this.#accessTokens.get(accessToken)
    const grant = record && this.#grants.get(record.grantId)
    if (!grant || grant.clientId !== clientId) {
      refuse('invalid_access_token', INVALID_ACCESS_TOKEN)
    }
    return grant.userId
  }

  createSession(grant: Grant): { key: string; expiry: number } {
    const key = randomUUID()
    const expiry = Date.now() + SESSION_TTL_MS
    this.#sessions.set(key, { clientId: grant.clientId, userId: grant.userId, expiresAt: expiry })
    return { key, expiry }
  }

  /** Refuses a session that is unknown, expired, or another user's (404 alike: nothing leaks). */
  checkSession(key: string, grant: Grant): void {
    const session = this.#sessions.get(key)
    if (
      !session ||
      session.clientId !== grant.clientId ||
      session.userId !== grant.userId ||
      Date.now() >= session.expiresAt
    ) {
      refuse('not_found', 'The session was not found')
    }
  }

  /** Revokes every live grant of a user; returns how many. */
  revokeGrantsOf(userId: string): number {
    let count = 0
    for (const grant of this.#grants.values()) {
      if (grant.userId === userId && !grant.revoked) {
        this.#revoke(grant)
        count++
      }
    }
    return count
  }

  /** Makes every access token (of one user, or of all) expired from now. */
  expireAccessTokens(userId: string | undefined): void {
    const now = Date.now()
    for (const record of this.#accessTokens.values()) {
      if (userId === undefined || this.#grants.get(record.grantId)?.userId === userId) {
        record.expiresAt = Math.min(record.expiresAt, Math.floor(now / 1000) * 1000)
      }
    }
  }

  /** Makes the refresh tokens of every grant (of one user, or of all) expired from now. */
  expireRefreshTokens(userId: string | undefined): void {
    const now = Date.now()
    for (const grant of this.#grants.values()) {
      if (userId === undefined || grant.userId === userId) {
        grant.refreshExpiresAt = Math.min(grant.refreshExpiresAt, Math.floor(now / 1000) * 1000)
      }
    }
  }

  #revoke(grant: Grant): void {
    grant.revoked = true
    this.#events.grantRevoked()
  }

  #tokenPayload(grant: Grant, refreshToken: string): DigiMeTokenPayload {
    const accessToken = token()
    const accessExpiresOn = Math.floor(Date.now() / 1000) + this.#settings.accessTokenTTLSeconds
    this.#accessTokens.set(accessToken, { grantId: grant.id, expiresAt: accessExpiresOn * 1000 })
    return {
      access_token: { value: accessToken, expires_on: accessExpiresOn },
      refresh_token: { value: refreshToken, expires_on: grant.refreshExpiresAt / 1000 },
      token_type: 'Bearer',
      sub: createHash('sha256').update(`${grant.clientId}\n${grant.userId}`).digest('base64url').slice(0, 22),
      consentid: grant.id,
      identifier: { id: grant.userId },
    }
  }
}
