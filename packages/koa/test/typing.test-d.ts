// Type-level tests of `ctx.state.ongoing`, checked by `pnpm typecheck` (tsc), not run: each
// `@ts-expect-error` must meet an error, or tsc fails on it.
import { Router } from '@koa/router'
import type { OngoingAccess } from '@ongoing/core'
import Koa, { type Middleware } from 'koa'
import { getOngoing, type OngoingRequestState, type OngoingState, requireAccessToken } from '../src/index.js'

export function routes(access: OngoingAccess): Koa {
  const router = new Router()

  // A route that forgot requireAccessToken does not compile when it reads the token.
  router.get('/forgot', (ctx) => {
    // @ts-expect-error: ctx.state.ongoing is possibly undefined
    ctx.body = ctx.state.ongoing.accessToken
  })
  router.get('/maybe', (ctx) => {
    const state: OngoingRequestState | undefined = ctx.state.ongoing
    ctx.body = state ?? null
  })

  // Behind requireAccessToken on the route, the handler sees it set: no `!`.
  router.get('/library/:id', requireAccessToken(access), (ctx) => {
    const { accessToken, expiresAt, userKey }: OngoingRequestState = ctx.state.ongoing
    ctx.body = { accessToken, expiresAt, userKey, id: ctx.params.id }
  })
  router.post(
    'named',
    '/named',
    requireAccessToken(access, { userKey: () => 'alice' }),
    async (ctx, next) => {
      ctx.body = ctx.state.ongoing.userKey
      await next()
    },
  )
  const withUser = new Router<{ user: string }>()
  withUser.get('/mine', requireAccessToken(access), (ctx) => {
    ctx.body = `${ctx.state.user} ${ctx.state.ongoing.accessToken}`
  })
  // A handler written apart from its route declares the state it needs.
  const library: Middleware<OngoingState> = (ctx) => {
    ctx.body = ctx.state.ongoing.accessToken
  }
  router.get('/apart', requireAccessToken(access), library)

  const app = new Koa()
  // @ts-expect-error: ctx.state.ongoing is possibly undefined
  app.use((ctx) => ctx.state.ongoing.accessToken)
  new Koa().use(requireAccessToken(access)).use((ctx) => {
    const state: OngoingRequestState = ctx.state.ongoing
    ctx.body = state
  })

  // Still any Koa middleware: annotated, in arrays, called by hand.
  const protect: Middleware = requireAccessToken(access)
  const stack: Middleware[] = [protect, requireAccessToken(access)]
  for (const middleware of stack) app.use(middleware)
  app.use(router.routes()).use(withUser.routes())
  app.use(async (ctx, next) => {
    if (ctx.path !== '/history') return next()
    await protect(ctx, async () => {
      // getOngoing(ctx): the state, without a `!`, wherever the types do not show the middleware ran.
      ctx.body = getOngoing(ctx).accessToken
    })
  })
  return app
}
