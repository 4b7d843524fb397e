import { type IdTokenClaims, OngoingAccessError, type TokenSet } from '@ongoing/core'

/** Above this, an `expires_on` cannot be Unix seconds (it would be past the year 5000): it is taken as ms. */
const SECONDS_LIMIT = 1e11

/**
 * The tokens of a verified token-endpoint payload. v1.7: `access_token: {value, expires_on}`,
 * `refresh_token: {value, expires_on}` (Unix seconds, absolute); the legacy v1.4/v1.5 shape:
 * `access_token` and `refresh_token` strings with one `expires_on` (the access token's).
 * `claims` (with `sub`, when the payload has one): who the user is at digi.me, for
 * `userKeyFromClaims`.
 *
 * @throws {OngoingAccessError} `ERR_INVALID_RESPONSE` (`outcomeUnknown`: the server has acted).
 */
export function tokenSetOf(
  payload: Record<string, unknown>,
  context: { issuer: string; clientId: string; withClaims: boolean },
): TokenSet {
  const access = tokenOf(payload.access_token, 'access_token')
  if (access === undefined) throw invalid('no `access_token`')
  const refresh = tokenOf(payload.refresh_token, 'refresh_token')
  const legacyExpiresOn = expiryOf(payload.expires_on, 'expires_on')
  const tokenType = payload.token_type
  if (tokenType !== undefined && (typeof tokenType !== 'string' || tokenType.toLowerCase() !== 'bearer'))
    throw invalid('a `token_type` other than Bearer')
  const expiresAt = access.expiresAt ?? legacyExpiresOn
  return {
    accessToken: access.value,
    tokenType: 'Bearer',
    expiresAt,
    refreshToken: refresh?.value,
    refreshExpiresAt: refresh?.expiresAt,
    claims: context.withClaims ? claimsOf(payload, context, expiresAt) : undefined,
  }
}

function tokenOf(value: unknown, name: string): { value: string; expiresAt: number | undefined } | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value === 'string') {
    if (value === '') throw invalid(`an empty \`${name}\``)
    return { value, expiresAt: undefined }
  }
  if (typeof value !== 'object' || Array.isArray(value)) throw invalid(`a malformed \`${name}\``)
  const token = value as Record<string, unknown>
  if (typeof token.value !== 'string' || token.value === '') throw invalid(`no \`${name}.value\``)
  return { value: token.value, expiresAt: expiryOf(token.expires_on, `${name}.expires_on`) }
}

/** An absolute `expires_on` in ms since epoch: given in Unix seconds (a number or a string of digits). */
function expiryOf(value: unknown, name: string): number | undefined {
  if (value === undefined || value === null) return undefined
  const n = typeof value === 'string' && /^\d{1,16}$/.test(value) ? Number(value) : value
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) throw invalid(`a malformed \`${name}\``)
  return n >= SECONDS_LIMIT ? n : n * 1000
}

/**
 * Identity claims from the payload: `sub` (digi.me's stable id of the user for this contract), the
 * issuer (the base URL) and this client as the audience; `consentid` and `identifier` when given.
 * `undefined` without a `sub`.
 */
function claimsOf(
  payload: Record<string, unknown>,
  context: { issuer: string; clientId: string },
  expiresAt: number | undefined,
): IdTokenClaims | undefined {
  const { sub, consentid, identifier } = payload
  if (typeof sub !== 'string' || sub === '') return undefined
  const now = Math.floor(Date.now() / 1000)
  const id = (identifier as { id?: unknown } | null | undefined)?.id
  return Object.freeze({
    iss: context.issuer,
    sub,
    aud: context.clientId,
    iat: now,
    exp: expiresAt === undefined ? now : Math.floor(expiresAt / 1000),
    ...(typeof consentid === 'string' ? { consentid } : {}),
    ...(typeof id === 'string' ? { identifier: { id } } : {}),
  })
}

function invalid(problem: string): OngoingAccessError {
  // The server processed the request (a refresh token it rotated is spent), but the answer is unusable.
  return new OngoingAccessError('ERR_INVALID_RESPONSE', `digi.me token endpoint answered with ${problem}`, {
    status: 200,
    outcomeUnknown: true,
  })
}
