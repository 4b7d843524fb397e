import type { TestContext } from 'vitest'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { isCI, requireOrSkip } from '../src/requirement.js'

function fakeContext() {
  const skip = vi.fn((note?: string) => {
    throw new Error(`skipped: ${note}`)
  })
  return { ctx: { task: { name: 'the test' }, skip } as unknown as TestContext, skip }
}

describe('isCI', () => {
  afterEach(() => vi.unstubAllEnvs())
  it.each([
    ['true', true],
    ['1', true],
    ['false', false],
    ['FALSE', false],
    ['0', false],
    ['', false],
  ])('CI=%j → %s', (value, expected) => {
    vi.stubEnv('CI', value)
    expect(isCI()).toBe(expected)
  })
})

describe('requireOrSkip', () => {
  afterEach(() => {
    vi.unstubAllEnvs()
    vi.restoreAllMocks()
  })

  it('does nothing when nothing is missing', () => {
    vi.stubEnv('CI', 'true')
    const { ctx, skip } = fakeContext()
    requireOrSkip(ctx, undefined)
    expect(skip).not.toHaveBeenCalled()
  })

  it('fails under CI, naming what is missing, and never skips', () => {
    vi.stubEnv('CI', 'true')
    const { ctx, skip } = fakeContext()
    expect(() => requireOrSkip(ctx, 'no Chromium')).toThrow('the test: no Chromium')
    expect(skip).not.toHaveBeenCalled()
  })

  it('skips elsewhere, with the reason as its note and a warning', () => {
    vi.stubEnv('CI', '')
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const { ctx, skip } = fakeContext()
    expect(() => requireOrSkip(ctx, 'no Chromium')).toThrow(
      /^skipped: .*no Chromium.*Under CI=true this fails/,
    )
    expect(skip).toHaveBeenCalledOnce()
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('SKIPPING "the test": no Chromium'))
  })
})
