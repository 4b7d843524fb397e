// Vitest is an optional peer dependency: only the helpers that register tests (the token-store
// conformance suite, describeRequiring, requireOrSkip, describeWithRedis, describeWithPostgres)
// need it, and they ask for it when called. Everything else (the authorization server, the digi.me
// server, driveConsent, …) imports and runs without it.
import type * as Vitest from 'vitest'

let loaded: typeof Vitest | undefined
try {
  loaded = await import('vitest')
} catch {
  loaded = undefined
}

/** Vitest's API for `helper`, or an error that says to install it. */
export function vitestFor(helper: string): typeof Vitest {
  if (loaded === undefined) {
    throw new Error(`@ongoing/testing: ${helper} registers Vitest tests; install vitest (>=4) to use it`)
  }
  return loaded
}
