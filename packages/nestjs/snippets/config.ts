// The full form of the README's `forRootAsync` example: the module with its options from
// ConfigService, in the app of the first example. test/snippets serves it (ISSUER, CLIENT_ID,
// CLIENT_SECRET, ONGOING_SECRET, API_URL and PORT from the environment; REDIRECT_URI is set here
// from PORT), consents through /auth and then reads /history.
import { Controller, Get, UseGuards } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { AccessToken, AccessTokenGuard } from '@ongoing/nestjs'

const port = Number(process.env.PORT ?? 3000)
process.env.REDIRECT_URI ??= `http://localhost:${port}/auth/callback`

@Controller('history')
class HistoryController {
  @Get()
  @UseGuards(AccessTokenGuard)
  async history(@AccessToken() accessToken: string) {
    const api = await fetch(`${process.env.API_URL}/me/history`, {
      headers: { authorization: `Bearer ${accessToken}` },
    })
    return api.json()
  }
}

import { Module } from '@nestjs/common'
import { ConfigModule, ConfigService } from '@nestjs/config'
import { OngoingAccessModule } from '@ongoing/nestjs'

@Module({
  imports: [
    ConfigModule.forRoot(), // process.env, and .env if there is one
    OngoingAccessModule.forRootAsync({
      imports: [ConfigModule],
      inject: [ConfigService],
      useFactory: (config: ConfigService) => ({
        issuer: config.getOrThrow('ISSUER'),
        client: { id: config.getOrThrow('CLIENT_ID'), secret: config.getOrThrow('CLIENT_SECRET') },
        redirectUri: config.getOrThrow('REDIRECT_URI'),
        scope: 'offline_access api:read',
        secret: config.getOrThrow('ONGOING_SECRET'),
        userKey: (req) => req.user?.id, // optional: whose grant it is
      }),
    }),
  ],
  controllers: [HistoryController],
})
export class AppModule {}

const app = await NestFactory.create(AppModule)
await app.listen(port)
console.log(`listening on http://localhost:${port}`)
