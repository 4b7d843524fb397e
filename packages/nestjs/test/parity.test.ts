import {
  type ArgumentsHost,
  Catch,
  Controller,
  type DynamicModule,
  Get,
  type HttpServer,
  Module,
  Query,
  UseGuards,
} from '@nestjs/common'
import { BaseExceptionFilter } from '@nestjs/core'
import type { NestExpressApplication } from '@nestjs/platform-express'
import { Test } from '@nestjs/testing'
import type { OngoingAccessOptions, OngoingFetch } from '@ongoing/core'
import { type AdapterHarness, type RunningApp, runParitySuite } from '../../../test/adapters/parity.js'
import { AccessToken, AccessTokenGuard, OngoingAccess, OngoingAccessModule } from '../src/index.js'

@Controller('api')
class ApiController {
  @Get('me')
  @UseGuards(AccessTokenGuard)
  me(
    @AccessToken() accessToken: string,
    @AccessToken('expiresAt') expiresAt: number,
    @AccessToken('userKey') userKey: string,
  ) {
    return { accessToken, expiresAt, userKey }
  }

  @Get('call')
  @UseGuards(AccessTokenGuard)
  async call(@AccessToken('fetch') fetch: OngoingFetch, @Query('url') url: string) {
    const response = await fetch(url)
    return { status: response.status, body: await response.text() }
  }
}

@Catch()
class RecordingFilter extends BaseExceptionFilter {
  constructor(
    private readonly errors: unknown[],
    applicationRef: HttpServer,
  ) {
    super(applicationRef)
  }
  override catch(exception: unknown, host: ArgumentsHost) {
    this.errors.push(exception)
    super.catch(exception, host) // Nest's own answer
  }
}

const CONFIG = Symbol('config')

function nestHarness(
  name: string,
  ongoingModule: (options: OngoingAccessOptions) => DynamicModule,
): AdapterHarness {
  return {
    name,
    reconsentIsAnException: true,
    async start(options: OngoingAccessOptions): Promise<RunningApp> {
      const moduleRef = await Test.createTestingModule({
        imports: [ongoingModule(options)],
        controllers: [ApiController],
      }).compile()
      const app = moduleRef.createNestApplication<NestExpressApplication>({ logger: false })
      app.set('trust proxy', true)
      const errors: unknown[] = []
      app.useGlobalFilters(new RecordingFilter(errors, app.getHttpAdapter()))
      const url = new URL(options.redirectUri)
      await app.listen(Number(url.port), '127.0.0.1')
      return { baseUrl: url.origin, access: app.get(OngoingAccess), errors, close: () => app.close() }
    },
  }
}

runParitySuite(nestHarness('NestJS forRoot', (options) => OngoingAccessModule.forRoot(options)))

runParitySuite(
  nestHarness('NestJS forRootAsync', (options) => {
    @Module({ providers: [{ provide: CONFIG, useValue: options }], exports: [CONFIG] })
    class ConfigModule {}
    return OngoingAccessModule.forRootAsync({
      imports: [ConfigModule],
      inject: [CONFIG],
      useFactory: (config: OngoingAccessOptions) => ({ ...config }),
    })
  }),
)
