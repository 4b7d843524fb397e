import { Controller, Get, Header, Inject, UseGuards } from '@nestjs/common'
import { AccessToken, AccessTokenGuard } from '@ongoing/nestjs'
import { renderGenresPage, renderHomePage } from 'example-genrefy'
import { connectUrl } from './config'
import { ListeningService } from './listening.service'

@Controller()
export class GenresController {
  constructor(@Inject(ListeningService) private readonly listening: ListeningService) {}

  @Get()
  @Header('content-type', 'text/html; charset=utf-8')
  home(): string {
    return renderHomePage({ framework: 'NestJS', connectUrl, grantsUrl: '/grants' })
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
