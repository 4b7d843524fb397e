const BRAND: unique symbol = Symbol.for('ongoing.OngoingAccessError') as never

/**
 * Stable error codes of {@link OngoingAccessError}. `switch (err.code)` narrows on them.
 */
export type OngoingAccessErrorCode =
  | 'ERR_TRANSACTION'
  | 'ERR_CONSENT_DENIED'
  | 'ERR_AUTHORIZATION'
  | 'ERR_ISSUER_MISMATCH'
  | 'ERR_TOKEN_ENDPOINT'
  | 'ERR_NETWORK'
  | 'ERR_INVALID_RESPONSE'
  | 'ERR_CONSENT_REQUIRED'
  | 'ERR_STORE'
  | 'ERR_CONFIGURATION'

/** Details an error may carry. Never token material. */
export interface OngoingAccessErrorDetails {
  /** HTTP status of the authorization server's answer, when one caused the error. */
  status?: number
  /** The `error` member of an RFC 6749 §5.2 error response (or of the callback). */
  oauthError?: string
  /** The `error_description` the server sent. Untrusted text: escape it before rendering. */
  oauthErrorDescription?: string
  /** How long the server asked us to wait (`Retry-After`), in ms. */
  retryAfterMs?: number
  /** The request may have reached the server and been processed (see {@link OngoingAccessError.outcomeUnknown}). */
  outcomeUnknown?: boolean
  /** The underlying cause (network error, store error). */
  cause?: unknown
}

/**
 * The one error class of ongoing. Branch on its `code`, never on its message.
 *
 * @example
 * ```ts
 * try {
 *   await access.getAccessToken(userKey)
 * } catch (err) {
 *   if (err instanceof OngoingAccessError && err.code === 'ERR_CONSENT_REQUIRED') redirectToConsent()
 *   else throw err
 * }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2 for `oauthError`
 */
export class OngoingAccessError extends Error {
  /** @internal brand shared by every copy of the package */
  readonly [BRAND] = true
  /** Stable code; see {@link OngoingAccessErrorCode}. */
  readonly code: OngoingAccessErrorCode
  /** HTTP status of the authorization server's answer, when one caused the error. */
  readonly status: number | undefined
  /** RFC 6749 `error` value, when the server sent one. */
  readonly oauthError: string | undefined
  /** RFC 6749 `error_description`, when the server sent one. Untrusted: escape before rendering. */
  readonly oauthErrorDescription: string | undefined
  /** How long the server asked us to wait before trying again (`Retry-After`), in ms. */
  readonly retryAfterMs: number | undefined
  /**
   * True when the request may have reached the authorization server and been processed, though no
   * usable answer came back: a timeout after sending, a reset connection, a 5xx from a gateway. A
   * refresh token presented in such a request is not presented again at once (under rotation the
   * server would see it reused and revoke the grant).
   */
  readonly outcomeUnknown: boolean

  constructor(code: OngoingAccessErrorCode, message: string, details: OngoingAccessErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause })
    this.name = 'OngoingAccessError'
    this.code = code
    this.status = details.status
    this.oauthError = details.oauthError
    this.oauthErrorDescription = details.oauthErrorDescription
    this.retryAfterMs = details.retryAfterMs
    this.outcomeUnknown = details.outcomeUnknown === true
  }
}

/** Why consent is required again. */
export type ConsentRequiredReason =
  /** No grant is stored for this user (never consented, or forgotten by `revoke`). */
  | 'no_grant'
  /**
   * A grant is stored for this user but does not open here: it was sealed under another `secret`
   * (or one this process no longer lists), written with `encryptTokens` set differently, stored
   * under another spelling of the issuer (a trailing slash), or tampered with. The record is left
   * as it is, and a `warning` event says which (see `OngoingAccessWarning`): usually a process
   * configured unlike the others that share the store, not a user who must consent again.
   */
  | 'unreadable'
  /**
   * The authorization server rejected the refresh token: it expired or was revoked. The server
   * said so with `invalid_grant`, or with an error the app listed in `deadGrantErrors` (the
   * error's `oauthError` tells which), or the refresh token is past the expiry the server gave. The
   * grant's record keeps why and since when (see `access.inspect`), so every later call, in any
   * process, says the same without a token call, until a new consent or `revoke`.
   */
  | 'invalid_grant'
  /** The access token expired and the grant holds no refresh token. */
  | 'no_refresh_token'

/**
 * Thrown (code `ERR_CONSENT_REQUIRED`) when the user must consent again: there is no grant, the
 * stored one does not open with this configuration, or its refresh token expired or was revoked
 * (see {@link ConsentRequiredReason}). Adapters turn it into a redirect to consent or a 401.
 *
 * @example
 * ```ts
 * access.on('consentRequired', ({ userKey, reason }) => log.info({ userKey, reason }, 'reconsent'))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2 (`invalid_grant`)
 */
export class ConsentRequiredError extends OngoingAccessError {
  /** Why consent is required. */
  readonly reason: ConsentRequiredReason
  /** The user whose grant is missing or dead. */
  readonly userKey: string

  constructor(userKey: string, reason: ConsentRequiredReason, details: OngoingAccessErrorDetails = {}) {
    super('ERR_CONSENT_REQUIRED', consentMessage(reason, details.oauthError), details)
    this.name = 'ConsentRequiredError'
    this.reason = reason
    this.userKey = userKey
  }
}

function consentMessage(reason: ConsentRequiredReason, oauthError: string | undefined): string {
  switch (reason) {
    case 'no_grant':
      return 'Consent required: no grant is stored for this user'
    case 'unreadable':
      return 'Consent required: a grant is stored for this user but does not open here (written with another `secret`, `encryptTokens` setting or issuer spelling, or altered)'
    case 'invalid_grant':
      return oauthError === undefined
        ? 'Consent required: the refresh token expired or was revoked'
        : oauthError === 'invalid_grant'
          ? 'Consent required: the refresh token expired or was revoked (the authorization server answered invalid_grant)'
          : `Consent required: the refresh token expired or was revoked (the authorization server answered ${oauthError}, listed in \`deadGrantErrors\`)`
    case 'no_refresh_token':
      return 'Consent required: the access token expired and the grant has no refresh token'
  }
}

/** True when `err` is an {@link OngoingAccessError}, also when it came from another copy of the package (ESM and CommonJS). */
export function isOngoingAccessError(err: unknown): err is OngoingAccessError {
  return err instanceof OngoingAccessError || (typeof err === 'object' && err !== null && BRAND in err)
}
