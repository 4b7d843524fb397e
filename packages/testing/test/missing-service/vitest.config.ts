import { defineConfig } from 'vitest/config'

// Run by ../requirement.test.ts only: suites and a test whose service is missing.
export default defineConfig({ test: { include: ['*.fixture.ts'], root: import.meta.dirname } })
