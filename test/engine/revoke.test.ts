// Issue 17, nit: `revoke` while a refresh of the same grant is in flight read the store before
// the refresh saved, and so revoked the refresh token the server had just rotated away.
import { describe, expect, it } from 'vitest'
import { deferred, introspect, processedThenDelay, settle, useStrictServer } from './support.js'

describe('engine: revoke during a refresh (real server, strict rotation)', () => {
  const server = useStrictServer({ accessTokenTTLSeconds: 60 })

  it('regression (issue 17, nit): revoke while a refresh is in flight revokes the newest refresh token', async () => {
    const { gateway, access } = await server.consented('revoke-in-flight')
    server.expire()
    // The server rotates at once; its answer reaches the client 300 ms later.
    const rotated = deferred()
    gateway.tokenFaults = [processedThenDelay(300, rotated.resolve)]

    const refreshing = settle(access.getAccessToken('revoke-in-flight'))
    await rotated.promise
    const result = await access.revoke('revoke-in-flight')
    await refreshing

    const newest = gateway.tokenAnswers.at(-1)?.refresh_token as string
    expect(result).toEqual({ revokedAtServer: true })
    expect(gateway.revoked.length).toBe(1)
    expect.soft(gateway.revoked[0] === newest, 'revoked the newest refresh token').toBe(true)
    expect(await introspect(server.as, newest)).toBe(false)
    await expect(access.getAccessToken('revoke-in-flight')).rejects.toMatchObject({
      code: 'ERR_CONSENT_REQUIRED',
    })
  })
})
