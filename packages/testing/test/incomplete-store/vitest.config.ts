import { defineConfig } from 'vitest/config'

// Run by ../conformance-complete.test.ts only: the conformance suite on a store without claimOnce.
export default defineConfig({ test: { include: ['*.fixture.ts'], root: import.meta.dirname } })
