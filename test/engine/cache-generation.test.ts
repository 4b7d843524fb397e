// Issue 17, item 7: a store read that started before a change notification (or a local revoke)
// put what it read into the process-local cache after the change, so a superseded or revoked
// token was served from then on.
import { ConsentRequiredError, MemoryTokenStore, type TokenStoreEntry } from '@ongoing/core'
import { startTestAuthorizationServer, type TestAuthorizationServer } from '@ongoing/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { accessThrough, consentAs, deferred, Gateway, hookedStore, settle } from './support.js'

/** A store whose next read, once armed, reads at once but answers only when released. */
function storeWithLateAnswer(inner: MemoryTokenStore) {
  let hold: { read: () => void; answer: Promise<void> } | undefined
  const control = {
    /** Arms the next read; resolves when that read has taken its value. */
    arm() {
      const taken = deferred()
      const gate = deferred()
      hold = { read: taken.resolve, answer: gate.promise }
      return { taken: taken.promise, release: gate.resolve }
    },
  }
  const store = hookedStore(inner, {
    get: async (_key, read) => {
      const held = hold
      hold = undefined
      const entry: TokenStoreEntry | undefined = await read()
      if (held !== undefined) {
        held.read()
        await held.answer
      }
      return entry
    },
  })
  return { store, control }
}

describe('engine: the process-local cache and changes made meanwhile (real server)', () => {
  let as: TestAuthorizationServer

  beforeAll(async () => {
    as = await startTestAuthorizationServer({ accessTokenTTLSeconds: 60 })
  })
  afterAll(async () => {
    await as?.close()
  })

  it('regression (issue 17, item 7): a read started before a change notification does not cache the superseded grant', async () => {
    const gateway = new Gateway(as)
    const inner = new MemoryTokenStore()
    const writer = accessThrough(gateway, { store: inner })
    const { token: old } = await consentAs(writer, 'superseded')
    const { store, control } = storeWithLateAnswer(inner)
    const reader = accessThrough(gateway, { store })

    const { taken, release } = control.arm()
    const reading = settle(reader.getAccessToken('superseded'))
    await taken // the reader holds the old grant
    const fresh = await writer.getAccessToken('superseded', { forceRefresh: true }) // notifies the reader
    release()
    await reading

    expect(
      reader.getCachedAccessToken('superseded')?.value === old.value,
      'cached the superseded token',
    ).toBe(false)
    const served = await reader.getAccessToken('superseded')
    expect(served.value === fresh.value, 'served the grant written after the change').toBe(true)
  })

  it('regression (issue 17, item 7): a read in flight during revoke does not leave the revoked token cached', async () => {
    const gateway = new Gateway(as)
    const inner = new MemoryTokenStore()
    const { store, control } = storeWithLateAnswer(inner)
    const access = accessThrough(gateway, { store })
    await consentAs(access, 'revoked-meanwhile')
    // A second instance on the same store: its cache is empty, so its read goes to the store.
    const reader = accessThrough(gateway, { store })

    const { taken, release } = control.arm()
    const reading = settle(reader.getAccessToken('revoked-meanwhile'))
    await taken
    expect(await reader.revoke('revoked-meanwhile')).toEqual({ revokedAtServer: true })
    release()
    await reading

    expect(reader.getCachedAccessToken('revoked-meanwhile'), 'the revoked token is cached').toBeUndefined()
    const after = await settle(reader.getAccessToken('revoked-meanwhile'))
    expect('error' in after && after.error).toBeInstanceOf(ConsentRequiredError)
    expect('error' in after && after.error).toMatchObject({ reason: 'no_grant' })
  })
})
