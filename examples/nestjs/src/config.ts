export const port = Number(process.env.PORT ?? 3003)
export const issuer = process.env.ISSUER ?? 'http://127.0.0.1:4000'
export const jobEverySeconds = Number(process.env.JOB_EVERY_SECONDS ?? 10)
export const historyUrl = new URL('/api/me/listening-history', issuer)
export const connectUrl = '/auth/consent?returnTo=/genres'
