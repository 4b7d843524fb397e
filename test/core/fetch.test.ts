import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { startTestAuthorizationServer, type TestAuthorizationServer } from '@ongoing/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { accessFor, consentAs } from './real-as.js'

/** A resource server that rejects every token it was told to reject with 401 invalid_token. */
function startAPI() {
  const rejected = new Set<string>()
  const seen: string[] = []
  const server: Server = createServer((req, res) => {
    const token = req.headers.authorization?.replace(/^Bearer /, '') ?? ''
    seen.push(token)
    if (rejected.has(token) || req.url === '/always-401') {
      res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' }).end()
      return
    }
    let body = ''
    req.on('data', (chunk) => (body += chunk))
    req.on('end', () =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, body })),
    )
  })
  return new Promise<{ url: string; rejected: Set<string>; seen: string[]; close: () => Promise<void> }>(
    (resolve) => {
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as AddressInfo
        resolve({
          url: `http://127.0.0.1:${port}`,
          rejected,
          seen,
          close: () => new Promise((r) => server.close(() => r())),
        })
      })
    },
  )
}

describe('access.fetch', () => {
  let as: TestAuthorizationServer
  let api: Awaited<ReturnType<typeof startAPI>>

  beforeAll(async () => {
    as = await startTestAuthorizationServer({ accessTokenTTLSeconds: 60 })
    api = await startAPI()
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
    expect(api.seen.slice(-2)[0]).toBe(token.value)
    expect(api.seen.at(-1)).not.toBe(token.value)
  })

  it('never loops: a second 401 is returned as is', async () => {
    const access = accessFor(as)
    await consentAs(access, 'jack')
    as.resetStats()
    const before = api.seen.length
    const response = await access.fetch('jack', `${api.url}/always-401`)
    expect(response.status).toBe(401)
    expect(api.seen.length - before).toBe(2)
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
