import type { IncomingMessage } from 'node:http'

/**
 * What the reader needs of a Node request stream (an `http.IncomingMessage`), whatever the framework.
 */
export type SwapRequestStream = Pick<
  IncomingMessage,
  'readableEnded' | 'headers' | 'on' | 'off' | 'resume' | 'destroy'
>

/**
 * Past the limit, at most this many more bytes are read and thrown away (so that the answer
 * reaches a client still sending, and the connection can be reused); past that, the connection
 * is destroyed.
 */
const DISCARD_BYTES = 1024 * 1024

/**
 * The body of a token swap request, as `TokenSwapService` wants it: the raw text, or `undefined`
 * when it is larger than `limit` bytes. Reads at most `limit + 1` bytes for the service, then
 * drains the rest within a bound. When something before us (a body parser) has already consumed
 * the stream, its result is used instead (`parsed`: a string, a Buffer, or a parsed form).
 * For adapters: Express, Koa and Nest hand it their Node request.
 *
 * @example
 * ```ts
 * const body = await readSwapRequestBody(req, service.maxBodyBytes, req.body)
 * const answer = await service.swap({ contentType: req.headers['content-type'], body, clientAddress: req.ip })
 * ```
 */
export function readSwapRequestBody(
  req: SwapRequestStream,
  limit: number,
  parsed: unknown,
): Promise<string | undefined> {
  if (req.readableEnded) return Promise.resolve(serializeParsedBody(parsed))
  if (Number(req.headers['content-length']) > limit) {
    discard(req)
    return Promise.resolve(undefined)
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let size = 0
    const done = (body: string | undefined) => {
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onAbort)
      req.off('close', onAbort)
      resolve(body)
    }
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size <= limit) {
        chunks.push(chunk)
        return
      }
      done(undefined)
      discard(req)
    }
    const onEnd = () => done(Buffer.concat(chunks).toString('utf8'))
    // The client went away: nobody reads the answer, and nothing reaches the server.
    const onAbort = () => done(undefined)
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', onAbort)
    req.on('close', onAbort)
  })
}

function discard(req: SwapRequestStream): void {
  let left = DISCARD_BYTES
  req.on('data', (chunk: Buffer) => {
    left -= chunk.length
    if (left < 0) req.destroy()
  })
  req.on('error', () => {}) // a destroyed or reset request: nothing left to do
  req.resume()
}

/** A body parser's result, back as form text: strings kept, repeated fields repeated, the rest dropped. */
function serializeParsedBody(parsed: unknown): string {
  if (typeof parsed === 'string') return parsed
  if (Buffer.isBuffer(parsed)) return parsed.toString('utf8')
  const form = new URLSearchParams()
  if (parsed !== null && typeof parsed === 'object') {
    for (const [name, value] of Object.entries(parsed)) {
      for (const item of Array.isArray(value) ? value : [value]) {
        if (typeof item === 'string') form.append(name, item)
      }
    }
  }
  return form.toString()
}
