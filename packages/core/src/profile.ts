import type { AccessToken } from './access-token.js'
import type { DeadGrantPolicy } from './dead-grant.js'
import type { AuthorizationServerMetadata } from './discovery.js'
import type { DPoPKeyMaterial } from './dpop.js'
import type { IdTokenClaims } from './id-token.js'
import type { Logger } from './logger.js'

/**
 * A wire profile: how one kind of authorization server is spoken to. `OngoingAccess` takes one as
 * its `profile` option; without it, the standard OAuth 2.0 / OpenID Connect profile is built from
 * `issuer`, `client` and the other options. Everything else — stores, the refresh algorithm,
 * sealing, encryption at rest, events, adapters — is the same whatever the profile.
 *
 * A profile is configuration; `create` is called once per `OngoingAccess`, with what the access
 * owns (its `fetch`, its limits, its logger).
 *
 * @example
 * ```ts
 * import { digiMe } from '@ongoing/digime'
 * const access = new OngoingAccess({ profile: digiMe({ applicationId, contractId, privateKey }), redirectUri, secret })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749 (what the standard profile speaks)
 */
export interface Profile {
  /** A short name for logs (`'oauth2'`, `'digime'`). */
  readonly name: string
  /** The profile's client for one `OngoingAccess`. */
  create(context: ProfileContext): ProfileClient
}

/** What `OngoingAccess` lends its profile. */
export interface ProfileContext {
  /** The `fetch` of every call to the authorization server (the `fetch` option). */
  readonly fetch: typeof fetch
  /** Timeout of one call, in ms (`requestTimeoutMs`). */
  readonly requestTimeoutMs: number
  /** Largest answer to read, in bytes (`maxResponseBytes`). */
  readonly maxResponseBytes: number
  /** The access's logger; never give it token material. */
  readonly logger: Logger
  /**
   * Calls the server with the access's `fetch` and limits: never follows a redirect, aborts after
   * `requestTimeoutMs`, stops reading past `maxResponseBytes`. A call that got no answer is
   * `ERR_NETWORK`, with `outcomeUnknown` unless the request certainly was not sent (core does not
   * retry a refresh whose outcome is unknown). `what` names the endpoint in error messages.
   *
   * @throws {OngoingAccessError} `ERR_NETWORK`; `ERR_INVALID_RESPONSE` for a redirect or an oversized body.
   */
  request(url: string, init: RequestInit, what: string): Promise<ProfileResponse>
}

/** A server's answer, read in full (bounded). */
export interface ProfileResponse {
  readonly status: number
  readonly headers: Headers
  readonly body: string
}

/** What a consent asks of the profile: the parameters core made for it. */
export interface AuthorizationRequest {
  /** The `state` to send and find again in the callback. */
  readonly state: string
  /** The PKCE S256 challenge of the transaction's verifier. */
  readonly codeChallenge: string
  readonly codeChallengeMethod: 'S256'
  readonly redirectUri: string
  /** The scope of this consent (`''` for none). */
  readonly scope: string
  /** Extra parameters for this consent, as the app gave them. */
  readonly params: Readonly<Record<string, string>>
}

/** Where to send the user, and what the callback must check. */
export interface AuthorizationStart {
  readonly url: URL
  /** An OpenID Connect `nonce` sent with the request, to find again in the ID token. */
  readonly nonce?: string | undefined
  /** The DPoP key made for the grant (its thumbprint is on the request): sealed in the transaction. */
  readonly dpopKey?: DPoPKeyMaterial | undefined
}

/**
 * The authorization response as the profile read it from the callback URL: a code, a refusal by
 * the user, or another error.
 */
export type AuthorizationResponse = AuthorizationCode | AuthorizationDenied | AuthorizationFailed

interface AuthorizationResponseBase {
  /** The `state` sent back, if any (core compares it with the transaction's). */
  readonly state: string | undefined
  /** The issuer the response names (RFC 9207 `iss`), if any. */
  readonly iss?: string | undefined
}

/** A code; a missing or empty one is refused by core (`ERR_AUTHORIZATION`), after the state check. */
export interface AuthorizationCode extends AuthorizationResponseBase {
  readonly outcome: 'code'
  readonly code: string | undefined
}

/** The user declined (core: `ERR_CONSENT_DENIED`). */
export interface AuthorizationDenied extends AuthorizationResponseBase {
  readonly outcome: 'denied'
  readonly error?: string | undefined
}

/** Another error (core: `ERR_AUTHORIZATION`). */
export interface AuthorizationFailed extends AuthorizationResponseBase {
  readonly outcome: 'error'
  readonly error: string
  readonly errorDescription?: string | undefined
}

/** What the code exchange asks of the profile. */
export interface CodeExchange {
  readonly code: string
  readonly codeVerifier: string | undefined
  readonly redirectUri: string
  /** The `nonce` the consent sent, if any. */
  readonly nonce: string | undefined
  /** True when the app keys grants by the claims: an answer without verified claims is an error. */
  readonly claimsRequired: boolean
  /** The DPoP key the consent made, if any: it signs the exchange's proof. */
  readonly dpopKey?: DPoPKeyMaterial | undefined
}

/**
 * Tokens a profile read from the server and verified. Lifetimes are relative (`expiresIn`, seconds
 * from now) or absolute (`expiresAt`, ms since epoch), whichever the server gives; absolute wins.
 */
export interface TokenSet {
  readonly accessToken: string
  /** `Bearer`, or the profile's own type. */
  readonly tokenType: string
  readonly expiresIn?: number | undefined
  readonly expiresAt?: number | undefined
  readonly refreshToken?: string | undefined
  readonly refreshExpiresIn?: number | undefined
  readonly refreshExpiresAt?: number | undefined
  readonly scope?: string | undefined
  /** The verified identity claims, from a code exchange (OpenID Connect: the ID token's). */
  readonly claims?: IdTokenClaims | undefined
}

/**
 * One profile's client of its server. Each method is one exchange on the wire, signed afresh when
 * the profile signs (core retries by calling again).
 */
export interface ProfileClient {
  /** Identifies the server: part of every grant's store key, and of every sealed transaction. */
  readonly issuer: string
  /** Identifies the client at the server: part of every grant's store key. */
  readonly clientId: string
  /**
   * Which token endpoint errors mean the grant is dead (consent again), and the hint an error that
   * does not gets (see {@link DeadGrantPolicy}).
   */
  readonly deadGrant: DeadGrantPolicy
  /**
   * Discovers or checks the server, once (a failure is tried again on the next call).
   *
   * @throws {OngoingAccessError} `ERR_CONFIGURATION`, `ERR_INVALID_RESPONSE`, `ERR_NETWORK`.
   */
  ready(): Promise<AuthorizationServerMetadata>
  /** Makes the consent: the URL to send the user to (a pushed request may come first). */
  startAuthorization(request: AuthorizationRequest): Promise<AuthorizationStart>
  /**
   * Reads the callback URL. Checks only its form (repeated or oversized parameters, tokens in the
   * URL); `state` is checked by core, `iss` by {@link ProfileClient.checkIssuer}.
   *
   * @throws {OngoingAccessError} `ERR_AUTHORIZATION` for a malformed response.
   */
  readCallback(callbackUrl: URL): AuthorizationResponse
  /**
   * Checks that the response comes from this server (RFC 9207), once its `state` matched.
   *
   * @throws {OngoingAccessError} `ERR_ISSUER_MISMATCH`.
   */
  checkIssuer(response: AuthorizationResponse): Promise<void>
  /** Exchanges the code: never retried (a code is single use). */
  exchangeCode(exchange: CodeExchange): Promise<TokenSet>
  /** One refresh attempt, with the grant's DPoP key when it has one. */
  refresh(refreshToken: string, dpopKey?: DPoPKeyMaterial): Promise<TokenSet>
  /** Puts `token` on a resource request, the way the server wants it. */
  authorize(request: Request, token: AccessToken): Request | Promise<Request>
  /** Whether a resource server's answer says the token was refused (refresh once, retry once). */
  rejectsToken(response: Response): boolean
  /**
   * Whether a resource server's answer asks for the request again with a new proof (a DPoP nonce
   * challenge, RFC 9449 §9): then it is sent again once, with the same token. Absent: never.
   */
  asksForNewProof?(request: Request, response: Response): boolean
  /** Revokes a token at the server; whether the server confirmed. Absent: nothing to call. */
  revoke?(token: string, hint: 'refresh_token' | 'access_token', dpopKey?: DPoPKeyMaterial): Promise<boolean>
}
