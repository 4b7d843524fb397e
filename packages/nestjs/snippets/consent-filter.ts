// The full form of the README's exception filter: the app of the first example with the filter
// in front of Nest's own, answering in the app's shape. No one has consented, so /history is
// refused by the guard: a fetch gets the 401 (its WWW-Authenticate set before the throw), a
// browser navigation the 302 to the consent route. test/snippets runs it against a local
// authorization server (ISSUER, CLIENT_ID, CLIENT_SECRET, ONGOING_SECRET and PORT from the
// environment).
import assert from 'node:assert/strict'
import { get, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Controller, Get, Module, UseGuards } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { AccessToken, AccessTokenGuard, OngoingAccessModule } from '@ongoing/nestjs'
import type { Response } from 'express'

@Controller('history')
class HistoryController {
  @Get()
  @UseGuards(AccessTokenGuard)
  history(@AccessToken() accessToken: string) {
    return { length: accessToken.length }
  }
}

@Module({
  imports: [
    OngoingAccessModule.forRoot({
      issuer: process.env.ISSUER!,
      client: { id: process.env.CLIENT_ID!, secret: process.env.CLIENT_SECRET! },
      redirectUri: 'http://localhost:3000/auth/callback',
      scope: 'offline_access api:read',
      secret: process.env.ONGOING_SECRET!,
    }),
  ],
  controllers: [HistoryController],
})
class AppModule {}

import { type ArgumentsHost, Catch, type ExceptionFilter } from '@nestjs/common'
import { OngoingAccessException } from '@ongoing/nestjs'

@Catch(OngoingAccessException)
export class ConsentFilter implements ExceptionFilter {
  catch(exception: OngoingAccessException, host: ArgumentsHost) {
    // exception.code, exception.cause (the ConsentRequiredError…), exception.getStatus()
    const response = host.switchToHttp().getResponse<Response>()
    const status = exception.getStatus()
    if (status === 302) return response.status(302).end() // its Location is set already
    const { reason } = exception.cause as { reason?: string }
    response.status(status).json({ error: exception.code, reason })
  }
}

const app = await NestFactory.create(AppModule, { logger: false })
app.useGlobalFilters(new ConsentFilter())
await app.listen(Number(process.env.PORT ?? 3000))
const { port } = app.getHttpServer().address() as AddressInfo

const asFetch = await fetch(`http://localhost:${port}/history`, { headers: { accept: 'application/json' } })
assert.equal(asFetch.status, 401)
assert.match(asFetch.headers.get('www-authenticate') ?? '', /^Bearer error="invalid_token"/)
assert.deepEqual(await asFetch.json(), { error: 'ERR_CONSENT_REQUIRED', reason: 'no_grant' })

// fetch cannot send Sec-Fetch-Mode: navigate (a browser's navigation does), node:http can.
const asNavigation = await new Promise<IncomingMessage>((resolve, reject) => {
  const headers = { accept: 'text/html', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' }
  get(`http://localhost:${port}/history`, { headers }, resolve).on('error', reject)
})
asNavigation.resume()
assert.equal(asNavigation.statusCode, 302)
assert.match(asNavigation.headers.location ?? '', /^\/auth\/consent\?returnTo=(%2F|\/)history$/)
await app.close()
