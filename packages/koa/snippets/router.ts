// The full form of the README's `@koa/router` example: the server of the first example with the
// protected route on a router, and a `listHistory` that calls the API with the token. test/snippets
// serves it (ISSUER, CLIENT_ID, CLIENT_SECRET, ONGOING_SECRET, API_URL and PORT from the
// environment), consents through /auth and then reads /history.
import Router from '@koa/router'
import { OngoingAccess } from '@ongoing/core'
import { ongoingRouter } from '@ongoing/koa'
import Koa from 'koa'

const port = Number(process.env.PORT ?? 3000)
const access = new OngoingAccess({
  issuer: process.env.ISSUER!,
  client: { id: process.env.CLIENT_ID!, secret: process.env.CLIENT_SECRET! },
  redirectUri: `http://localhost:${port}/auth/callback`,
  scope: 'offline_access api:read',
  secret: process.env.ONGOING_SECRET!,
})
const router = new Router()
async function listHistory(accessToken: string) {
  const api = await fetch(`${process.env.API_URL}/me/history`, {
    headers: { authorization: `Bearer ${accessToken}` },
  })
  if (!api.ok) throw new Error(`the API answered ${api.status}`)
  return api.json()
}

import { requireAccessToken } from '@ongoing/koa'

router.get('/history', requireAccessToken(access), async (ctx) => {
  const { accessToken } = ctx.state.ongoing // no `!`: typed through requireAccessToken
  ctx.body = await listHistory(accessToken)
})

const app = new Koa()
app.use(ongoingRouter(access))
app.use(router.routes())
app.listen(port, () => console.log(`listening on http://localhost:${port}`))
