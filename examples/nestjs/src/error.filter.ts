import { type ArgumentsHost, Catch } from '@nestjs/common'
import { BaseExceptionFilter } from '@nestjs/core'
import { OngoingAccessException } from '@ongoing/nestjs'
import { renderErrorPage } from 'example-genrefy'
import type { Response } from 'express'
import { connectUrl } from './config'

// Errors from @ongoing arrive as OngoingAccessException, with a stable `code`, the HTTP status (a
// cancelled consent: 403) and the headers to send. Show them as a page; but "consent required" is
// the library's to answer (a redirect to consent, or a 401 for a JSON client).
@Catch(OngoingAccessException)
export class OngoingErrorFilter extends BaseExceptionFilter {
  override catch(exception: OngoingAccessException, host: ArgumentsHost): void {
    if (exception.code === 'ERR_CONSENT_REQUIRED') {
      super.catch(exception, host)
      return
    }
    const res = host.switchToHttp().getResponse<Response>()
    res.status(exception.getStatus()).set(exception.headers).type('html')
    res.send(renderErrorPage({ framework: 'NestJS', code: exception.code, connectUrl }))
  }
}
