// A CommonJS Nest app as `nest new` makes one: compiled by tsc with emitDecoratorMetadata, no
// explicit @Inject in the app's own code. Copied into a temporary project by commonjs.test.ts.
import 'reflect-metadata'
import { Controller, Get, Injectable, Module, Query, UseGuards } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
// biome-ignore lint/style/useImportType: emitDecoratorMetadata needs OngoingAccess as a value
import { AccessToken, AccessTokenGuard, OngoingAccess, OngoingAccessModule } from '@ongoing/nestjs'
import type { Request } from 'express'

@Injectable()
class GrantsService {
  constructor(private readonly access: OngoingAccess) {}

  async seed(userKey: string): Promise<number> {
    await this.access.restore(userKey, { accessToken: `at-${userKey}`, expiresIn: 3600 })
    return (await this.access.getAccessToken(userKey)).expiresAt
  }
}

@Controller()
class AppController {
  constructor(private readonly grants: GrantsService) {}

  @Get('seed')
  async seed(@Query('user') user: string) {
    return { expiresAt: await this.grants.seed(user) }
  }

  @Get('me')
  @UseGuards(AccessTokenGuard)
  me(@AccessToken() accessToken: string) {
    return { accessToken }
  }
}

@Module({
  imports: [
    OngoingAccessModule.forRoot({
      issuer: 'http://127.0.0.1:9',
      endpoints: { authorization: 'http://127.0.0.1:9/authorize', token: 'http://127.0.0.1:9/token' },
      client: { id: 'app', secret: 'app-secret' },
      redirectUri: `http://127.0.0.1:${process.env.PORT}/auth/callback`,
      scope: 'api:read',
      secret: 'a CommonJS app secret of at least 32 characters',
      userKey: (req: Request) => req.get('x-user'),
    }),
  ],
  controllers: [AppController],
  providers: [GrantsService],
})
class AppModule {}

async function bootstrap() {
  const app = await NestFactory.create(AppModule, { logger: ['error'] })
  await app.listen(Number(process.env.PORT), '127.0.0.1')
  console.log(JSON.stringify({ ready: true, moduleType: typeof module }))
}
bootstrap()
