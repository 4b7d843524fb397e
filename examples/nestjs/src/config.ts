import { PostgresTokenStore } from '@ongoing/postgres'
import { RedisTokenStore } from '@ongoing/redis'

export const port = Number(process.env.PORT ?? 3003)
export const issuer = process.env.ISSUER ?? 'http://127.0.0.1:4000'
export const jobEverySeconds = Number(process.env.JOB_EVERY_SECONDS ?? 10)
export const historyUrl = new URL('/api/me/listening-history', issuer)
export const connectUrl = '/auth/consent?returnTo=/genres'
/** Names the cookies of the app's routes: the examples share the host name localhost. */
export const cookieName = 'genrefy-nestjs'

// Grants live in this process's memory by default: a restart forgets them. With REDIS_URL they
// live in Redis (under a key prefix of this app's own), with DATABASE_URL in PostgreSQL (in tables
// of this app's own): they outlive restarts, and every instance of the app shares them.
if (process.env.REDIS_URL && process.env.DATABASE_URL) {
  console.error(
    'nestjs example: both REDIS_URL and DATABASE_URL are set; pick one (the grants live in Redis or in PostgreSQL)',
  )
  process.exit(1)
}
export const store = process.env.REDIS_URL
  ? new RedisTokenStore({ url: process.env.REDIS_URL, keyPrefix: 'genrefy-nestjs:' })
  : process.env.DATABASE_URL
    ? new PostgresTokenStore({ connectionString: process.env.DATABASE_URL, table: 'genrefy_nestjs_grants' })
    : undefined
