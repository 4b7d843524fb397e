export { getOngoing } from './get-ongoing.js'
export type {
  OngoingKoaOptions,
  OngoingRequestState,
  OngoingRouterOptions,
  OngoingState,
  RequireAccessTokenMiddleware,
  RequireAccessTokenOptions,
} from './options.js'
export { requireAccessToken } from './require-access-token.js'
export { ongoingRouter } from './router.js'
export { type TokenSwapRouterOptions, tokenSwapRouter } from './token-swap-router.js'
