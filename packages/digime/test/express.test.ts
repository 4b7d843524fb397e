// The digi.me profile behind the Express adapter, through real HTTP: consent through the router's
// routes, data through req.ongoing.fetch, and a dead grant sent back to consent (browser) or
// answered 401 (JSON).
import { getOngoing, ongoingRouter, requireAccessToken } from '@ongoing/express'
import { type DigiMeServer, driveDigiMeConsent, startDigiMeServer } from '@ongoing/testing'
import express from 'express'
import request from 'supertest'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { consent, createAccess, Recorder, statsDelta, triggerInit } from './support.js'

describe('digi.me behind @ongoing/express, over HTTP', () => {
  let server: DigiMeServer
  const recorder = new Recorder()

  beforeAll(async () => {
    server = await startDigiMeServer({ accessTokenTTLSeconds: 600 })
  })
  afterAll(async () => {
    expect(server.stats().duplicateNonces).toBe(0)
    expect(server.stats().unverifiedJwts).toBe(0)
    await server.close()
  })

  /** An app with the router under /auth and a page that reads the user's digi.me data. */
  function appOf(access: ReturnType<typeof createAccess>['access'], userKey?: () => string) {
    const app = express()
    const options = userKey === undefined ? {} : { userKey }
    app.use('/auth', ongoingRouter(access, options))
    app.get('/library', requireAccessToken(access, options), async (req, res, next) => {
      try {
        const trigger = await getOngoing(req).fetch(
          new URL('permission-access/trigger', server.baseUrl),
          triggerInit(),
        )
        res.json({ trigger: trigger.status })
      } catch (err) {
        next(err)
      }
    })
    return app
  }

  it('consent through /auth/consent and /auth/callback, then data through req.ongoing.fetch', async () => {
    const { access } = createAccess(server, { recorder })
    const agent = request.agent(appOf(access))
    const before = server.stats()
    const start = await agent.get('/auth/consent?returnTo=/library').set('Accept', 'text/html')
    expect(start.status).toBe(302)
    const consentUrl = new URL(start.headers.location as string)
    expect(consentUrl.href.startsWith(`${server.consentUrl}authorize?code=`)).toBe(true)
    const callback = await driveDigiMeConsent(consentUrl, { userId: 'xavier' })
    expect(callback.pathname).toBe('/auth/callback')
    const back = await agent.get(callback.pathname + callback.search).set('Accept', 'text/html')
    expect(back.status).toBe(303)
    expect(back.headers.location).toBe('/library')
    const page = await agent.get('/library').set('Accept', 'application/json')
    expect(page.status).toBe(200)
    expect(page.body).toEqual({ trigger: 202 })
    expect(statsDelta(before, server.stats())).toMatchObject({
      preAuthorizations: 1,
      tokenCalls: { authorization_code: 1, refresh_token: 0 },
      dataCalls: { trigger: 1 },
    })
  })

  describe('a dead refresh token', () => {
    /** A grant whose access token expired here and whose refresh token digi.me revoked. */
    async function deadGrant(userKey: string) {
      const { access } = createAccess(server, { recorder })
      await consent(access, recorder, userKey, { userId: userKey })
      const tokens = recorder.lastTokens()
      await access.restore(userKey, {
        accessToken: tokens.access,
        refreshToken: tokens.refresh,
        expiresAt: Date.now() - 1_000,
        refreshExpiresAt: tokens.refreshExpiresOn * 1000,
      })
      await server.revokeGrantsOf(userKey)
      return access
    }

    it('a browser navigation is sent to consent, after one token call; then no more token calls', async () => {
      const access = await deadGrant('yvonne')
      const app = appOf(access, () => 'yvonne')
      const before = server.stats()
      const page = await request(app)
        .get('/library?view=genres')
        .set('Accept', 'text/html,application/xhtml+xml')
        .set('Sec-Fetch-Mode', 'navigate')
      expect(page.status).toBe(302)
      expect(page.headers.location).toBe(
        `/auth/consent?${new URLSearchParams({ returnTo: '/library?view=genres' })}`,
      )
      const json = await request(app).get('/library').set('Accept', 'application/json')
      expect(json.status).toBe(401)
      expect(json.body).toMatchObject({ error: 'consent_required', reason: 'invalid_grant' })
      expect(statsDelta(before, server.stats()).tokenCalls).toEqual({
        authorization_code: 0,
        refresh_token: 1,
        total: 1,
      })
    })

    it('a JSON request gets 401 with WWW-Authenticate and the consent URL, after one token call', async () => {
      const access = await deadGrant('zoe')
      const app = appOf(access, () => 'zoe')
      const before = server.stats()
      const json = await request(app).get('/library').set('Accept', 'application/json')
      expect(json.status).toBe(401)
      expect(json.headers['www-authenticate']).toMatch(/^Bearer error="invalid_token"/)
      expect(json.body).toEqual({
        error: 'consent_required',
        reason: 'invalid_grant',
        consentUrl: `/auth/consent?${new URLSearchParams({ returnTo: '/library' })}`,
      })
      expect(JSON.stringify(json.body)).not.toMatch(/InvalidToken/)
      expect(statsDelta(before, server.stats()).tokenCalls.total).toBe(1)
    })
  })
})
