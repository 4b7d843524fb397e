// The full form of the README's TokenSwapModule example: the same module in a Nest app, then what
// a native app does (consent in the system browser, back on its custom-scheme redirect URI, then
// POST /token/swap and POST /token/refresh). The authorization server must know the app's redirect
// URI, so this starts a test authorization server of @ongoing/testing that does (ONGOING_SECRET
// and PORT from the environment).
import assert from 'node:assert/strict'
import type { AddressInfo } from 'node:net'
import { authorizeAsNativeApp, startTestAuthorizationServer } from '@ongoing/testing'

const as = await startTestAuthorizationServer({ redirectUris: ['com.example.app:/callback'] })
process.env.ISSUER = as.issuer
process.env.CLIENT_ID = as.clients.confidential.id
process.env.CLIENT_SECRET = as.clients.confidential.secret

import { Module } from '@nestjs/common'
import { OngoingAccessModule, TokenSwapModule } from '@ongoing/nestjs'

@Module({
  imports: [
    OngoingAccessModule.forRoot({
      issuer: process.env.ISSUER!, // e.g. https://as.example.com
      client: { id: process.env.CLIENT_ID!, secret: process.env.CLIENT_SECRET! },
      redirectUri: 'http://localhost:3000/auth/callback',
      scope: 'offline_access api:read',
      secret: process.env.ONGOING_SECRET!, // also seals the handles
    }),
    // POST /token/swap and POST /token/refresh
    TokenSwapModule.forRoot({ redirectUris: ['com.example.app:/callback'] }),
  ],
})
export class AppModule {}

import { NestFactory } from '@nestjs/core'

const app = await NestFactory.create(AppModule, { logger: false })
await app.listen(Number(process.env.PORT ?? 3000))
const { port } = app.getHttpServer().address() as AddressInfo

// The app: a consent that comes back to com.example.app:/callback with a code, which it swaps.
const { code, codeVerifier } = await authorizeAsNativeApp(as.issuer, {
  clientId: as.clients.confidential.id,
  redirectUri: 'com.example.app:/callback',
})
const form = (fields: Record<string, string>) => ({ method: 'POST', body: new URLSearchParams(fields) })
const swap = await fetch(`http://localhost:${port}/token/swap`, form({ code, code_verifier: codeVerifier }))
assert.equal(swap.status, 200)
assert.equal(swap.headers.get('cache-control'), 'no-store')
const swapped = (await swap.json()) as Record<string, unknown>
assert.deepEqual(Object.keys(swapped).sort(), [
  'access_token',
  'expires_in',
  'refresh_token',
  'scope',
  'token_type',
])
assert.equal(swapped.token_type, 'Bearer')
const handle = String(swapped.refresh_token)

// Later: the handle buys a new access token; a tampered one is refused without a call to the server.
const refresh = await fetch(`http://localhost:${port}/token/refresh`, form({ refresh_token: handle }))
assert.equal(refresh.status, 200)
const refreshed = (await refresh.json()) as Record<string, unknown>
assert.equal(typeof refreshed.access_token, 'string')
assert.notEqual(refreshed.access_token, swapped.access_token)
const at = Math.floor(handle.length / 2)
const tampered = `${handle.slice(0, at)}${handle[at] === 'A' ? 'B' : 'A'}${handle.slice(at + 1)}`
const refused = await fetch(`http://localhost:${port}/token/refresh`, form({ refresh_token: tampered }))
assert.equal(refused.status, 400)
assert.equal(((await refused.json()) as { error: string }).error, 'invalid_grant')
await app.close()
await as.close()
