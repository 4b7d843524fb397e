import { isOngoingAccessError, type OngoingAccessError } from './errors.js'

/**
 * Errors that can never mean "this grant is dead": a wrong client credential, or a server that is
 * down for a moment. Listing one in `deadGrantErrors` would forget every user's grant at once.
 */
const NEVER_DEAD = new Set(['invalid_client', 'server_error', 'temporarily_unavailable'])

/** RFC 6749 §5.2: `error` is one or more of %x20-21 / %x23-5B / %x5D-7E. */
const ERROR_CODE = /^[\x20\x21\x23-\x5b\x5d-\x7e]{1,100}$/

/**
 * Tells whether a token endpoint error answering a refresh means the grant is dead (the user must
 * consent again). A profile's own (`ProfileClient.deadGrant`); the standard profile's goes by the
 * RFC 6749 §5.2 `error` code: `invalid_grant` always, and the codes a server is known to use
 * instead (`deadGrantErrors`), from a 4xx answer only.
 *
 * @example
 * ```ts
 * const deadGrant: DeadGrantPolicy = {
 *   isDead: (err): err is OngoingAccessError => isOngoingAccessError(err) && err.status === 401,
 *   hintFor: () => undefined,
 * }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 */
export interface DeadGrantPolicy {
  /** Whether `err` says the grant is dead. */
  isDead(err: unknown): err is OngoingAccessError
  /**
   * The sentence an error that was *not* taken for a dead grant gets in its message, naming the
   * error seen and the option that changes the verdict; `undefined` when none applies.
   */
  hintFor(err: OngoingAccessError): string | undefined
}

/**
 * The policy for `invalid_grant` and `extra` (validated here): what the standard profile uses, and
 * what a profile whose server says "dead grant" with RFC 6749 error codes can use too.
 *
 * @example
 * ```ts
 * const deadGrant = deadGrantPolicy(['invalid_request']) // a server that says invalid_request
 * if (deadGrant.isDead(err)) askForConsent()
 * ```
 * @throws {TypeError} when `extra` is not an array of RFC 6749 error codes, or names one that can
 *   never mean a dead grant (`invalid_client`, `server_error`, `temporarily_unavailable`).
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 */
export function deadGrantPolicy(extra: readonly string[] | undefined): DeadGrantPolicy {
  const codes = new Set(['invalid_grant'])
  if (extra !== undefined) {
    if (!Array.isArray(extra))
      throw new TypeError('ongoing: `deadGrantErrors` must be an array of OAuth error codes')
    for (const code of extra) {
      if (typeof code !== 'string' || !ERROR_CODE.test(code))
        throw new TypeError(
          `ongoing: \`deadGrantErrors\` holds ${JSON.stringify(code)}, which is not an OAuth error code (RFC 6749 section 5.2)`,
        )
      if (NEVER_DEAD.has(code))
        throw new TypeError(
          `ongoing: \`deadGrantErrors\` may not hold ${JSON.stringify(code)}: it says nothing about one grant, and taking it for a dead grant would forget every user's grant at once`,
        )
      codes.add(code)
    }
  }
  const isDead = (err: unknown): err is OngoingAccessError =>
    isOngoingAccessError(err) &&
    err.code === 'ERR_TOKEN_ENDPOINT' &&
    err.oauthError !== undefined &&
    codes.has(err.oauthError) &&
    // `invalid_grant` says it whatever the status; a code listed for a server only from a 4xx.
    (err.oauthError === 'invalid_grant' ||
      (err.status !== undefined && err.status >= 400 && err.status < 500))
  return {
    isDead,
    hintFor(err) {
      const { oauthError, status } = err
      if (
        err.code !== 'ERR_TOKEN_ENDPOINT' ||
        oauthError === undefined ||
        NEVER_DEAD.has(oauthError) ||
        status === undefined ||
        status < 400 ||
        status >= 500
      )
        return undefined
      return `Only invalid_grant is taken to mean that the grant is dead; if this server answers an expired or revoked refresh token with ${oauthError}, add ${JSON.stringify(oauthError)} to the \`deadGrantErrors\` option`
    },
  }
}
