import { describe, expect, it } from 'vitest'
import { MemoryTokenStore } from '../src/index.js'

describe('MemoryTokenStore bounds', () => {
  it('keeps at most maxEntries grants, dropping the least recently written', async () => {
    const store = new MemoryTokenStore({ maxEntries: 3 })
    for (const key of ['a', 'b', 'c']) await store.set(key, key, { expectedVersion: 0 })
    await store.set('a', 'a2', { expectedVersion: 1 }) // a is now the most recent
    await store.set('d', 'd', { expectedVersion: 0 })
    expect(store.size).toBe(3)
    expect(await store.get('b')).toBeUndefined()
    expect((await store.get('a'))?.value).toBe('a2')
  })

  it('keeps the single-use register bounded under a flood of live claims', async () => {
    const store = new MemoryTokenStore({ maxEntries: 100 })
    for (let i = 0; i < 1_000; i++) expect(await store.claimOnce(`tx-${i}`, 60_000)).toBe(true)
    expect(await store.claimOnce('tx-999', 60_000)).toBe(false)
    expect((store as unknown as { size: number }).size).toBe(0)
  })

  it('rejects a bad maxEntries', () => {
    expect(() => new MemoryTokenStore({ maxEntries: 0 })).toThrow(TypeError)
  })
})
