import type { OngoingRequestState } from '@ongoing/core'

/**
 * The caller's fresh access token, as {@link requireAccessToken} left it in `ctx.state.ongoing`:
 * `{ accessToken, expiresAt, userKey }`, without a `!`, or an error naming the fix when the
 * middleware did not run. For handlers whose type does not show the middleware ran (one mounted
 * with `app.use` before a router, one written apart from its route).
 *
 * @param ctx - The Koa context (any state type), after `requireAccessToken(access)`.
 * @returns `ctx.state.ongoing`.
 * @throws {Error} when `requireAccessToken` did not run for this request (a programming error:
 *   Koa answers 500). The message names the fix and holds nothing from the request.
 * @example
 * ```ts
 * app.use(requireAccessToken(access)) // every route below needs a token
 * app.use(router.routes())
 * router.get('/library', async (ctx) => {
 *   const { accessToken } = getOngoing(ctx)
 *   const api = await fetch(url, { headers: { authorization: `Bearer ${accessToken}` } })
 *   ctx.body = await api.json()
 * })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-2.1 (send it as a bearer token)
 */
export function getOngoing(ctx: { readonly state: object }): OngoingRequestState {
  const state = (ctx.state as { ongoing?: OngoingRequestState }).ongoing
  if (state === undefined)
    throw new Error('ongoing: ctx.state.ongoing is not set; add requireAccessToken(access) before this route')
  return state
}
