import { IncomingMessage } from 'node:http'

/** Larger than oidc-provider's own 56 KiB limit, so it still answers oversized bodies itself. */
const MAX_BODY_BYTES = 64 * 1024

/**
 * Reads a request body into memory, or `undefined` once it grows past the limit (the rest is
 * left unread).
 */
export async function readRequestBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req.iterator({ destroyOnReturn: false })) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string)
    size += buffer.length
    if (size > MAX_BODY_BYTES) {
      return undefined
    }
    chunks.push(buffer)
  }
  return Buffer.concat(chunks, size)
}

/**
 * A request identical to `original` whose body is `body` again, for a handler that reads the body
 * itself after we already consumed it.
 */
export function replayRequest(original: IncomingMessage, body: Buffer): IncomingMessage {
  const replay = new IncomingMessage(original.socket)
  replay.method = original.method
  replay.url = original.url
  replay.headers = original.headers
  replay.rawHeaders = original.rawHeaders
  replay.httpVersion = original.httpVersion
  replay.httpVersionMajor = original.httpVersionMajor
  replay.httpVersionMinor = original.httpVersionMinor
  // An incomplete IncomingMessage destroys its socket when it is destroyed itself.
  replay.complete = true
  replay.push(body)
  replay.push(null)
  return replay
}
