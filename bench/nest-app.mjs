// The NestJS (Express platform) app of the bench, shared by bench/contender.mjs (over HTTP) and
// bench/express-in-process.mjs (in process): GET /api answers "ok" once the handler has (or, for
// the bare and no-op kinds, would have) the user's access token.
//
//   kind: nest-bare | nest-noop | nest-ours;  param: a custom parameter decorator on nest-bare
//   accessOptions: the OngoingAccessModule.forRoot options of nest-ours
const BODY = 'ok'

/** The Nest application, not listening; for nest-ours, also its injected `OngoingAccess`. */
export async function createNestApp(kind, { param = false, accessOptions } = {}) {
  await import('reflect-metadata')
  const { Controller, createParamDecorator, Get, Injectable, Module, UseGuards } = await import(
    '@nestjs/common'
  )
  const { NestFactory } = await import('@nestjs/core')
  const decorateMethod = (target, name, decorators) =>
    Reflect.defineProperty(
      target.prototype,
      name,
      Reflect.decorate(
        decorators,
        target.prototype,
        name,
        Object.getOwnPropertyDescriptor(target.prototype, name),
      ),
    )

  class ApiController {
    get(accessToken) {
      return accessToken === undefined || accessToken ? BODY : 'no token'
    }
  }
  Controller('api')(ApiController)
  const imports = []
  const guards = []
  switch (kind) {
    case 'nest-bare':
      // What any custom parameter decorator costs in Nest (its pipes run, asynchronously).
      if (param) createParamDecorator(() => 'x')()(ApiController.prototype, 'get', 0)
      break
    case 'nest-noop': {
      class NoopGuard {
        async canActivate() {
          return true
        }
      }
      Injectable()(NoopGuard)
      guards.push(NoopGuard)
      break
    }
    case 'nest-ours': {
      const { AccessToken, AccessTokenGuard, OngoingAccessModule } = await import('@ongoing/nestjs')
      imports.push(OngoingAccessModule.forRoot(accessOptions))
      guards.push(AccessTokenGuard)
      AccessToken()(ApiController.prototype, 'get', 0)
      break
    }
    default:
      throw new Error(`unknown kind ${kind}`)
  }
  decorateMethod(ApiController, 'get', guards.length > 0 ? [Get(), UseGuards(...guards)] : [Get()])
  class AppModule {}
  Module({ imports, controllers: [ApiController] })(AppModule)
  const app = await NestFactory.create(AppModule, { logger: false })
  app.getHttpAdapter().getInstance().set('etag', false)
  let access
  if (kind === 'nest-ours') {
    const { OngoingAccess } = await import('@ongoing/nestjs')
    access = app.get(OngoingAccess)
  }
  return { app, access }
}
