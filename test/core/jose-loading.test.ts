import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describeRequiring } from '@ongoing/testing'
import { expect, it } from 'vitest'

// `jose` is loaded when a flow needs it, never with the package (see packages/core/src/jose.ts).
// Each case runs the built package in a process of its own, with a module hook counting every
// resolution of `jose`.
const here = fileURLToPath(new URL('./jose-loading/', import.meta.url))
const built = existsSync(fileURLToPath(new URL('../../packages/core/dist/index.js', import.meta.url)))
const problem = built
  ? undefined
  : 'packages/core/dist is missing: run `pnpm build` first (the root `pnpm test` does)'

const run = (scenario: string) =>
  JSON.parse(execFileSync(process.execPath, ['scenario.mjs', scenario], { cwd: here, encoding: 'utf8' }))

describeRequiring('loading jose', problem, () => {
  it('a client with a secret, without openid, never loads it: consent, refresh and all', () => {
    expect(run('secret')).toEqual({ joseLoads: 0 })
  })

  it('a private_key_jwt client loads it as soon as it is configured, before its first token call', () => {
    expect(run('private-key-jwt')).toEqual({ joseLoads: 1 })
  })

  it('a consent that asks for openid loads it, so the callback can verify the ID token at once', () => {
    expect(run('openid')).toEqual({ beforeOpenid: 0, joseLoads: 1 })
  })
})
