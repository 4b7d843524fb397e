// Type-level tests of `req.ongoing`, checked by `pnpm typecheck` (tsc), not run: each
// `@ts-expect-error` must meet an error, or tsc fails on it.
import type { OngoingAccess } from '@ongoing/core'
import express, { type Request, type Response } from 'express'
import { getOngoing, type OngoingRequestState, requireAccessToken } from '../src/index.js'

export function routes(access: OngoingAccess): express.Express {
  const app = express()

  // A route that forgot requireAccessToken does not compile when it reads the token.
  app.get('/forgot', (req, res) => {
    // @ts-expect-error: req.ongoing is possibly undefined
    res.send(req.ongoing.accessToken)
  })
  app.get('/forgot-too', (req, res) => {
    // @ts-expect-error: req.ongoing is OngoingRequestState | undefined
    const state: OngoingRequestState = req.ongoing
    res.json(state)
  })
  app.get('/maybe', (req, res) => {
    const state: OngoingRequestState | undefined = req.ongoing
    res.json(state ?? null)
  })

  // getOngoing(req): the state, without a `!`, on requests of any route's type.
  app.get('/users/:id', requireAccessToken(access), (req, res) => {
    const { accessToken, expiresAt, userKey }: OngoingRequestState = getOngoing(req)
    res.json({ accessToken, expiresAt, userKey, id: req.params.id })
  })
  app.post(
    '/typed',
    requireAccessToken(access),
    (req: Request<{ id: string }, { ok: boolean }, { name: string }>, res: Response<{ ok: boolean }>) => {
      res.json({ ok: getOngoing(req).accessToken.length > 0 && req.body.name !== '' })
    },
  )
  app.get(
    '/locals/:id',
    requireAccessToken(access),
    (
      req: Request<{ id: string }, string, unknown, Record<string, string>, { user: string }>,
      res: Response<string, { user: string }>,
    ) => {
      res.send(`${getOngoing(req).userKey} ${res.locals.user} ${req.params.id} ${req.query.q}`)
    },
  )
  const router = express.Router()
  router.get('/a/:b', requireAccessToken(access), async (req, res) => {
    res.send(getOngoing(req).accessToken)
  })
  app.use(router)

  // Express gives every handler of a route the same request type: a handler asking for a narrower
  // one is refused (strictFunctionTypes), which is why the accessor is a function, not a type.
  app.get(
    '/narrow',
    requireAccessToken(access),
    // @ts-expect-error: not assignable to RequestHandler
    (req: Request & { ongoing: OngoingRequestState }, res: Response) => {
      res.send(req.ongoing.accessToken)
    },
  )
  return app
}
