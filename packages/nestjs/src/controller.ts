import type { ServerResponse } from 'node:http'
import { Controller, Get, Inject, Post, Req, Res, type Type } from '@nestjs/common'
import type { Request } from 'express'
import { OngoingWeb } from './ongoing-web.js'

/**
 * A fresh controller class for each `forRoot`/`forRootAsync`, so two apps in one process (tests)
 * never share route metadata. Its paths are set by {@link routeConsentController}.
 */
export function createConsentController(): Type<unknown> {
  @Controller()
  class OngoingConsentController {
    constructor(@Inject(OngoingWeb) private readonly web: OngoingWeb) {}

    @Get('consent')
    consent(@Req() req: Request, @Res() res: ServerResponse): Promise<void> {
      return this.web.consent(req, res)
    }

    @Get('callback')
    callback(@Req() req: Request, @Res() res: ServerResponse): Promise<void> {
      return this.web.callback(req, res)
    }

    @Post('refresh')
    refresh(@Req() req: Request, @Res() res: ServerResponse): Promise<void> {
      return this.web.refresh(req, res)
    }

    @Post('disconnect')
    disconnect(@Req() req: Request, @Res() res: ServerResponse): Promise<void> {
      return this.web.disconnect(req, res)
    }
  }
  return OngoingConsentController
}

/**
 * Sets the controller's path (`path`, or the parent of `redirectUri`'s path) and its callback
 * route (the last segment of `redirectUri`'s path). Runs when the options are known, which for
 * `forRootAsync` is when providers are created: before Nest registers routes (`app.init()`).
 */
export function routeConsentController(controller: Type<unknown>, callbackPath: string, path?: string): void {
  const slash = callbackPath.lastIndexOf('/')
  Controller(path ?? (callbackPath.slice(0, slash) || '/'))(controller)
  const prototype = controller.prototype as object
  const callback = Object.getOwnPropertyDescriptor(prototype, 'callback') as PropertyDescriptor
  Get(callbackPath.slice(slash + 1))(prototype, 'callback', callback)
}
