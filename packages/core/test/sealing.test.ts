import { describe, expect, it } from 'vitest'
import { Sealer } from '../src/adapter.js'

const A = 'secret-a-secret-a-secret-a-secret-a-0001'
const B = 'secret-b-secret-b-secret-b-secret-b-0002'

describe('Sealer', () => {
  it('round-trips and binds to purpose and associated data', () => {
    const sealer = new Sealer([A])
    const sealed = sealer.seal('token-store', 'hello', 'grant:alice')
    expect(sealed).not.toContain('hello')
    expect(sealer.open('token-store', sealed, 'grant:alice')).toBe('hello')
    expect(sealer.open('token-store', sealed, 'grant:bob')).toBeUndefined()
    expect(sealer.open('transaction', sealed, 'grant:alice')).toBeUndefined()
  })

  it('refuses tampered, truncated and malformed values', () => {
    const sealer = new Sealer([A])
    const sealed = sealer.seal('transaction', 'payload')
    const flipped = sealed.slice(0, 30) + (sealed[30] === 'A' ? 'B' : 'A') + sealed.slice(31)
    expect(sealer.open('transaction', flipped)).toBeUndefined()
    expect(sealer.open('transaction', sealed.slice(0, -4))).toBeUndefined()
    expect(sealer.open('transaction', sealed.slice(0, 10))).toBeUndefined()
    for (const bad of ['', 'not base64!', 42, null, undefined, {}, 'A'.repeat(2_000_000)]) {
      expect(sealer.open('transaction', bad)).toBeUndefined()
    }
  })

  it('rotates keys: the first seals, all open; a retired key no longer opens', () => {
    const old = new Sealer([A]).seal('token-store', 'v', 'k')
    const rotated = new Sealer([B, A])
    expect(rotated.open('token-store', old, 'k')).toBe('v')
    const fresh = rotated.seal('token-store', 'v', 'k')
    expect(new Sealer([B]).open('token-store', fresh, 'k')).toBe('v')
    expect(new Sealer([B]).open('token-store', old, 'k')).toBeUndefined()
  })

  it('tells a value sealed under the current key from one under an older key of the list, per purpose', () => {
    const old = new Sealer([A]).seal('user-key-cookie', 'alice')
    const rotated = new Sealer([B, A])
    const fresh = rotated.seal('user-key-cookie', 'alice')
    expect(rotated.isSealedUnderCurrentKey('user-key-cookie', fresh)).toBe(true)
    expect(rotated.isSealedUnderCurrentKey('user-key-cookie', old)).toBe(false)
    expect(new Sealer([A, B]).isSealedUnderCurrentKey('user-key-cookie', old)).toBe(true)
    // Another purpose has other keys: the same secret's value is not under its current key.
    expect(rotated.isSealedUnderCurrentKey('transaction', fresh)).toBe(false)
    for (const bad of ['', 'AQ', 'not base64!', `B${fresh.slice(1)}`]) {
      expect(rotated.isSealedUnderCurrentKey('user-key-cookie', bad)).toBe(false)
    }
  })

  it('rejects short secrets at construction', () => {
    expect(() => new Sealer(['short'])).toThrow(TypeError)
    expect(() => new Sealer([])).toThrow(TypeError)
  })
})
