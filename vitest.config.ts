import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

const src = (name: string) => fileURLToPath(new URL(`./packages/${name}/src/index.ts`, import.meta.url))

export default defineConfig({
  resolve: {
    alias: {
      // Before '@ongoing/core', which would match it as a prefix.
      '@ongoing/core/adapter': fileURLToPath(new URL('./packages/core/src/adapter.ts', import.meta.url)),
      '@ongoing/core': src('core'),
      '@ongoing/digime': src('digime'),
      '@ongoing/testing': src('testing'),
      '@ongoing/express': src('express'),
      '@ongoing/koa': src('koa'),
      '@ongoing/nestjs': src('nestjs'),
      '@ongoing/redis': src('redis'),
      '@ongoing/postgres': src('postgres'),
    },
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    reporters: process.env.CI ? ['default'] : ['default'],
  },
})
