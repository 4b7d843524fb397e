// The full form of the README's "Disconnect" example (NestJS): the same server, then a user who consents
// (the headless consent driver of @ongoing/testing signs in and approves), opens /settings and
// presses the button; the grant is gone afterwards. Then the Accounts service imports tokens
// obtained before (a code exchanged at the server directly) and closes that account. test/snippets
// runs it against a local authorization server (ISSUER, CLIENT_ID, CLIENT_SECRET and
// ONGOING_SECRET from the environment).
// ../harness.js is test/snippets/harness.ts, written beside this file's folder in the project the test makes.

import assert from 'node:assert/strict'
import { pressDisconnect, takeFreePort, tokensFromBefore } from '../harness.js'

// The test runs this with PORT=0; the redirect URI needs the real port.
await takeFreePort()

import { Controller, Get, Header, Inject, Injectable, Module } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { OngoingAccess, OngoingAccessModule } from '@ongoing/nestjs'

const port = Number(process.env.PORT ?? 3000)

@Controller('settings')
class SettingsController {
  @Get()
  @Header('content-type', 'text/html; charset=utf-8')
  page() {
    // A form post from this page is same-origin; the browser comes back to /settings (303).
    // From script: fetch('/auth/disconnect', { method: 'POST' }) → { disconnected, revokedAtServer }
    return '<form method="post" action="/auth/disconnect?returnTo=/settings"><button>Disconnect</button></form>'
  }
}

@Injectable()
export class Accounts {
  constructor(@Inject(OngoingAccess) private readonly access: OngoingAccess) {}

  /** An account deletion: revoked at the server when it can, forgotten here in any case. */
  async close(userKey: string): Promise<boolean> {
    const { revokedAtServer } = await this.access.revoke(userKey)
    return revokedAtServer
  }

  /** Tokens the app held before ongoing, stored as the user's grant (refreshed at first use). */
  async importTokens(userKey: string, accessToken: string, refreshToken: string): Promise<void> {
    await this.access.restore(userKey, { accessToken, refreshToken, expiresIn: 0 })
  }
}

@Module({
  imports: [
    OngoingAccessModule.forRoot({
      issuer: process.env.ISSUER!, // e.g. https://as.example.com
      client: { id: process.env.CLIENT_ID!, secret: process.env.CLIENT_SECRET! },
      redirectUri: `http://localhost:${port}/auth/callback`,
      scope: 'offline_access api:read',
      secret: process.env.ONGOING_SECRET!,
    }),
  ],
  controllers: [SettingsController],
  providers: [Accounts],
})
class AppModule {}

const app = await NestFactory.create(AppModule)
await app.listen(port)

// A user consents, opens /settings and presses the button; the grant is gone afterwards.
await pressDisconnect(port)

// Tokens from before ongoing: a code exchanged at the token endpoint by the app of old.
const old = await tokensFromBefore('http://127.0.0.1/callback')
const accounts = app.get(Accounts)
const ongoing = app.get(OngoingAccess)
await accounts.importTokens('carol', old.access_token, old.refresh_token)
assert.equal((await ongoing.getAccessToken('carol')).refreshed, true, 'refreshed at first use')
assert.equal(await accounts.close('carol'), true)
await assert.rejects(ongoing.getAccessToken('carol'), { code: 'ERR_CONSENT_REQUIRED' })
await app.close()
