import { startTestAuthorizationServer, type TestAuthorizationServer } from '@ongoing/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { accessFor, consentAs } from './real-as.js'
import { startTestAPI } from './test-api.js'

describe('access.fetch', () => {
  let as: TestAuthorizationServer
  let api: Awaited<ReturnType<typeof startTestAPI>>

  beforeAll(async () => {
    as = await startTestAuthorizationServer({ accessTokenTTLSeconds: 60 })
    api = await startTestAPI()
  })
  afterAll(async () => {
    await api?.close()
    await as?.close()
  })

  it('sends the bearer token; on 401 invalid_token refreshes once and retries once, body included', async () => {
    const access = accessFor(as)
    const { token } = await consentAs(access, 'ivy')
    api.rejected.add(token.value)
    as.resetStats()
    const response = await access.fetch('ivy', `${api.url}/data`, { method: 'POST', body: 'payload' })
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ ok: true, body: 'payload' })
    expect(as.stats().tokenCalls.refresh_token).toBe(1)
    expect(api.calls.at(-2)?.token).toBe(token.value)
    expect(api.calls.at(-1)?.token).not.toBe(token.value)
  })

  it('never loops: a second 401 is returned as is', async () => {
    const access = accessFor(as)
    await consentAs(access, 'jack')
    as.resetStats()
    const before = api.calls.length
    const response = await access.fetch('jack', `${api.url}/always-401`)
    expect(response.status).toBe(401)
    expect(api.calls.length - before).toBe(2)
    expect(as.stats().tokenCalls.refresh_token).toBe(1)
  })

  it('concurrent 401s for the same token share one refresh', async () => {
    const access = accessFor(as)
    const { token } = await consentAs(access, 'liam')
    api.rejected.add(token.value)
    as.resetStats()
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => access.fetch('liam', `${api.url}/x`)),
    )
    expect(responses.every((r) => r.status === 200)).toBe(true)
    expect(as.stats().tokenCalls.refresh_token).toBe(1)
  })
})
