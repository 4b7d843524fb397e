import { createParamDecorator, type ExecutionContext } from '@nestjs/common'
import { type OngoingRequest, ongoing } from './ongoing-web.js'
import type { OngoingRequestState } from './options.js'

/**
 * A route parameter with the caller's fresh access token, put there by {@link AccessTokenGuard}:
 * `@AccessToken()` is the token itself; `@AccessToken('expiresAt')` or `@AccessToken('userKey')`
 * another field of it.
 *
 * @param field - Which field: `'accessToken'` (the default), `'expiresAt'` or `'userKey'`.
 * @throws {Error} when the route has no `AccessTokenGuard` (a programming error: 500).
 * @example
 * ```ts
 * @Get('library')
 * @UseGuards(AccessTokenGuard)
 * library(@AccessToken() accessToken: string, @AccessToken('userKey') userKey: string) { … }
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-2.1 (use it as a bearer token)
 */
export const AccessToken: (field?: keyof OngoingRequestState) => ParameterDecorator = createParamDecorator(
  (field: keyof OngoingRequestState | undefined, context: ExecutionContext) => {
    // HTTP arguments are (req, res, next). switchToHttp() would build three closures per request.
    const state = ongoing.get(context.getArgByIndex<OngoingRequest>(0), context.getArgByIndex(1))
    if (state === undefined) throw new Error('ongoing: @AccessToken() needs AccessTokenGuard on the route')
    return state[field ?? 'accessToken']
  },
)
