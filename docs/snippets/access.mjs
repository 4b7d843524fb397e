// access.mjs: imported by the web app and by the worker
import { OngoingAccess } from '@ongoing/core'
import { RedisTokenStore } from '@ongoing/redis'

export const store = new RedisTokenStore({ url: process.env.REDIS_URL })

export const access = new OngoingAccess({
  issuer: process.env.ISSUER, // e.g. https://as.example.com
  client: { id: process.env.CLIENT_ID, secret: process.env.CLIENT_SECRET },
  redirectUri: 'http://localhost:3000/auth/callback',
  scope: 'offline_access api:read',
  secret: process.env.ONGOING_SECRET,
  store,
})

// The full form of the guide's shared configuration (ISSUER, CLIENT_ID, CLIENT_SECRET,
// ONGOING_SECRET and REDIS_URL from the environment). Run by itself, it checks the server and the
// store, then closes; the guide's worker (worker.mjs) imports it.
if (process.argv[1]?.endsWith('access.mjs')) {
  await access.ready() // the server is there and supports this client
  await store.ready() // Redis answers
  access.close()
  await store.close()
}
