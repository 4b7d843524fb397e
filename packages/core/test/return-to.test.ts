import { describe, expect, it } from 'vitest'
import { sanitizeReturnTo } from '../src/adapter.js'

describe('sanitizeReturnTo', () => {
  it('keeps same-origin relative paths', () => {
    expect(sanitizeReturnTo('/library?tab=genres#top')).toBe('/library?tab=genres#top')
    expect(sanitizeReturnTo('/a/../b')).toBe('/b')
  })

  it.each([
    '//evil.com',
    'https://evil.com',
    '/\\evil.com',
    '/%2F%2Fevil.com',
    '/%2f/evil.com',
    '/%5Cevil.com',
    'javascript:alert(1)',
    '\\\\evil.com',
    '/\t/evil.com',
    '/\n/evil.com',
    'evil.com',
    '@evil.com',
    'http:evil.com',
    '',
    '/'.padEnd(3000, 'a'),
  ])('turns %j into /', (bad) => {
    expect(sanitizeReturnTo(bad)).toBe('/')
  })

  it.each(['/.//evil.com', '/..//evil.com', '/a/..//evil.com', '/./\x2F/evil.com'])(
    'regression: dot segments that normalize into a protocol-relative path (%j) → /',
    (bad) => {
      expect(sanitizeReturnTo(bad)).toBe('/')
    },
  )

  it('treats @ inside a path as a path', () => {
    expect(sanitizeReturnTo('/@evil.com')).toBe('/@evil.com')
  })
})
