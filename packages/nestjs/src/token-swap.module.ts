import type { ServerResponse } from 'node:http'
import {
  ConfigurableModuleBuilder,
  Controller,
  type DynamicModule,
  Inject,
  Module,
  Post,
  Req,
  Res,
  type Type,
} from '@nestjs/common'
import { OngoingAccess } from '@ongoing/core'
import { TokenSwapService } from '@ongoing/core/adapter'
import type { Request } from 'express'
import type { TokenSwapRouterOptions } from './token-swap-router.js'
import { TokenSwapWeb } from './token-swap-web.js'

/** Options of `TokenSwapModule.forRoot` (or what `forRootAsync`'s `useFactory` returns). */
export interface TokenSwapModuleOptions extends TokenSwapRouterOptions {
  /**
   * Path of the controller serving `POST swap` and `POST refresh`, as Nest sees it (after any
   * global prefix). Default: `token` (`POST /token/swap`, `POST /token/refresh`).
   */
  path?: string
  /**
   * The `OngoingAccess` whose client and `secret` the routes use. Default: the one
   * `OngoingAccessModule` provides.
   */
  access?: OngoingAccess
}

const { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN, OPTIONS_TYPE, ASYNC_OPTIONS_TYPE } =
  new ConfigurableModuleBuilder<TokenSwapModuleOptions>({ moduleName: 'TokenSwap' })
    .setClassMethodName('forRoot')
    .build()

/** What `TokenSwapModule.forRoot` takes. */
export type TokenSwapModuleForRootOptions = typeof OPTIONS_TYPE
/** What `TokenSwapModule.forRootAsync` takes: `imports`, `inject`, `useFactory` (or `useClass`/`useExisting`). */
export type TokenSwapModuleAsyncOptions = typeof ASYNC_OPTIONS_TYPE

/**
 * The token swap service for native apps (the Spotify iOS SDK's `tokenSwapURL` /
 * `tokenRefreshURL` protocol) as a Nest controller: `POST <path>/swap` exchanges an
 * authorization code (with `code_verifier` and `redirect_uri` when the app used PKCE) for
 * `{ access_token, token_type, expires_in, refresh_token, scope }`; `POST <path>/refresh` takes
 * `refresh_token` and answers `{ access_token, token_type, expires_in, scope }`, plus a new
 * `refresh_token` when the server rotated it. The `refresh_token` the app holds is a handle
 * sealed with keys derived from `secret`, never the real refresh token. Errors are RFC 6749 §5.2
 * JSON; bad input gets `400` without a call to the server.
 *
 * It uses the `OngoingAccess` of `OngoingAccessModule` (or `options.access`). Nest's body parser
 * (on by default) reads urlencoded bodies before any controller, up to its own limit (100 KB):
 * below it the routes use the parsed body and refuse one over `maxBodyBytes` with `400`; above
 * it the parser answers `413` itself. For the same `400` at any size, create the app with
 * `bodyParser: false`, or serve the routes with {@link tokenSwapRouter} in `main.ts` instead.
 *
 * @example
 * ```ts
 * @Module({
 *   imports: [
 *     OngoingAccessModule.forRoot({ issuer, client, redirectUri, scope, secret }),
 *     TokenSwapModule.forRoot({ redirectUris: ['com.example.app:/callback'] }), // POST /token/swap, /token/refresh
 *   ],
 * })
 * export class AppModule {}
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5 (token responses and errors),
 *   https://www.rfc-editor.org/rfc/rfc8252 (OAuth 2.0 for native apps)
 */
@Module({})
export class TokenSwapModule extends ConfigurableModuleClass {
  /**
   * The module, configured now.
   *
   * @param options - `path`, `access`, `redirectUris`, `maxHandleAgeSeconds`, `maxBodyBytes`, `rateLimit`.
   * @throws {TypeError} when the app starts, for a bad option or without an `OngoingAccess`.
   */
  static override forRoot(options: TokenSwapModuleForRootOptions = {}): DynamicModule {
    // biome-ignore lint/complexity/noThisInStatic: the base builds `{ module: this }`, which must be this class
    return withRoutes(super.forRoot(options))
  }

  /**
   * The module, configured by a factory with injected dependencies (a `ConfigService`, say).
   *
   * @param options - `imports`, `inject`, `useFactory` (or `useClass`/`useExisting`).
   * @throws {TypeError} when the app starts, for a bad option or without an `OngoingAccess`.
   */
  static override forRootAsync(options: TokenSwapModuleAsyncOptions): DynamicModule {
    // biome-ignore lint/complexity/noThisInStatic: the base builds `{ module: this }`, which must be this class
    return withRoutes(super.forRootAsync(options))
  }
}

function withRoutes(definition: DynamicModule): DynamicModule {
  const controller = createTokenSwapController()
  return {
    ...definition,
    controllers: [controller],
    providers: [
      ...(definition.providers ?? []),
      {
        provide: TokenSwapWeb,
        inject: [MODULE_OPTIONS_TOKEN, { token: OngoingAccess, optional: true }],
        useFactory: (options: TokenSwapModuleOptions, injected: OngoingAccess | undefined) => {
          const { path = 'token', access = injected, ...swapOptions } = options
          if (typeof path !== 'string') throw new TypeError('ongoing: `path` must be a string')
          if (typeof access?.startConsent !== 'function')
            throw new TypeError(
              'ongoing: TokenSwapModule needs an OngoingAccess: import OngoingAccessModule, or pass `access`',
            )
          // Runs when providers are created, before Nest registers routes (`app.init()`).
          Controller(path)(controller)
          return new TokenSwapWeb(new TokenSwapService(access, swapOptions))
        },
      },
    ],
  }
}

/** A fresh controller class per registration, so two apps in one process never share route metadata. */
function createTokenSwapController(): Type<unknown> {
  @Controller()
  class TokenSwapController {
    constructor(@Inject(TokenSwapWeb) private readonly web: TokenSwapWeb) {}

    @Post('swap')
    swap(@Req() req: Request, @Res() res: ServerResponse): Promise<void> {
      return this.web.answer(req, res, 'swap')
    }

    @Post('refresh')
    refresh(@Req() req: Request, @Res() res: ServerResponse): Promise<void> {
      return this.web.answer(req, res, 'refresh')
    }
  }
  return TokenSwapController
}
