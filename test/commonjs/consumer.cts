import { type AccessToken, OngoingAccess, OngoingAccessError } from '@ongoing/core'

export function describeToken(token: AccessToken): string {
  return `${token.tokenType} until ${new Date(token.expiresAt).toISOString()}`
}
export const kinds: Array<typeof OngoingAccess | typeof OngoingAccessError> = [
  OngoingAccess,
  OngoingAccessError,
]
