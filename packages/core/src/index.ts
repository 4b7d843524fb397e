export type { AccessToken } from './access-token.js'
export { type CallbackParameters, parseCallbackParameters } from './callback.js'
export type {
  ClientAssertionAlgorithm,
  ClientOptions,
  PrivateKeyClientOptions,
  PublicClientOptions,
  SecretClientOptions,
} from './client-auth.js'
export { type DeadGrantPolicy, deadGrantPolicy } from './dead-grant.js'
export {
  type AuthorizationServerEndpoints,
  type AuthorizationServerMetadata,
  discoverAuthorizationServer,
} from './discovery.js'
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
export { calculatePKCECodeChallenge, generateCodeVerifier, generateRandomToken } from './pkce.js'
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
export { parseRetryAfter, type RetryOptions } from './retry.js'
export { sanitizeReturnTo } from './return-to.js'
export { Sealer, type SealPurpose } from './sealing.js'
export {
  createMemoryRateLimiter,
  type MemoryRateLimiter,
  type MemoryRateLimiterOptions,
} from './swap/memory-rate-limiter.js'
export { readSwapRequestBody, type SwapRequestStream } from './swap/read-swap-body.js'
export {
  type SwapRateLimiter,
  type SwapRequest,
  type SwapResponse,
  type TokenSwapOptions,
  TokenSwapService,
} from './swap/token-swap-service.js'
export type {
  TokenStore,
  TokenStoreEntry,
  TokenStoreListOptions,
  TokenStoreListPage,
  TokenStoreLock,
  TokenStoreSetOptions,
} from './token-store.js'
export {
  type CookieAttributes,
  clearCookie,
  cookieHeaderOf,
  type RequestWithHeaders,
  readCookie,
  serializeCookie,
} from './web/cookies.js'
export {
  CONSENT_REQUIRED_CHALLENGE,
  httpHeadersOf,
  httpStatusOf,
  setCookiesOf,
  toHttpError,
} from './web/http-status.js'
export { isPromiseLike } from './web/promise-like.js'
export { RequestProperty } from './web/request-property.js'
export type { OngoingFetch, OngoingRequestState } from './web/request-state.js'
export {
  isBrowserNavigation,
  isSameOriginRequest,
  OngoingRoutes,
  type OngoingRoutesOptions,
  type WebRequest,
  type WebResponse,
} from './web/routes.js'
