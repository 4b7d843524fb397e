import { describe, expect, it, vi } from 'vitest'
import { OngoingRoutes, Sealer } from '../src/adapter.js'
import { OngoingAccess } from '../src/index.js'
import { UserKeyCache } from '../src/web/user-key-cache.js'

const SECRET = 'a-test-secret-of-at-least-32-characters!'
const sealer = new Sealer([SECRET])

/** `sealed` with character `at` changed: the same length, another value. */
const withCharAt = (sealed: string, at: number) =>
  `${sealed.slice(0, at)}${sealed[at] === 'A' ? 'B' : 'A'}${sealed.slice(at + 1)}`

describe('UserKeyCache', () => {
  it('finds a cached value only when the whole sealed value matches', () => {
    const cache = new UserKeyCache(10)
    const sealed = sealer.seal('user-key-cookie', 'alice')
    cache.set(sealed, 'alice', undefined)
    // A fresh string of the same characters, as the HTTP parser gives it.
    expect(cache.get(Buffer.from(sealed).toString('latin1'))?.userKey).toBe('alice')
    // The same characters 7 to 11 (what the key hashes), another value: not alice's.
    for (const at of [0, 6, 12, sealed.length - 1])
      expect(cache.get(withCharAt(sealed, at))?.userKey).toBeUndefined()
    expect(cache.get(`${sealed}x`)?.userKey).toBeUndefined()
    expect(cache.get(sealed.slice(0, -1))?.userKey).toBeUndefined()
    // Short values and the empty string are keys like any other, and find nothing.
    for (const junk of ['', 'x', '1234567', 'abcdefghijk']) expect(cache.get(junk)?.userKey).toBeUndefined()
  })

  it('keeps two values that share a key apart: the later replaces the earlier', () => {
    const cache = new UserKeyCache(10)
    const sealed = sealer.seal('user-key-cookie', 'alice')
    const twin = withCharAt(sealed, 30) // same characters 7 to 11, so the same key
    cache.set(sealed, 'alice', undefined)
    cache.set(twin, 'bob', undefined)
    expect(cache.get(twin)?.userKey).toBe('bob')
    expect(cache.get(sealed)?.userKey).toBeUndefined()
    cache.set(sealed, 'alice', undefined)
    expect(cache.get(sealed)?.userKey).toBe('alice')
    expect(cache.get(twin)?.userKey).toBeUndefined()
  })

  it('holds at most its bound, dropping the oldest', () => {
    const cache = new UserKeyCache(3)
    const values = ['u0', 'u1', 'u2', 'u3'].map((user) => ({
      user,
      sealed: sealer.seal('user-key-cookie', user),
    }))
    for (const { user, sealed } of values) cache.set(sealed, user, undefined)
    expect(values.map(({ sealed }) => cache.get(sealed)?.userKey)).toEqual([undefined, 'u1', 'u2', 'u3'])
    // Replacing an entry's value does not evict another.
    cache.set(values[3]!.sealed, 'u3', undefined)
    expect(values.map(({ sealed }) => cache.get(sealed)?.userKey)).toEqual([undefined, 'u1', 'u2', 'u3'])
  })
})

describe('OngoingRoutes user-key lookup', () => {
  it('opens each user-key cookie once, and a tampered or forged one never finds a cached user', () => {
    const access = new OngoingAccess({
      issuer: 'https://as.example',
      client: { id: 'client', secret: 'client-secret' },
      redirectUri: 'https://app.example/auth/callback',
      scope: 'offline_access',
      secret: SECRET,
    })
    const routes = new OngoingRoutes(access)
    const open = vi.spyOn(access.sealer, 'open')
    const alice = access.sealer.seal('user-key-cookie', 'alice')
    const bob = access.sealer.seal('user-key-cookie', 'bob')
    const header = (sealed: string) => `theme=dark; ongoing.uid=${sealed}`
    for (let i = 0; i < 3; i++) {
      expect(routes.userKeyFromCookieHeader(header(alice))).toBe('alice')
      expect(routes.userKeyFromCookieHeader(header(bob))).toBe('bob')
    }
    expect(open).toHaveBeenCalledTimes(2)
    // Alice's value with one character changed (its key's characters kept): opened, and refused.
    expect(routes.userKeyFromCookieHeader(header(withCharAt(alice, 40)))).toBeUndefined()
    expect(routes.userKeyFromCookieHeader(header(withCharAt(alice, 3)))).toBeUndefined()
    expect(open).toHaveBeenCalledTimes(4)
    // The refused values were not cached: alice is still found without opening.
    expect(routes.userKeyFromCookieHeader(header(alice))).toBe('alice')
    expect(open).toHaveBeenCalledTimes(4)
    access.close()
  })
})
