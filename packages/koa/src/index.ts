export type {
  OngoingKoaOptions,
  OngoingRequestState,
  OngoingRouterOptions,
  RequireAccessTokenOptions,
} from './options.js'
export { requireAccessToken } from './require-access-token.js'
export { ongoingRouter } from './router.js'
export { type TokenSwapRouterOptions, tokenSwapRouter } from './token-swap-router.js'
