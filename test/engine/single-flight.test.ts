// Issue 17, item 5: a forced refresh (and `fetch`'s refresh after a 401) joined a plain read that
// was already in flight, and so got back the very token it meant to replace.
import { MemoryTokenStore } from '@ongoing/core'
import { describe, expect, it } from 'vitest'
import {
  API,
  accessThrough,
  deferred,
  expectOneCleanRefresh,
  hookedStore,
  settle,
  useStrictServer,
} from './support.js'

/** A store whose next read, once armed, waits until released. */
function storeWithHeldRead(inner: MemoryTokenStore) {
  let hold: Promise<void> | undefined
  const control = {
    arm() {
      const gate = deferred()
      hold = gate.promise
      return gate.resolve
    },
  }
  const store = hookedStore(inner, {
    get: async (_key, read) => {
      const waitFor = hold
      hold = undefined
      if (waitFor !== undefined) await waitFor
      return read()
    },
  })
  return { store, control }
}

describe('engine: forced refreshes and the single flight (real server, strict rotation)', () => {
  const server = useStrictServer({ accessTokenTTLSeconds: 60 })

  it('regression (issue 17, item 5): getAccessToken with forceRefresh started during a plain read refreshes instead of joining it', async () => {
    const inner = new MemoryTokenStore()
    const { gateway, token: consented } = await server.consented('force-joins', { store: inner })
    // Another instance, cold cache: its plain read goes to the (slow) store.
    const { store, control } = storeWithHeldRead(inner)
    const access = accessThrough(gateway, { store })
    await access.metadata()
    server.as.resetStats()

    const release = control.arm()
    const plain = settle(access.getAccessToken('force-joins'))
    const forced = settle(access.getAccessToken('force-joins', { forceRefresh: true }))
    setTimeout(release, 50)
    const [p, f] = await Promise.all([plain, forced])

    expect(p).toEqual({ value: expect.objectContaining({ refreshed: false }) })
    expect('value' in f && f.value.refreshed).toBe(true)
    expect('value' in f && f.value.value === consented.value, 'forced refresh got the old token').toBe(false)
    expectOneCleanRefresh(server.as)
  })

  it('regression (issue 17, item 5): fetch’s refresh after a 401 does not join a plain read in flight and retries with a new token', async () => {
    const inner = new MemoryTokenStore()
    const { gateway, token: consented } = await server.consented('fetch-joins', { store: inner })
    // No process-local cache: every plain call reads the store.
    const { store, control } = storeWithHeldRead(inner)
    const access = accessThrough(gateway, { store, cacheMaxEntries: 0 })
    await access.metadata()
    server.as.resetStats()

    const sent: string[] = []
    let plainRead: Promise<unknown> | undefined
    gateway.api = (request) => {
      const bearer = request.headers.get('authorization')?.replace(/^Bearer /, '') ?? ''
      sent.push(bearer)
      if (bearer !== consented.value) return Response.json({ ok: true })
      // The resource server rejects the token; just then, another request of this user starts a
      // plain read, still in flight when `fetch` asks for a refresh.
      if (plainRead === undefined) {
        const release = control.arm()
        plainRead = settle(access.getAccessToken('fetch-joins'))
        setTimeout(release, 50)
      }
      return new Response(null, {
        status: 401,
        headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
      })
    }

    const response = await access.fetch('fetch-joins', `${API}/me`)
    await plainRead

    expect(sent).toHaveLength(2)
    expect(sent[1] === sent[0], 'the retry carried the rejected token').toBe(false)
    expect(response.status).toBe(200)
    expectOneCleanRefresh(server.as)
  })
})
