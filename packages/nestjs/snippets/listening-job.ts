// The full form of the README's background job: the same service in a Nest app with two users who
// consented (the headless consent driver of @ongoing/testing in their place), its job run once by
// hand instead of waiting a minute for the interval. test/snippets runs it against a local
// authorization server (ISSUER, CLIENT_ID, CLIENT_SECRET, ONGOING_SECRET and API_URL from the
// environment).
import assert from 'node:assert/strict'
import { Module } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { ScheduleModule } from '@nestjs/schedule'
import { OngoingAccessModule } from '@ongoing/nestjs'
import { driveConsent } from '@ongoing/testing'

// What the job read, per user.
const read: { userKey: string; status: number }[] = []

import { Inject, Injectable } from '@nestjs/common'
import { Interval } from '@nestjs/schedule'
import { OngoingAccess } from '@ongoing/nestjs'

@Injectable()
export class ListeningJob {
  constructor(@Inject(OngoingAccess) private readonly access: OngoingAccess) {}

  @Interval(60_000)
  async readEveryone() {
    for await (const { userKey } of this.access.grants({ status: ['active', 'failing'] })) {
      const { value } = await this.access.getAccessToken(userKey) // fresh, no user present
      const api = await fetch(`${process.env.API_URL}/me/history`, {
        headers: { authorization: `Bearer ${value}` },
      })
      read.push({ userKey, status: api.status })
    }
  }
}

@Module({
  imports: [
    ScheduleModule.forRoot(),
    OngoingAccessModule.forRoot({
      issuer: process.env.ISSUER!,
      client: { id: process.env.CLIENT_ID!, secret: process.env.CLIENT_SECRET! },
      redirectUri: 'http://localhost:3000/auth/callback',
      scope: 'offline_access api:read',
      secret: process.env.ONGOING_SECRET!,
    }),
  ],
  providers: [ListeningJob],
})
class AppModule {}

const app = await NestFactory.createApplicationContext(AppModule, { logger: false })
const access = app.get(OngoingAccess)
for (const userKey of ['user-1', 'user-2']) {
  const { url, transaction } = await access.startConsent({ userKey })
  const callbackUrl = await driveConsent(url, { redirectUriPrefix: 'http://localhost:3000/auth/callback' })
  await access.finishConsent({ callbackUrl, transaction })
}

await app.get(ListeningJob).readEveryone()
assert.deepEqual(
  read.sort((a, b) => a.userKey.localeCompare(b.userKey)),
  [
    { userKey: 'user-1', status: 200 },
    { userKey: 'user-2', status: 200 },
  ],
)
await app.close()
