// Issue 17, item 7: a store read that started before a change notification (or a local revoke)
// put what it read into the process-local cache after the change, so a superseded or revoked
// token was served from then on.
import { ConsentRequiredError, MemoryTokenStore, type TokenStoreEntry } from '@ongoing/core'
import { describe, expect, it } from 'vitest'
import { accessThrough, deferred, hookedStore, settle, useStrictServer } from './support.js'

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
  const server = useStrictServer({ accessTokenTTLSeconds: 60 })

  it('regression (issue 17, item 7): a read started before a change notification does not cache the superseded grant', async () => {
    const inner = new MemoryTokenStore()
    const { gateway, access: writer, token: old } = await server.consented('superseded', { store: inner })
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
    const { store, control } = storeWithLateAnswer(new MemoryTokenStore())
    const { gateway } = await server.consented('revoked-meanwhile', { store })
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
