import { describe, expect, it } from 'vitest'
import { MemoryTokenStore } from '../src/index.js'
import { consent, createAccess, createFakeAS, json, tokens } from './fake-as.js'

describe('refresh races', () => {
  it('regression: an invalid_grant never deletes a new grant created meanwhile at the same store version', async () => {
    const fake = createFakeAS()
    const store = new MemoryTokenStore()
    const access = createAccess(fake, { store })
    fake.answer(() => json(tokens({ access_token: 'at-old', refresh_token: 'rt-old', expires_in: 0 })))
    await consent(access)
    fake.answer(async () => {
      // While the dead grant's refresh is in flight: the user is disconnected and consents again.
      await access.revoke('alice')
      await access.restore('alice', { accessToken: 'at-new', refreshToken: 'rt-new', expiresIn: 3600 })
      return json({ error: 'invalid_grant' }, 400)
    })
    const token = await access.getAccessToken('alice')
    expect(token.value).toBe('at-new')
    expect(store.size).toBe(1)
    expect((await access.getAccessToken('alice')).value).toBe('at-new')
  })

  it('a rotation race lost to another writer: the winner’s token is used, not consent', async () => {
    const fake = createFakeAS()
    const store = new MemoryTokenStore()
    const access = createAccess(fake, { store })
    const other = createAccess(fake, { store })
    fake.answer(() => json(tokens({ access_token: 'at-0', refresh_token: 'rt-0', expires_in: 0 })))
    await consent(access)
    fake.answer(async () => {
      // Another instance (its own process memory, same store) refreshed first and saved.
      await other.restore('alice', { accessToken: 'at-winner', refreshToken: 'rt-winner', expiresIn: 3600 })
      return json({ error: 'invalid_grant' }, 400)
    })
    expect((await access.getAccessToken('alice')).value).toBe('at-winner')
  })
})
