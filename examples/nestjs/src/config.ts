import { RedisTokenStore } from '@ongoing/redis'

export const port = Number(process.env.PORT ?? 3003)
export const issuer = process.env.ISSUER ?? 'http://127.0.0.1:4000'
export const jobEverySeconds = Number(process.env.JOB_EVERY_SECONDS ?? 10)
export const historyUrl = new URL('/api/me/listening-history', issuer)
export const connectUrl = '/auth/consent?returnTo=/genres'

// Grants live in this process's memory by default: a restart forgets them. With REDIS_URL they
// live in Redis (under a key prefix of this app's own): they outlive restarts, and every instance
// of the app shares them.
export const store = process.env.REDIS_URL
  ? new RedisTokenStore({ url: process.env.REDIS_URL, keyPrefix: 'genrefy-nestjs:' })
  : undefined
