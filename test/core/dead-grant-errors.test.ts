import {
  ConsentRequiredError,
  MemoryTokenStore,
  OngoingAccess,
  OngoingAccessError,
  type OngoingAccessEvents,
} from '@ongoing/core'
import { TokenSwapService } from '@ongoing/core/adapter'
import {
  authorizeAsNativeApp,
  startTestAuthorizationServer,
  type TestAuthorizationServer,
} from '@ongoing/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { accessFor, consentAs, REDIRECT_URI } from './real-as.js'

// Servers that answer a revoked or expired refresh token with another error than invalid_grant.
describe.each(['invalid_request', 'unauthorized_client'] as const)(
  'a server that answers a dead refresh token with %s',
  (mislabel) => {
    let as: TestAuthorizationServer

    beforeAll(async () => {
      as = await startTestAuthorizationServer({ deadRefreshTokenError: mislabel })
    })
    afterAll(async () => {
      await as?.close()
    })

    function setUp(options: { deadGrantErrors?: string[] } = {}) {
      const store = new MemoryTokenStore()
      const access = accessFor(as, { store, ...options, logger: false })
      const events = {
        consentRequired: [] as OngoingAccessEvents['consentRequired'][0][],
        refreshError: [] as OngoingAccessEvents['refreshError'][0][],
      }
      access.on('consentRequired', (event) => void events.consentRequired.push(event))
      access.on('refreshError', (event) => void events.refreshError.push(event))
      return { store, access, events }
    }

    it('refreshes a live grant as usual (the server is otherwise standard)', async () => {
      const { access } = setUp({ deadGrantErrors: [mislabel] })
      await consentAs(access, `live-${mislabel}`)
      as.resetStats()
      const token = await access.getAccessToken(`live-${mislabel}`, { forceRefresh: true })
      expect(token.refreshed).toBe(true)
      expect(as.stats().tokenCalls.refresh_token).toBe(1)
      access.close()
    })

    it(`regression (issue 18): by default ${mislabel} is a failed refresh, not a dead grant, and its error names what it saw and the option`, async () => {
      const userKey = `default-${mislabel}`
      const { store, access, events } = setUp()
      await consentAs(access, userKey)
      await as.revokeGrantsOf(userKey)
      as.resetStats()
      const error = await access.getAccessToken(userKey, { forceRefresh: true }).catch((err: unknown) => err)
      expect(error).toBeInstanceOf(OngoingAccessError)
      expect(error).not.toBeInstanceOf(ConsentRequiredError)
      const { code, status, oauthError, message } = error as OngoingAccessError
      expect({ code, status, oauthError }).toEqual({
        code: 'ERR_TOKEN_ENDPOINT',
        status: 400,
        oauthError: mislabel,
      })
      expect(message).toBe(
        `Token endpoint answered with an error: ${mislabel} (status 400). Only invalid_grant is taken to mean that the grant is dead; if this server answers an expired or revoked refresh token with ${mislabel}, add "${mislabel}" to the \`deadGrantErrors\` option`,
      )
      // One call: a 400 is not retried. The grant is kept (with its failure), and nobody is sent to consent.
      expect(as.stats().tokenCalls.refresh_token).toBe(1)
      expect(store.size).toBe(1)
      expect(events.consentRequired).toEqual([])
      expect(events.refreshError).toHaveLength(1)
      access.close()
    })

    it(`regression (issue 18): with deadGrantErrors: ['${mislabel}'] the grant is dead: its record says why, consentRequired, a typed error naming the answer`, async () => {
      const userKey = `listed-${mislabel}`
      const { store, access, events } = setUp({ deadGrantErrors: [mislabel] })
      await consentAs(access, userKey)
      await as.revokeGrantsOf(userKey)
      as.resetStats()
      const error = await access.getAccessToken(userKey, { forceRefresh: true }).catch((err: unknown) => err)
      expect(error).toBeInstanceOf(ConsentRequiredError)
      const { code, reason, status, oauthError, message } = error as ConsentRequiredError
      expect({ code, reason, status, oauthError }).toEqual({
        code: 'ERR_CONSENT_REQUIRED',
        reason: 'invalid_grant',
        status: 400,
        oauthError: mislabel,
      })
      expect(message).toBe(
        `Consent required: the refresh token expired or was revoked (the authorization server answered ${mislabel}, listed in \`deadGrantErrors\`)`,
      )
      expect(as.stats().tokenCalls.refresh_token).toBe(1)
      // The grant's record is replaced by the record of its death (issue 20): no tokens, the reason.
      expect(store.size).toBe(1)
      expect(await access.inspect(userKey)).toMatchObject({
        status: 'consent_required',
        consentRequired: { reason: 'invalid_grant', oauthError: mislabel, status: 400 },
      })
      expect(events.consentRequired).toEqual([{ userKey, reason: 'invalid_grant' }])
      // The next call needs no token call to know, and says the same.
      await expect(access.getAccessToken(userKey)).rejects.toMatchObject({
        reason: 'invalid_grant',
        oauthError: mislabel,
        message,
      })
      expect(as.stats().tokenCalls.refresh_token).toBe(1)
      access.close()
    })

    it(`regression (issue 18): the token swap service answers a listed ${mislabel} as invalid_grant, which mobile SDKs understand`, async () => {
      const access = accessFor(as, { deadGrantErrors: [mislabel], logger: false })
      const swap = new TokenSwapService(access, {
        redirectUris: ['http://127.0.0.1:7777/callback'],
        rateLimit: false,
      })
      const login = `mobile-${mislabel}`
      const { code, codeVerifier } = await authorizeAsNativeApp(as.issuer, {
        clientId: as.clients.confidential.id,
        redirectUri: 'http://127.0.0.1:7777/callback',
        login,
      })
      const form = (fields: Record<string, string>) => ({
        contentType: 'application/x-www-form-urlencoded',
        body: new URLSearchParams(fields).toString(),
        clientAddress: '127.0.0.1',
      })
      const swapped = await swap.swap(form({ code, code_verifier: codeVerifier }))
      const handle = (swapped.json as { refresh_token: string }).refresh_token
      await as.revokeGrantsOf(login)
      const refreshed = await swap.refresh(form({ refresh_token: handle }))
      expect(refreshed.status).toBe(400)
      expect(refreshed.json).toEqual({
        error: 'invalid_grant',
        error_description: 'The refresh token expired or was revoked',
      })
      // Without the option, the server's own answer passes through.
      const plain = new TokenSwapService(accessFor(as, { logger: false }), {
        redirectUris: ['http://127.0.0.1:7777/callback'],
        rateLimit: false,
      })
      expect((await plain.refresh(form({ refresh_token: handle }))).json).toMatchObject({ error: mislabel })
      access.close()
    })
  },
)

describe('the deadGrantErrors option', () => {
  const base = {
    issuer: 'http://127.0.0.1:1',
    client: { id: 'client', secret: 'secret' },
    redirectUri: REDIRECT_URI,
    scope: 'api:read',
    secret: 'ongoing-tests-secret-ongoing-tests-secret',
  }

  it.each([['invalid_client'], ['server_error'], ['temporarily_unavailable']])(
    'refuses %s, which would forget every grant at once',
    (code) => {
      expect(() => new OngoingAccess({ ...base, deadGrantErrors: [code] })).toThrow(
        new TypeError(
          `ongoing: \`deadGrantErrors\` may not hold "${code}": it says nothing about one grant, and taking it for a dead grant would forget every user's grant at once`,
        ),
      )
    },
  )

  it('refuses what is not a list of OAuth error codes', () => {
    expect(() => new OngoingAccess({ ...base, deadGrantErrors: 'invalid_request' as never })).toThrow(
      new TypeError('ongoing: `deadGrantErrors` must be an array of OAuth error codes'),
    )
    expect(() => new OngoingAccess({ ...base, deadGrantErrors: ['bad"quote'] })).toThrow(
      /not an OAuth error code \(RFC 6749 section 5\.2\)/,
    )
    expect(() => new OngoingAccess({ ...base, deadGrantErrors: [''] })).toThrow(TypeError)
  })
})
