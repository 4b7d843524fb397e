import {
  type ArgumentsHost,
  Catch,
  Controller,
  type ExceptionFilter,
  type ExecutionContext,
  Get,
  type INestApplication,
  Inject,
  Injectable,
  Module,
  UseGuards,
} from '@nestjs/common'
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js'
import { Test } from '@nestjs/testing'
import { ConsentRequiredError } from '@ongoing/core'
import type { Response } from 'express'
import request from 'supertest'
import { afterEach, describe, expect, it } from 'vitest'
import { countPromises, OFFLINE_ACCESS_OPTIONS } from '../../../test/adapters/parity.js'
import {
  AccessToken,
  AccessTokenGuard,
  OngoingAccess,
  OngoingAccessException,
  OngoingAccessModule,
  type OngoingAccessModuleOptions,
} from '../src/index.js'

const base = OFFLINE_ACCESS_OPTIONS

@Injectable()
class HistoryJob {
  constructor(@Inject(OngoingAccess) readonly access: OngoingAccess) {}
  /** What a background job does: no request, no user present. */
  async tokenOf(userKey: string) {
    return (await this.access.getAccessToken(userKey)).value
  }
}

@Controller('me')
@UseGuards(AccessTokenGuard)
class MeController {
  @Get()
  me(@AccessToken() accessToken: string, @AccessToken('userKey') userKey: string) {
    return { accessToken, userKey }
  }
}

@Controller('unguarded')
class UnguardedController {
  @Get()
  me(@AccessToken() accessToken: string) {
    return { accessToken }
  }
}

@Module({ controllers: [MeController, UnguardedController], providers: [HistoryJob] })
class FeatureModule {}

const apps: INestApplication[] = []
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()))
})

async function createApp(options: OngoingAccessModuleOptions, prefix?: string, filter?: ExceptionFilter) {
  const moduleRef = await Test.createTestingModule({
    imports: [OngoingAccessModule.forRoot(options), FeatureModule],
  }).compile()
  const app = moduleRef.createNestApplication({ logger: false })
  if (prefix !== undefined) app.setGlobalPrefix(prefix)
  if (filter !== undefined) app.useGlobalFilters(filter)
  await app.init()
  apps.push(app)
  return app
}

describe('OngoingAccessModule', () => {
  it('provides OngoingAccess by its class to services in other modules (global by default)', async () => {
    const app = await createApp({ ...base, userKey: (req) => req.get('x-user') })
    const access = app.get(OngoingAccess)
    await access.restore('alice', { accessToken: 'at-alice', refreshToken: 'rt-alice', expiresIn: 3600 })
    expect(app.get(HistoryJob).access).toBe(access)
    expect(await app.get(HistoryJob).tokenOf('alice')).toBe('at-alice')
    const me = await request(app.getHttpServer()).get('/me').set('X-User', 'alice')
    expect(me.body).toEqual({ accessToken: 'at-alice', userKey: 'alice' })
  })

  it('serves the routes under `path`, after the global prefix, with the callback named by redirectUri', async () => {
    const app = await createApp(
      { ...base, redirectUri: 'http://127.0.0.1:3000/api/connect/cb', path: 'connect' },
      'api',
    )
    const http = request(app.getHttpServer())
    const consent = await http.get('/api/connect/consent')
    expect(consent.status).toBe(302)
    expect(new URL(consent.headers.location as string).searchParams.get('redirect_uri')).toBe(
      'http://127.0.0.1:3000/api/connect/cb',
    )
    expect(consent.headers['set-cookie']?.[1]).toMatch(/; Path=\/api\/connect;/)
    expect((await http.get('/api/connect/cb?code=c&state=s')).status).toBe(400)
    expect((await http.get('/api/connect/callback')).status).toBe(404)
    expect((await http.get('/api/auth/consent')).status).toBe(404)
  })

  it('keeps the routes of two apps in one process apart', async () => {
    const one = await createApp({ ...base, redirectUri: 'http://127.0.0.1:3000/one/callback' })
    const two = await createApp({ ...base, redirectUri: 'http://127.0.0.1:3000/two/back' })
    expect((await request(one.getHttpServer()).get('/one/consent')).status).toBe(302)
    expect((await request(one.getHttpServer()).get('/two/consent')).status).toBe(404)
    expect((await request(two.getHttpServer()).get('/two/consent')).status).toBe(302)
    expect((await request(two.getHttpServer()).get('/two/back')).status).toBe(400)
    expect((await request(two.getHttpServer()).get('/one/consent')).status).toBe(404)
  })

  it('answers a transaction error with 400 and no details beyond the message', async () => {
    const app = await createApp(base)
    const response = await request(app.getHttpServer()).get('/auth/callback?code=c&state=s')
    expect(response.status).toBe(400)
    expect(response.headers['cache-control']).toBe('no-store')
    expect(response.body).toMatchObject({ statusCode: 400, error: 'ERR_TRANSACTION' })
  })

  it('@AccessToken() without AccessTokenGuard is a programming error (500)', async () => {
    const app = await createApp(base)
    expect((await request(app.getHttpServer()).get('/unguarded')).status).toBe(500)
  })

  it("with onRefreshTokenExpired: 'error', an app's filter receives the ConsentRequiredError as cause", async () => {
    const caught: OngoingAccessException[] = []
    @Catch(OngoingAccessException)
    class ConsentFilter implements ExceptionFilter {
      catch(exception: OngoingAccessException, host: ArgumentsHost) {
        caught.push(exception)
        host.switchToHttp().getResponse<Response>().status(418).json({ caught: exception.code })
      }
    }
    const app = await createApp({ ...base, onRefreshTokenExpired: 'error' }, undefined, new ConsentFilter())
    const response = await request(app.getHttpServer()).get('/me')
    expect(response.status).toBe(418)
    expect(response.body).toEqual({ caught: 'ERR_CONSENT_REQUIRED' })
    expect(response.headers['www-authenticate']).toMatch(/^Bearer error="invalid_token"/)
    expect(caught[0]?.getStatus()).toBe(401)
    expect(caught[0]?.cause).toBeInstanceOf(ConsentRequiredError)
  })

  it('AccessTokenGuard answers synchronously, with no promise, for a cached token', async () => {
    const app = await createApp({ ...base, userKey: () => 'bob' })
    await app.get(OngoingAccess).restore('bob', { accessToken: 'at-bob', expiresIn: 3600 })
    const guard = app.get(AccessTokenGuard, { strict: false })
    const req = { method: 'GET', originalUrl: '/me', headers: {} } as { ongoing?: unknown }
    const context: ExecutionContext = new ExecutionContextHost([req, {}, () => {}])
    let result: unknown
    expect(countPromises(() => (result = guard.canActivate(context)))).toBe(0)
    expect(result).toBe(true)
    expect(req.ongoing).toMatchObject({ accessToken: 'at-bob', userKey: 'bob' })
  })
})
