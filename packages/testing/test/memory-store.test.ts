import { errors } from 'oidc-provider'
import { describe, expect, it, vi } from 'vitest'
import { MemoryStore } from '../src/memory-store.js'

describe('MemoryStore', () => {
  it('consumes a refresh token once; a second consume fails and revokes the grant', async () => {
    const onGrantRevoked = vi.fn()
    const store = new MemoryStore(onGrantRevoked)
    const refreshTokens = store.adapterFactory('RefreshToken')
    const accessTokens = store.adapterFactory('AccessToken')
    const grants = store.adapterFactory('Grant')
    await grants.upsert('g1', { accountId: 'alice' }, 3600)
    await refreshTokens.upsert('rt1', { grantId: 'g1' }, 3600)
    await accessTokens.upsert('at1', { grantId: 'g1' }, 60)

    await refreshTokens.consume('rt1')
    expect((await refreshTokens.find('rt1'))?.consumed).toEqual(expect.any(Number))

    const second = refreshTokens.consume('rt1')
    await expect(second).rejects.toBeInstanceOf(errors.InvalidGrant)
    await expect(second).rejects.toMatchObject({ error_detail: 'refresh token already used' })
    expect(onGrantRevoked).toHaveBeenCalledExactlyOnceWith('g1')
    expect(await grants.find('g1')).toBeUndefined()
    expect(await accessTokens.find('at1')).toBeUndefined()
    expect(await refreshTokens.find('rt1')).toBeUndefined()
  })

  it('lists and revokes the grants of one account only', async () => {
    const store = new MemoryStore(() => {})
    const grants = store.adapterFactory('Grant')
    const codes = store.adapterFactory('AuthorizationCode')
    await grants.upsert('a1', { accountId: 'alice' }, 3600)
    await grants.upsert('a2', { accountId: 'alice' }, 3600)
    await grants.upsert('b1', { accountId: 'bob' }, 3600)
    await codes.upsert('c1', { grantId: 'b1' }, 60)

    expect(store.grantIdsOf('alice').sort()).toEqual(['a1', 'a2'])
    store.revokeGrant('b1')
    expect(store.grantIdsOf('bob')).toEqual([])
    expect(await codes.find('c1')).toBeUndefined()
    expect(store.grantIdsOf('alice')).toHaveLength(2)
  })

  it('returns copies, so callers cannot change what is stored', async () => {
    const sessions = new MemoryStore(() => {}).adapterFactory('Session')
    await sessions.upsert('s1', { uid: 'u1', accountId: 'alice' })
    const found = await sessions.findByUid('u1')
    found!.accountId = 'mallory'
    expect((await sessions.find('s1'))?.accountId).toBe('alice')
  })

  it('forgets entries once their lifetime (plus a grace period) has passed', async () => {
    vi.useFakeTimers()
    try {
      const tokens = new MemoryStore(() => {}).adapterFactory('AccessToken')
      await tokens.upsert('at1', { grantId: 'g1' }, 1)
      vi.advanceTimersByTime(1_000)
      expect(await tokens.find('at1')).toBeDefined()
      vi.advanceTimersByTime(60_000)
      expect(await tokens.find('at1')).toBeUndefined()
    } finally {
      vi.useRealTimers()
    }
  })
})
