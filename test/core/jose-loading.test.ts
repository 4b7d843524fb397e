import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describeRequiring } from '@ongoing/testing'
import { expect, it } from 'vitest'
import { builtPackagesProblem } from '../built-packages.js'

// `jose` is loaded when a flow needs it, never with the package (see packages/core/src/jose.ts).
// Each case runs the built package in a process of its own, with a module hook counting every
// resolution of `jose`.
const here = fileURLToPath(new URL('./jose-loading/', import.meta.url))
const problem = builtPackagesProblem(['core'])

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
