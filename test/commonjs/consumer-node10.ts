import { type AccessToken, OngoingAccess } from '@ongoing/core'

export function expiresAt(token: AccessToken): number {
  return token.expiresAt
}
export const Access = OngoingAccess
export { OngoingRoutes } from '@ongoing/core/adapter'
