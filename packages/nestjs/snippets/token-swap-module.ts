// The full form of the README's TokenSwapModule example: the same module in a Nest app, then what
// a native app does (consent in the system browser, back on its custom-scheme redirect URI, then
// POST /token/swap and POST /token/refresh). The authorization server must know the app's redirect
// URI, so this starts a test authorization server of @ongoing/testing that does (ONGOING_SECRET
// and PORT from the environment).
// ../harness.js is test/snippets/harness.ts, written beside this file's folder in the project the test makes.

import type { AddressInfo } from 'node:net'
import { startTestAuthorizationServer } from '@ongoing/testing'
import { swapAndRefresh } from '../harness.js'

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

// The app: a consent back on com.example.app:/callback, then swap and refresh (a tampered handle refused).
await swapAndRefresh(`http://localhost:${port}/token`, {
  issuer: as.issuer,
  clientId: as.clients.confidential.id,
})
await app.close()
await as.close()
