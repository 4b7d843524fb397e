import type { OngoingRequestState } from '@ongoing/core'
import type { Request } from 'express'
import { ongoing } from './require-access-token.js'

/**
 * The caller's fresh access token, as {@link requireAccessToken} left it on this request
 * (`req.ongoing`, typed optional since a route may lack that middleware): `{ accessToken,
 * expiresAt, userKey }`, without a `!`, or an error naming the fix when the middleware did not run.
 *
 * @param req - The request, in a handler after `requireAccessToken(access)`.
 * @returns `req.ongoing`.
 * @throws {Error} when `requireAccessToken` did not run on this request (a programming error:
 *   Express answers 500). The message names the fix and holds nothing from the request.
 * @example
 * ```ts
 * app.get('/library', requireAccessToken(access), async (req, res) => {
 *   const { accessToken } = getOngoing(req)
 *   const api = await fetch(url, { headers: { authorization: `Bearer ${accessToken}` } })
 *   res.json(await api.json())
 * })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-2.1 (send it as a bearer token)
 */
export function getOngoing(req: Request): OngoingRequestState {
  const state = ongoing.get(req)
  if (state === undefined)
    throw new Error('ongoing: req.ongoing is not set; add requireAccessToken(access) before this route')
  return state
}
