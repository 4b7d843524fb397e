import type { DigiMeRefusal, DigiMeRefusalReason } from './digime-stats.js'

const ANSWERS: Record<DigiMeRefusalReason, { status: number; code: string }> = {
  missing_jwt: { status: 401, code: 'InvalidJWT' },
  malformed_jwt: { status: 401, code: 'InvalidJWT' },
  unsupported_alg: { status: 401, code: 'InvalidJWT' },
  bad_signature: { status: 401, code: 'InvalidJWT' },
  unknown_client: { status: 401, code: 'InvalidClient' },
  invalid_claims: { status: 400, code: 'InvalidRequest' },
  stale_timestamp: { status: 400, code: 'InvalidRequest' },
  reused_nonce: { status: 400, code: 'InvalidRequest' },
  invalid_body: { status: 400, code: 'InvalidRequest' },
  body_too_large: { status: 413, code: 'InvalidRequest' },
  invalid_redirect_uri: { status: 400, code: 'InvalidRedirectUri' },
  unsupported_challenge_method: { status: 400, code: 'InvalidRequest' },
  unsupported_grant_type: { status: 400, code: 'InvalidRequest' },
  invalid_code: { status: 400, code: 'InvalidGrant' },
  pkce_mismatch: { status: 400, code: 'InvalidGrant' },
  invalid_refresh_token: { status: 401, code: 'InvalidToken' },
  reused_refresh_token: { status: 401, code: 'InvalidToken' },
  expired_refresh_token: { status: 401, code: 'InvalidToken' },
  invalid_access_token: { status: 401, code: 'InvalidToken' },
  forced_invalid_token: { status: 401, code: 'InvalidToken' },
  not_found: { status: 404, code: 'NotFound' },
  method_not_allowed: { status: 405, code: 'MethodNotAllowed' },
}

export const INVALID_ACCESS_TOKEN = 'The token (access_token) is invalid'
export const INVALID_REFRESH_TOKEN = 'The token (refresh_token) is invalid'
export const EXPIRED_REFRESH_TOKEN = 'The token (refresh_token) is expired'

/** A request the server refuses; thrown inside a handler, answered in digi.me's error form. */
export class DigiMeRefusalError extends Error {
  readonly refusal: DigiMeRefusal

  constructor(reason: DigiMeRefusalReason, message: string) {
    super(message)
    this.name = 'DigiMeRefusalError'
    this.refusal = { reason, ...ANSWERS[reason], message }
  }
}

/** Throws the refusal: `reason` decides the status and error code, `message` is sent as is. */
export function refuse(reason: DigiMeRefusalReason, message: string): never {
  throw new DigiMeRefusalError(reason, message)
}
