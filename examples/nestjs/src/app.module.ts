import { Module, type OnApplicationShutdown } from '@nestjs/common'
import { APP_FILTER } from '@nestjs/core'
import { OngoingAccessModule } from '@ongoing/nestjs'
import { cookieName, issuer, port, store } from './config'
import { OngoingErrorFilter } from './error.filter'
import { GenresController } from './genres.controller'
import { GrantsController } from './grants.controller'
import { ListeningService } from './listening.service'

@Module({
  imports: [
    // 1. The app's OngoingAccess (injectable anywhere), and 2. a controller serving
    //    GET /auth/consent, GET /auth/callback and POST /auth/refresh. With no `userKey` option,
    //    it keeps a random user key in a sealed cookie (named after `cookieName`: the three
    //    examples share the host name localhost, and cookies ignore ports).
    OngoingAccessModule.forRoot({
      issuer,
      client: { id: 'genrefy-nestjs', secret: process.env.CLIENT_SECRET ?? 'genrefy-nestjs-dev-secret' },
      redirectUri: `http://localhost:${port}/auth/callback`,
      scope: 'offline_access api:read',
      // Seals the consent transaction and the user-key cookie, and encrypts tokens at rest.
      secret: process.env.ONGOING_SECRET ?? 'genrefy-nestjs development secret: set ONGOING_SECRET',
      cookieName,
      store,
    }),
  ],
  controllers: [GenresController, GrantsController],
  providers: [ListeningService, { provide: APP_FILTER, useClass: OngoingErrorFilter }],
})
export class AppModule implements OnApplicationShutdown {
  async onApplicationShutdown(): Promise<void> {
    await store?.close()
  }
}
