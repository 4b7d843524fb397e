/** What the test authorization server has seen since it started or since the last reset. */
export interface TestAuthorizationServerStats {
  /** POST requests to the token endpoint, counted on arrival, failures included. */
  tokenCalls: {
    /** Requests with `grant_type=authorization_code`. */
    authorization_code: number
    /** Requests with `grant_type=refresh_token`. */
    refresh_token: number
    /** All token endpoint requests, whatever their `grant_type` (or none). */
    total: number
  }
  /**
   * Grants revoked: on refresh token reuse, through the revocation endpoint (revoking a refresh
   * token revokes its grant), and by `revokeGrantsOf`.
   */
  grantsRevoked: number
  /** Refresh requests that presented an already rotated refresh token. */
  refreshTokenReuse: number
  /** POST requests to the revocation endpoint, counted on arrival. */
  revocationCalls: number
  /** POST requests to the pushed authorization request endpoint (RFC 9126), counted on arrival. */
  pushedAuthorizationRequests: number
}

/** Mutable counters behind `TestAuthorizationServer.stats()`. */
export class ServerStats {
  #authorizationCode = 0
  #refreshToken = 0
  #total = 0
  #grantsRevoked = 0
  #refreshTokenReuse = 0
  #revocationCalls = 0
  #pushedAuthorizationRequests = 0

  countTokenCall(grantType: string | undefined): void {
    this.#total++
    if (grantType === 'authorization_code') {
      this.#authorizationCode++
    } else if (grantType === 'refresh_token') {
      this.#refreshToken++
    }
  }

  countRevocationCall(): void {
    this.#revocationCalls++
  }

  countPushedAuthorizationRequest(): void {
    this.#pushedAuthorizationRequests++
  }

  countGrantRevoked(): void {
    this.#grantsRevoked++
  }

  countRefreshTokenReuse(): void {
    this.#refreshTokenReuse++
  }

  reset(): void {
    this.#authorizationCode = 0
    this.#refreshToken = 0
    this.#total = 0
    this.#grantsRevoked = 0
    this.#refreshTokenReuse = 0
    this.#revocationCalls = 0
    this.#pushedAuthorizationRequests = 0
  }

  snapshot(): TestAuthorizationServerStats {
    return {
      tokenCalls: {
        authorization_code: this.#authorizationCode,
        refresh_token: this.#refreshToken,
        total: this.#total,
      },
      grantsRevoked: this.#grantsRevoked,
      refreshTokenReuse: this.#refreshTokenReuse,
      revocationCalls: this.#revocationCalls,
      pushedAuthorizationRequests: this.#pushedAuthorizationRequests,
    }
  }
}
