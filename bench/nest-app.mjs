// The NestJS (Express platform) apps of the bench. createNestApp, shared by bench/contender.mjs
// (over HTTP) and bench/express-in-process.mjs (in process): GET /api answers "ok" once the
// handler has (or, for the bare and no-op kinds, would have) the user's access token.
// createNestCaptureApp, for bench/request-costs.mjs: GET /api hands over its request.
//
//   kind: nest-bare | nest-noop | nest-floor | nest-ours;  param: a custom parameter decorator on nest-bare
//   nest-floor: the shape of nest-ours with nothing in it (a synchronous no-op guard and a no-op
//   parameter decorator): what Nest itself charges for a guard and a decorator
//   accessOptions: the OngoingAccessModule.forRoot options of nest-ours
const BODY = 'ok'

/** Applies method decorators, as TypeScript's `@` would, to `target.prototype[name]`. */
function decorateMethod(target, name, decorators) {
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
}

/**
 * A Nest application (Express platform, not listening, no log, ETags off) of one module with
 * `controller` and `imports`. A failure to start is thrown, not turned into `process.exit(1)`.
 */
async function nestApplication(controller, imports) {
  const { Module } = await import('@nestjs/common')
  const { NestFactory } = await import('@nestjs/core')
  class AppModule {}
  Module({ imports, controllers: [controller] })(AppModule)
  const app = await NestFactory.create(AppModule, { logger: false, abortOnError: false })
  app.getHttpAdapter().getInstance().set('etag', false)
  return app
}

/**
 * The Nest application, not listening; for nest-ours, also its injected `OngoingAccess`; and its
 * controller class, whose metadata says what is on the route.
 */
export async function createNestApp(kind, { param = false, accessOptions } = {}) {
  await import('reflect-metadata')
  const { Controller, createParamDecorator, Get, Injectable, UseGuards } = await import('@nestjs/common')

  class ApiController {
    get(accessToken) {
      return accessToken === undefined || accessToken ? BODY : 'no token'
    }
  }
  Controller('api')(ApiController)
  const imports = []
  const guards = []
  // A custom parameter decorator that gives a constant: what any such decorator costs in Nest (its
  // pipes run, asynchronously).
  const constantParam = () => createParamDecorator(() => 'x')()(ApiController.prototype, 'get', 0)
  const noopGuard = (canActivate) => {
    class NoopGuard {}
    NoopGuard.prototype.canActivate = canActivate
    Injectable()(NoopGuard)
    return NoopGuard
  }
  switch (kind) {
    case 'nest-bare':
      if (param) constantParam()
      break
    case 'nest-noop':
      guards.push(noopGuard(async () => true))
      break
    case 'nest-floor':
      guards.push(noopGuard(() => true))
      constantParam()
      break
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
  const app = await nestApplication(ApiController, imports)
  let access
  if (kind === 'nest-ours') {
    const { OngoingAccess } = await import('@ongoing/nestjs')
    access = app.get(OngoingAccess)
  }
  return { app, access, controller: ApiController }
}

/**
 * A Nest application with `OngoingAccessModule`, initialized, not listening, whose `GET /api` hands
 * each request and response to `onRequest` and answers "ok" (no guard on it). Also its
 * `OngoingAccess` and an `AccessTokenGuard` to call by hand (Nest makes one for `GET /api/guarded`,
 * which nothing requests).
 */
export async function createNestCaptureApp(onRequest, accessOptions) {
  await import('reflect-metadata')
  const { Controller, Get, Req, Res, UseGuards } = await import('@nestjs/common')
  const { AccessTokenGuard, OngoingAccess, OngoingAccessModule } = await import('@ongoing/nestjs')
  class CaptureController {
    get(req, res) {
      onRequest(req, res)
      return BODY
    }
    guarded() {
      return BODY
    }
  }
  Controller('api')(CaptureController)
  Req()(CaptureController.prototype, 'get', 0)
  Res({ passthrough: true })(CaptureController.prototype, 'get', 1)
  decorateMethod(CaptureController, 'get', [Get()])
  decorateMethod(CaptureController, 'guarded', [Get('guarded'), UseGuards(AccessTokenGuard)])
  const app = await nestApplication(CaptureController, [OngoingAccessModule.forRoot(accessOptions)])
  await app.init()
  return {
    handler: app.getHttpAdapter().getInstance(),
    access: app.get(OngoingAccess),
    guard: app.get(AccessTokenGuard, { strict: false }),
  }
}
