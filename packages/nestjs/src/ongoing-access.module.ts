import {
  ConfigurableModuleBuilder,
  type DynamicModule,
  Inject,
  Module,
  type OnModuleDestroy,
} from '@nestjs/common'
import { OngoingAccess } from '@ongoing/core'
import { createConsentController, routeConsentController } from './controller.js'
import { OngoingWeb } from './ongoing-web.js'
import type { OngoingAccessModuleOptions } from './options.js'

const { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN, OPTIONS_TYPE, ASYNC_OPTIONS_TYPE } =
  new ConfigurableModuleBuilder<OngoingAccessModuleOptions>({ moduleName: 'OngoingAccess' })
    .setClassMethodName('forRoot')
    .setExtras({ isGlobal: true }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
    .build()

/** The injection token of the module's options (`ONGOING_ACCESS_MODULE_OPTIONS`). */
export const ONGOING_ACCESS_MODULE_OPTIONS: string | symbol = MODULE_OPTIONS_TOKEN

/** What `forRoot` takes: the module options, and `isGlobal` (default `true`). */
export type OngoingAccessModuleForRootOptions = typeof OPTIONS_TYPE
/** What `forRootAsync` takes: `imports`, `inject`, `useFactory` (or `useClass`/`useExisting`), `isGlobal`. */
export type OngoingAccessModuleAsyncOptions = typeof ASYNC_OPTIONS_TYPE

/**
 * Ongoing access for a Nest app: provides `OngoingAccess` (inject the class itself, in services
 * and background jobs), serves the consent routes (`GET <path>/consent`, `GET <path>/callback`,
 * `POST <path>/refresh`, `POST <path>/disconnect`) and backs `AccessTokenGuard` and `@AccessToken()`.
 * Global by default.
 *
 * @example
 * ```ts
 * @Module({
 *   imports: [
 *     OngoingAccessModule.forRootAsync({
 *       imports: [ConfigModule],
 *       inject: [ConfigService],
 *       useFactory: (config: ConfigService) => ({
 *         issuer: config.getOrThrow('ISSUER'),
 *         client: { id: config.getOrThrow('CLIENT_ID'), secret: config.getOrThrow('CLIENT_SECRET') },
 *         redirectUri: 'http://localhost:3000/auth/callback',
 *         scope: 'offline_access api:read',
 *         secret: config.getOrThrow('ONGOING_SECRET'),
 *       }),
 *     }),
 *   ],
 * })
 * export class AppModule {}
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1, https://www.rfc-editor.org/rfc/rfc7636#section-4
 */
@Module({})
export class OngoingAccessModule extends ConfigurableModuleClass implements OnModuleDestroy {
  constructor(@Inject(OngoingAccess) private readonly access: OngoingAccess) {
    super()
  }

  /**
   * The module, configured now.
   *
   * @param options - `OngoingAccess` options, `path`, `userKey(req)`, route options, `isGlobal`.
   * @throws {TypeError} when the app starts, for a bad option.
   */
  static override forRoot(options: OngoingAccessModuleForRootOptions): DynamicModule {
    // biome-ignore lint/complexity/noThisInStatic: the base builds `{ module: this }`, which must be this class
    return withRoutes(super.forRoot(options))
  }

  /**
   * The module, configured by a factory with injected dependencies (a `ConfigService`, say).
   *
   * @param options - `imports`, `inject`, `useFactory` (or `useClass`/`useExisting`), `isGlobal`.
   * @throws {TypeError} when the app starts, for a bad option.
   */
  static override forRootAsync(options: OngoingAccessModuleAsyncOptions): DynamicModule {
    // biome-ignore lint/complexity/noThisInStatic: the base builds `{ module: this }`, which must be this class
    return withRoutes(super.forRootAsync(options))
  }

  /** Stops listening to the token store. */
  onModuleDestroy(): void {
    this.access.close()
  }
}

function withRoutes(definition: DynamicModule): DynamicModule {
  const controller = createConsentController()
  return {
    ...definition,
    controllers: [controller],
    providers: [
      ...(definition.providers ?? []),
      {
        provide: OngoingAccess,
        inject: [MODULE_OPTIONS_TOKEN],
        useFactory: ({
          path: _path,
          userKey: _userKey,
          consentPath: _consentPath,
          defaultReturnTo: _defaultReturnTo,
          cookieName: _cookieName,
          userCookieMaxAgeSeconds: _maxAge,
          ...options
        }: OngoingAccessModuleOptions) => new OngoingAccess(options),
      },
      {
        provide: OngoingWeb,
        inject: [OngoingAccess, MODULE_OPTIONS_TOKEN],
        useFactory: (access: OngoingAccess, options: OngoingAccessModuleOptions) => {
          const web = new OngoingWeb(access, options)
          routeConsentController(controller, web.routes.callbackPath, options.path)
          return web
        },
      },
    ],
    exports: [OngoingAccess, OngoingWeb, MODULE_OPTIONS_TOKEN],
  }
}
