import type { TestContext } from 'vitest'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { isCI, requireOrSkip } from '../src/requirement.js'
import { runChildVitest } from './child-vitest.js'

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

// The real thing, in a Vitest of its own (missing-service/): a suite needing Redis and a test
// needing Chromium, on a machine that has neither.
describe('describeRequiring and requireOrSkip in a run', () => {
  it('under CI=true, fail what cannot run, naming what is missing, and skip nothing', () => {
    const results = runChildVitest('missing-service', { CI: 'true' })
    expect(results.filter((r) => r.status === 'skipped')).toEqual([])
    expect(results.map((r) => r.title)).not.toContain('talks to Redis')
    const redis = results.find((r) => r.title === 'has what it needs to run (required under CI)')
    expect(redis?.status).toBe('failed')
    expect(redis?.failureMessages.join('\n')).toContain(
      'a suite that needs Redis: no Redis: `redis-server` could not be run',
    )
    const chromium = results.find((r) => r.title === 'a test that needs Chromium')
    expect(chromium?.status).toBe('failed')
    expect(chromium?.failureMessages.join('\n')).toContain('Chromium not found at /usr/bin/chromium')
    expect(results.find((r) => r.title === 'runs')?.status).toBe('passed')
  }, 60_000)

  it('elsewhere, skip them with the reason in the report, and fail nothing', () => {
    const results = runChildVitest('missing-service', { CI: '' })
    expect(results.filter((r) => r.status === 'failed')).toEqual([])
    const redis = results.find((r) => r.title === 'talks to Redis')
    expect(redis?.status).toBe('skipped')
    expect(redis?.fullName).toContain('[SKIPPED: no Redis: `redis-server` could not be run]')
    expect(results.find((r) => r.title === 'a test that needs Chromium')?.status).toBe('skipped')
    expect(results.find((r) => r.title === 'runs')?.status).toBe('passed')
  }, 60_000)
})
