import { accessTokenOf, type Grant, lifetimesOf } from './access-token.js'
import { OngoingAccessError } from './errors.js'
import type { GrantRepository } from './grant-repository.js'
import type { IdTokenClaims } from './id-token.js'
import { offlineAccessWarning } from './offline-access.js'
import type {
  FinishConsentOptions,
  FinishConsentResult,
  OngoingAccessWarning,
  StartConsentOptions,
  StartConsentResult,
} from './ongoing-access.js'
import type { OngoingAccessOptions } from './options.js'
import { calculatePKCECodeChallenge, generateCodeVerifier, generateRandomToken, sameSecret } from './pkce.js'
import type { AuthorizationResponse, ProfileClient } from './profile.js'
import { sanitizeReturnTo } from './return-to.js'
import type { Sealer } from './sealing.js'
import { OPENID_SCOPE } from './standard-profile.js'
import { openTransaction, sealTransaction } from './transaction.js'
import { checkUserKey, MAX_USER_KEY_LENGTH } from './user-key.js'

/** What a consent needs of its `OngoingAccess`. */
export interface ConsentDeps {
  profile: ProfileClient
  /** Whether `profile` is the standard OAuth 2.0 / OpenID Connect one. */
  standard: boolean
  sealer: Sealer
  issuer: string
  redirectUri: string
  /** The configured scope (a consent may ask for another). */
  scope: string
  transactionTtlMs: number
  defaultExpiresInMs: number
  userKeyFromClaims: ((claims: IdTokenClaims) => string) | undefined
  repository: GrantRepository
  /** Stores a new grant (it replaces whatever the user had). */
  save(userKey: string, grant: Grant): Promise<void>
  /** Logs and emits a warning about the grant just stored. */
  warn(userKey: string, warning: Omit<OngoingAccessWarning, 'userKey'>): void
}

/**
 * A consent from start to finish: PKCE, `state`, the sealed single-use transaction, the profile's
 * authorization request and callback, the code exchange, and the new grant stored under its user
 * key (the app's, or the one `userKeyFromClaims` makes of the verified claims).
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1, https://www.rfc-editor.org/rfc/rfc7636
 */
export class ConsentFlow {
  readonly #deps: ConsentDeps
  /** Transactions used, when the store cannot claim them (no `claimOnce`): by id, until they expire. */
  readonly #used = new Map<string, number>()

  constructor(deps: ConsentDeps) {
    this.#deps = deps
  }

  /** Whether grants are keyed by the claims (`userKeyFromClaims`). */
  get keysGrantsByClaims(): boolean {
    return this.#deps.userKeyFromClaims !== undefined
  }

  /** `OngoingAccess.startConsent`: the transaction, and the profile's authorization request. */
  async start(options: StartConsentOptions): Promise<StartConsentResult> {
    const scope = options?.scope ?? this.#deps.scope
    let userKey = ''
    if (this.#deps.userKeyFromClaims === undefined) userKey = checkUserKey(options?.userKey)
    else {
      if (options?.userKey !== undefined)
        throw new TypeError(
          'ongoing: this OngoingAccess keys grants by the ID token (`userKeyFromClaims`): `startConsent` takes no `userKey`',
        )
      if (this.#deps.standard && !OPENID_SCOPE.test(scope))
        throw new TypeError("ongoing: `userKeyFromClaims` needs `openid` in the consent's `scope`")
    }
    const state = generateRandomToken()
    const codeVerifier = generateCodeVerifier()
    const returnTo = options.returnTo === undefined ? undefined : sanitizeReturnTo(options.returnTo)
    const { url, nonce, dpopKey } = await this.#deps.profile.startAuthorization({
      state,
      codeChallenge: calculatePKCECodeChallenge(codeVerifier),
      codeChallengeMethod: 'S256',
      redirectUri: this.#deps.redirectUri,
      scope,
      params: options.params ?? {},
    })
    const transaction = sealTransaction(this.#deps.sealer, {
      id: generateRandomToken(16),
      state,
      codeVerifier,
      issuer: this.#deps.issuer,
      userKey,
      returnTo,
      scope,
      nonce,
      dpopKey,
      expiresAt: Date.now() + this.#deps.transactionTtlMs,
    })
    return { url, transaction, state, codeVerifier }
  }

  /**
   * `OngoingAccess.finishConsent`: the transaction opened and claimed once, `state` compared in
   * constant time, the issuer checked, the code exchanged, and the grant stored.
   */
  async finish(options: FinishConsentOptions): Promise<FinishConsentResult> {
    const tx = openTransaction(this.#deps.sealer, options?.transaction, this.#deps.issuer)
    const response = this.#deps.profile.readCallback(callbackURL(options.callbackUrl))
    if (response.state === undefined)
      throw new OngoingAccessError('ERR_TRANSACTION', 'Authorization response has no `state`')
    if (!sameSecret(response.state, tx.state))
      throw new OngoingAccessError(
        'ERR_TRANSACTION',
        'Authorization response `state` does not match the transaction',
      )
    await this.#deps.profile.checkIssuer(response)
    await this.#claim(tx.id, tx.expiresAt)
    const code = codeOf(response)
    const tokens = await this.#deps.profile.exchangeCode({
      code,
      codeVerifier: tx.codeVerifier,
      redirectUri: this.#deps.redirectUri,
      nonce: tx.nonce,
      claimsRequired: this.#deps.userKeyFromClaims !== undefined,
      dpopKey: tx.dpopKey,
    })
    const { claims } = tokens
    const userKey = this.#deps.userKeyFromClaims === undefined ? tx.userKey : this.#userKeyOf(claims)
    const now = Date.now()
    const { expiresAt, refreshExpiresAt } = lifetimesOf(tokens, now, this.#deps.defaultExpiresInMs)
    const grant: Grant = {
      accessToken: tokens.accessToken,
      tokenType: tokens.tokenType,
      expiresAt,
      obtainedAt: now,
      refreshToken: tokens.refreshToken,
      refreshExpiresAt,
      scope: tokens.scope ?? (tx.scope === '' ? undefined : tx.scope),
      grantId: generateRandomToken(12),
    }
    if (tx.dpopKey !== undefined) grant.dpopKey = tx.dpopKey
    const warning = offlineAccessWarning(tx.scope, tokens.scope, tokens.refreshToken !== undefined)
    await this.#deps.save(userKey, grant)
    if (warning !== undefined) {
      this.#deps.warn(userKey, warning)
    }
    return { userKey, returnTo: tx.returnTo, token: accessTokenOf(grant, false), claims }
  }

  /** The user key `userKeyFromClaims` makes of verified claims. */
  #userKeyOf(claims: IdTokenClaims | undefined): string {
    const fromClaims = this.#deps.userKeyFromClaims
    if (fromClaims === undefined) throw new Error('ongoing: internal error: no userKeyFromClaims')
    // The standard profile refuses an answer without verified claims itself, when they are needed.
    if (claims === undefined)
      throw new OngoingAccessError(
        'ERR_INVALID_RESPONSE',
        'The server answered without verified identity claims, which `userKeyFromClaims` needs',
      )
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

  async #claim(id: string, expiresAt: number): Promise<void> {
    const ttlMs = Math.max(1_000, expiresAt - Date.now())
    let first = await this.#deps.repository.claimOnce(id, ttlMs)
    if (first === undefined) {
      const now = Date.now()
      for (const [used, until] of this.#used) {
        if (until > now && this.#used.size < 100_000) break
        this.#used.delete(used)
      }
      first = !this.#used.has(id)
      this.#used.set(id, expiresAt)
    }
    if (!first) throw new OngoingAccessError('ERR_TRANSACTION', 'Consent transaction was already used')
  }
}

export function userKeyFromClaimsOf(
  option: OngoingAccessOptions['userKeyFromClaims'],
  standard: boolean,
  scope: string,
): ((claims: IdTokenClaims) => string) | undefined {
  if (option === undefined) return undefined
  if (typeof option !== 'function')
    throw new TypeError('ongoing: `userKeyFromClaims` must be a function (claims) => string')
  // The standard profile's claims are the ID token's; another profile says what its claims are.
  if (standard && !OPENID_SCOPE.test(scope))
    throw new TypeError(
      'ongoing: `userKeyFromClaims` needs `openid` in `scope`: the user key comes from the ID token',
    )
  return option
}

/** The callback URL as a URL. */
function callbackURL(callbackUrl: URL | string): URL {
  if (typeof callbackUrl !== 'string') return callbackUrl
  try {
    return new URL(callbackUrl)
  } catch {
    throw new OngoingAccessError('ERR_AUTHORIZATION', 'Callback URL is not a valid URL')
  }
}

/** The code of an authorization response, or the error its refusal or failure is. */
function codeOf(response: AuthorizationResponse): string {
  switch (response.outcome) {
    case 'denied':
      throw new OngoingAccessError('ERR_CONSENT_DENIED', 'The user declined consent', {
        ...(response.error === undefined ? {} : { oauthError: response.error }),
      })
    case 'error':
      throw new OngoingAccessError(
        'ERR_AUTHORIZATION',
        `Authorization failed: ${response.error.slice(0, 100)}`,
        {
          oauthError: response.error,
          ...(response.errorDescription === undefined
            ? {}
            : { oauthErrorDescription: response.errorDescription }),
        },
      )
    case 'code':
      if (response.code === undefined || response.code === '')
        throw new OngoingAccessError('ERR_AUTHORIZATION', 'Authorization response has no `code`')
      return response.code
  }
}
