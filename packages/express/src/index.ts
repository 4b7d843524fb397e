export { getOngoing } from './get-ongoing.js'
export type {
  OngoingExpressOptions,
  OngoingRequestState,
  OngoingRouterOptions,
  RequireAccessTokenOptions,
} from './options.js'
export { requireAccessToken } from './require-access-token.js'
export { ongoingRouter } from './router.js'
export {
  OngoingStrategy,
  type OngoingStrategyOptions,
  type OngoingVerify,
  type OngoingVerifyDone,
  type OngoingVerifyWithRequest,
} from './strategy.js'
export { type TokenSwapRouterOptions, tokenSwapRouter } from './token-swap-router.js'
