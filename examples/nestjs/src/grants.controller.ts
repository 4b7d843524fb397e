import { Controller, Get, Header, Inject } from '@nestjs/common'
import { OngoingAccess } from '@ongoing/nestjs'
import { firstGrants, renderGrantsPage } from 'example-genrefy'
import { ListeningService } from './listening.service'

// The grants' health, for the operator: every grant in the store with its status, when it is
// refreshed next, its failures and last error, and why it needs the user back; never a token.
// A demo page: a real app serves it behind its admin sign-in (a guard of its own), never to its users.
@Controller('grants')
export class GrantsController {
  constructor(
    @Inject(OngoingAccess) private readonly access: OngoingAccess,
    @Inject(ListeningService) private readonly listening: ListeningService,
  ) {}

  @Get()
  @Header('content-type', 'text/html; charset=utf-8')
  @Header('cache-control', 'no-store')
  async list(): Promise<string> {
    // The first 100, however many there are.
    const { grants, more } = await firstGrants(this.access.grants(), 100)
    return renderGrantsPage({ framework: 'NestJS', grants, more, job: this.listening.job })
  }
}
