import { Controller, Get, Header, Inject, Req, UseGuards } from '@nestjs/common'
import { OngoingRoutes } from '@ongoing/core/adapter'
import { AccessToken, AccessTokenGuard, OngoingAccess } from '@ongoing/nestjs'
import { renderGenresPage, renderHomePage } from 'example-genrefy'
import type { Request } from 'express'
import { connectUrl, cookieName } from './config'
import { ListeningService } from './listening.service'

@Controller()
export class GenresController {
  // Reads the user key the module's routes keep in their sealed cookie (`cookieName` as given to
  // OngoingAccessModule.forRoot).
  private readonly userKeys: OngoingRoutes

  constructor(
    @Inject(ListeningService) private readonly listening: ListeningService,
    @Inject(OngoingAccess) private readonly access: OngoingAccess,
  ) {
    this.userKeys = new OngoingRoutes(access, { cookieName })
  }

  // The home page shows whether this browser's user is connected: inspect() reads the grant's
  // health, never a token.
  @Get()
  @Header('content-type', 'text/html; charset=utf-8')
  @Header('cache-control', 'no-store')
  async home(@Req() req: Request): Promise<string> {
    const userKey = this.userKeys.userKeyFromNodeRequest(req)
    const grant = userKey === undefined ? undefined : await this.access.inspect(userKey)
    return renderHomePage({ framework: 'NestJS', connectUrl, grantsUrl: '/grants', grant })
  }

  // 3. AccessTokenGuard: a fresh token for the caller's grant, refreshed when needed. No grant yet
  //    (or a dead one)? The browser is sent to /auth/consent and comes back here.
  @Get('genres')
  @UseGuards(AccessTokenGuard)
  @Header('content-type', 'text/html; charset=utf-8')
  async genres(
    @AccessToken() accessToken: string,
    @AccessToken('expiresAt') expiresAt: number,
    @AccessToken('userKey') userKey: string,
  ): Promise<string> {
    const history = await this.listening.historyOf(accessToken)
    const status = this.listening.statusOf(userKey, expiresAt)
    return renderGenresPage({ framework: 'NestJS', history, status, refreshUrl: '/auth/refresh' })
  }
}
