import { type DynamicModule, type INestApplication, Module } from '@nestjs/common'
import type { NestExpressApplication } from '@nestjs/platform-express'
import { Test } from '@nestjs/testing'
import type { OngoingAccessOptions, TokenSwapOptions } from '@ongoing/core'
import request from 'supertest'
import { afterEach, describe, expect, it } from 'vitest'
import { runSwapParitySuite, type SwapHarness } from '../../../test/adapters/swap-parity.js'
import { OngoingAccess, OngoingAccessModule, TokenSwapModule, tokenSwapRouter } from '../src/index.js'

const SWAP_OPTIONS = Symbol('swap options')

/** An app of `OngoingAccessModule` and what `routes` adds; Nest's body parser on unless `bodyParser: false`. */
function nestHarness(
  name: string,
  routes: {
    module?: (options: TokenSwapOptions) => DynamicModule
    main?: (app: NestExpressApplication, options: TokenSwapOptions) => void
  },
  bodyParser = true,
): SwapHarness {
  return {
    name,
    // Nest's urlencoded parser (on by default, before any controller) has a 100 KB limit. A
    // middleware registered with app.use before listen() runs before it.
    bodyParserLimitBytes: bodyParser && routes.module ? 100 * 1024 : undefined,
    async start(accessOptions: OngoingAccessOptions, swapOptions: TokenSwapOptions) {
      const moduleRef = await Test.createTestingModule({
        imports: [
          OngoingAccessModule.forRoot(accessOptions),
          ...(routes.module ? [routes.module(swapOptions)] : []),
        ],
      }).compile()
      const app = moduleRef.createNestApplication<NestExpressApplication>({ logger: false, bodyParser })
      routes.main?.(app, swapOptions)
      const url = new URL(accessOptions.redirectUri)
      await app.listen(Number(url.port), '127.0.0.1')
      return { baseUrl: url.origin, close: () => app.close() }
    },
  }
}

runSwapParitySuite(
  nestHarness('NestJS TokenSwapModule.forRoot', { module: (options) => TokenSwapModule.forRoot(options) }),
)

runSwapParitySuite(
  nestHarness('NestJS TokenSwapModule.forRootAsync', {
    module: (options) => {
      @Module({ providers: [{ provide: SWAP_OPTIONS, useValue: options }], exports: [SWAP_OPTIONS] })
      class ConfigModule {}
      return TokenSwapModule.forRootAsync({
        imports: [ConfigModule],
        inject: [SWAP_OPTIONS],
        useFactory: (config: TokenSwapOptions) => ({ ...config, path: '/token' }),
      })
    },
  }),
)

runSwapParitySuite(
  nestHarness(
    'NestJS TokenSwapModule.forRoot, bodyParser: false',
    { module: (options) => TokenSwapModule.forRoot(options) },
    false,
  ),
)

runSwapParitySuite(
  nestHarness('NestJS tokenSwapRouter in main.ts', {
    main: (app, options) => app.use('/token', tokenSwapRouter(app.get(OngoingAccess), options)),
  }),
)

// No authorization server is reached below: every request is refused before a token call.
const base: OngoingAccessOptions = {
  issuer: 'http://127.0.0.1:9',
  endpoints: { authorization: 'http://127.0.0.1:9/authorize', token: 'http://127.0.0.1:9/token' },
  client: { id: 'app', secret: 'app-secret' },
  redirectUri: 'http://127.0.0.1:7777/callback',
  scope: 'api:read',
  secret: 'a Nest token swap secret of at least 32 characters',
}

describe('TokenSwapModule', () => {
  const apps: INestApplication[] = []
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()))
  })

  async function createApp(imports: DynamicModule[], prefix?: string) {
    const moduleRef = await Test.createTestingModule({ imports }).compile()
    const app = moduleRef.createNestApplication({ logger: false })
    if (prefix !== undefined) app.setGlobalPrefix(prefix)
    apps.push(app)
    await app.init()
    return app.getHttpServer()
  }

  it('says what is missing when there is no OngoingAccess to use', async () => {
    await expect(
      Test.createTestingModule({ imports: [TokenSwapModule.forRoot()] }).compile(),
    ).rejects.toThrow(/TokenSwapModule needs an OngoingAccess/)
  })

  it('checks its options when the app starts', async () => {
    await expect(
      Test.createTestingModule({
        imports: [OngoingAccessModule.forRoot(base), TokenSwapModule.forRoot({ maxBodyBytes: 10 })],
      }).compile(),
    ).rejects.toThrow(TypeError)
  })

  it('takes an OngoingAccess of its own, and a path, under the global prefix', async () => {
    const access = new OngoingAccess(base)
    const server = await createApp([TokenSwapModule.forRoot({ access, path: 'mobile' })], 'api')
    const swap = await request(server).post('/api/mobile/swap').type('form').send('code=')
    expect(swap.status).toBe(400)
    expect(swap.body).toEqual({ error: 'invalid_request', error_description: '`code` is missing or empty' })
    const refresh = await request(server).post('/api/mobile/refresh').type('form').send('refresh_token=x')
    expect(refresh.status).toBe(400)
    expect(refresh.body).toMatchObject({ error: 'invalid_grant' })
  })

  it('two registrations in two apps keep their own paths', async () => {
    const one = await createApp([OngoingAccessModule.forRoot(base), TokenSwapModule.forRoot({ path: 'one' })])
    const two = await createApp([OngoingAccessModule.forRoot(base), TokenSwapModule.forRoot({ path: 'two' })])
    expect((await request(one).post('/one/swap').type('form').send('code=')).status).toBe(400)
    expect((await request(one).post('/two/swap').type('form').send('code=')).status).toBe(404)
    expect((await request(two).post('/two/swap').type('form').send('code=')).status).toBe(400)
    expect((await request(two).post('/one/swap').type('form').send('code=')).status).toBe(404)
  })
})

describe('tokenSwapRouter', () => {
  it('checks its options once, when the middleware is made', () => {
    const access = new OngoingAccess(base)
    expect(() => tokenSwapRouter({} as OngoingAccess)).toThrow(TypeError)
    expect(() => tokenSwapRouter(access, { maxBodyBytes: 10 })).toThrow(TypeError)
    expect(tokenSwapRouter(access).name).toBe('tokenSwapRouterMiddleware')
  })
})
