/**
 * `@ongoing/core`: ongoing access to a user's data at an OAuth 2.0 authorization server. What an
 * app uses: {@link OngoingAccess}, its errors, the in-memory store and the types of their options
 * and results. What framework adapters and wire profiles are built from is in
 * `@ongoing/core/adapter`.
 *
 * @example
 * ```ts
 * import { OngoingAccess } from '@ongoing/core'
 *
 * const access = new OngoingAccess({ issuer, client, redirectUri, scope, secret })
 * const token = await access.getAccessToken('user-42')
 * ```
 * @packageDocumentation
 */
export type { AccessToken } from './access-token.js'
export type {
  ClientAssertionAlgorithm,
  ClientOptions,
  PrivateKeyClientOptions,
  PublicClientOptions,
  SecretClientOptions,
} from './client-auth.js'
export type { AuthorizationServerEndpoints, AuthorizationServerMetadata } from './discovery.js'
export {
  ConsentRequiredError,
  type ConsentRequiredReason,
  isOngoingAccessError,
  OngoingAccessError,
  type OngoingAccessErrorCode,
  type OngoingAccessErrorDetails,
} from './errors.js'
export type {
  ConsentRequiredRecord,
  GrantInfo,
  GrantLastError,
  GrantStatus,
} from './grant-info.js'
export type { GrantsOptions } from './grant-inventory.js'
export type { IdTokenClaims } from './id-token.js'
export type { Keeper, KeeperSweep, KeepFreshOptions } from './keeper.js'
export type { Logger, LoggerObject, LoggerOption, LogLevel } from './logger.js'
export { MemoryTokenStore, type MemoryTokenStoreOptions } from './memory-token-store.js'
export type { MeterProviderLike, MetricsOption } from './metrics.js'
export {
  type FinishConsentOptions,
  type FinishConsentResult,
  type GetAccessTokenOptions,
  OngoingAccess,
  type OngoingAccessEvents,
  type OngoingAccessWarning,
  type RestoreTokens,
  type RevokeResult,
  type StartConsentOptions,
  type StartConsentResult,
} from './ongoing-access.js'
export type { OngoingAccessOptions, OnRefreshTokenExpired } from './options.js'
export type {
  AuthorizationCode,
  AuthorizationDenied,
  AuthorizationFailed,
  AuthorizationRequest,
  AuthorizationResponse,
  AuthorizationStart,
  CodeExchange,
  Profile,
  ProfileClient,
  ProfileContext,
  ProfileResponse,
  TokenSet,
} from './profile.js'
export type { RetryOptions } from './retry.js'
export {
  createMemoryRateLimiter,
  type MemoryRateLimiter,
  type MemoryRateLimiterOptions,
} from './swap/memory-rate-limiter.js'
export type { SwapRateLimiter, TokenSwapOptions } from './swap/token-swap-service.js'
export type {
  TokenStore,
  TokenStoreEntry,
  TokenStoreListOptions,
  TokenStoreListPage,
  TokenStoreLock,
  TokenStoreSetOptions,
} from './token-store.js'
export type { OngoingFetch, OngoingRequestState } from './web/request-state.js'
