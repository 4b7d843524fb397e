import type { ServerResponse } from 'node:http'
import { readSwapRequestBody, type TokenSwapService } from '@ongoing/core/adapter'
import type { Request } from 'express'

/** @internal The request conversion of the token swap routes, shared by the controller and `tokenSwapRouter`. */
export class TokenSwapWeb {
  constructor(readonly service: TokenSwapService) {}

  /** Reads the request (or what Nest's body parser made of it), runs `operation` and writes its JSON answer. */
  async answer(req: Request, res: ServerResponse, operation: 'swap' | 'refresh'): Promise<void> {
    const body = await readSwapRequestBody(req, this.service.maxBodyBytes, req.body)
    const response = await this.service[operation]({
      contentType: req.headers['content-type'],
      body,
      clientAddress: req.ip ?? req.socket.remoteAddress ?? '',
    })
    res.statusCode = response.status
    for (const [name, value] of Object.entries(response.headers)) res.setHeader(name, value)
    res.setHeader('content-type', 'application/json; charset=utf-8')
    res.end(JSON.stringify(response.json))
  }
}
