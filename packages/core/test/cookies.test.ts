import { describe, expect, it } from 'vitest'
import { readCookie } from '../src/index.js'

describe('readCookie', () => {
  it.each<[string | undefined, string | undefined]>([
    ['a=1; ongoing.uid=abc; b=2', 'abc'],
    ['ongoing.uid=abc', 'abc'],
    ['ongoing.uid=abc;b=2', 'abc'],
    ['b=2;  ongoing.uid= abc ', 'abc'],
    ['x-ongoing.uid=evil; b=2', undefined],
    ['b=ongoing.uid=evil', undefined],
    ['ongoing.uid=one; ongoing.uid=two', undefined],
    ['x-ongoing.uid=evil; ongoing.uid=good', 'good'],
    ['', undefined],
    [undefined, undefined],
    [`ongoing.uid=abc; big=${'x'.repeat(9000)}`, undefined],
  ])('%j → %j', (header, expected) => {
    expect(readCookie(header, 'ongoing.uid')).toBe(expected)
  })
})
