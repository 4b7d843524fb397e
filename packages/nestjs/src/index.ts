export { OngoingAccess } from '@ongoing/core'
export { AccessToken } from './access-token.decorator.js'
export { AccessTokenGuard } from './access-token.guard.js'
export { OngoingAccessException } from './exception.js'
export {
  ONGOING_ACCESS_MODULE_OPTIONS,
  OngoingAccessModule,
  type OngoingAccessModuleAsyncOptions,
  type OngoingAccessModuleForRootOptions,
} from './ongoing-access.module.js'
export type { OngoingAccessModuleOptions, OngoingRequestState } from './options.js'
export {
  TokenSwapModule,
  type TokenSwapModuleAsyncOptions,
  type TokenSwapModuleForRootOptions,
  type TokenSwapModuleOptions,
} from './token-swap.module.js'
export { type TokenSwapRouterOptions, tokenSwapRouter } from './token-swap-router.js'
