import { OngoingAccess, type OngoingAccessOptions } from '@ongoing/core'
import { startTestAuthorizationServer, type TestAuthorizationServer } from '@ongoing/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { APP_SECRET, accessFor, consentAs, REDIRECT_URI } from './real-as.js'

const base = {
  issuer: 'https://as.example.com',
  redirectUri: REDIRECT_URI,
  scope: 'offline_access',
  secret: APP_SECRET,
}

/** The TypeError a `client` option throws at construction (fails when it does not throw). */
function constructionError(client: unknown): TypeError {
  try {
    new OngoingAccess({ ...base, client } as OngoingAccessOptions)
  } catch (error) {
    expect(error).toBeInstanceOf(TypeError)
    return error as TypeError
  }
  throw new Error('the client option was accepted')
}

describe('regression (issue 18): a misconfigured client fails loudly at construction', () => {
  let as: TestAuthorizationServer
  beforeAll(async () => {
    as = await startTestAuthorizationServer()
  })
  afterAll(async () => {
    await as?.close()
  })

  it('regression (issue 18): `{ id, secret: undefined }` (an unset environment variable) throws naming client.secret', () => {
    const error = constructionError({ id: 'app', secret: undefined })
    expect(error.message).toContain('`client.secret` is undefined')
    expect(error.message).toContain("authMethod: 'none'")
  })

  it('regression (issue 18): `{ id, privateKey: undefined }` throws naming client.privateKey', () => {
    expect(constructionError({ id: 'app', privateKey: undefined }).message).toContain(
      '`client.privateKey` is undefined',
    )
  })

  it('regression (issue 18): `{ id }` alone throws, telling how to declare a public client', () => {
    const error = constructionError({ id: 'app' })
    expect(error.message).toContain('`client` has no credentials')
    expect(error.message).toContain("client: { id, authMethod: 'none' }")
  })

  it('regression (issue 18): a wrong secret is never quoted in the error', () => {
    const secret = 'a-client-secret-that-must-not-show'
    const error = constructionError({ id: 'app', secret, authMethod: 'private_key_jwt' })
    expect(error.message).not.toContain(secret)
  })

  it("regression (issue 18): `{ id, authMethod: 'none' }` consents and refreshes against the real server's public client", async () => {
    expect(as.clients.public).toEqual({ id: as.clients.public.id, authMethod: 'none' })
    const access = accessFor(as, { client: { id: as.clients.public.id, authMethod: 'none' } })
    await consentAs(access, 'public-user')
    as.resetStats()
    const token = await access.getAccessToken('public-user', { forceRefresh: true })
    expect(token.refreshed).toBe(true)
    expect(as.stats().tokenCalls.refresh_token).toBe(1)
  })
})
