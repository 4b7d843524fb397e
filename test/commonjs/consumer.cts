import { type AccessToken, OngoingAccess, OngoingAccessError } from '@ongoing/core'
// The entry for adapter authors, as a CommonJS adapter would use it.
import { OngoingRoutes, type WebRequest } from '@ongoing/core/adapter'

export function describeToken(token: AccessToken): string {
  return `${token.tokenType} until ${new Date(token.expiresAt).toISOString()}`
}
export const kinds: Array<typeof OngoingAccess | typeof OngoingAccessError> = [
  OngoingAccess,
  OngoingAccessError,
]

export function statusOf(access: OngoingAccess, request: WebRequest): Promise<number> {
  return new OngoingRoutes(access).refresh(request, undefined).then((answer) => answer.status)
}
