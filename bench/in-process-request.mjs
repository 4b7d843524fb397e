// Real Express requests without sockets, for the scripts that measure inside a request
// (bench/express-in-process.mjs, bench/request-costs.mjs): each request is a real IncomingMessage /
// ServerResponse pair on a socket that discards what is written, its header strings fresh, as the
// HTTP parser gives them.
import { IncomingMessage, ServerResponse } from 'node:http'
import { Duplex } from 'node:stream'

/** A socket that discards what is written. */
export class Discard extends Duplex {
  _read() {}
  _write(_chunk, _encoding, callback) {
    callback()
  }
  _writev(_chunks, callback) {
    callback()
  }
}

/** A socket that keeps what is written, for the one request that checks an app's answer. */
export class Keep extends Discard {
  written = ''
  _write(chunk, _encoding, callback) {
    this.written += chunk.toString('latin1')
    callback()
  }
  _writev(chunks, callback) {
    for (const { chunk } of chunks) this.written += chunk.toString('latin1')
    callback()
  }
}

/**
 * `request(handler, socket?)`: hands `handler` a fresh `GET /api` carrying the `Cookie` header
 * `cookieHeader`; resolves to the status code once the answer is written.
 */
export function requestsWithCookie(cookieHeader) {
  const cookie = Buffer.from(cookieHeader)
  const host = Buffer.from('127.0.0.1:3000')
  return function request(handler, socket = new Discard()) {
    return new Promise((resolve) => {
      socket.setTimeout = () => socket
      const req = new IncomingMessage(socket)
      req.method = 'GET'
      req.url = '/api'
      req.httpVersionMajor = 1
      req.httpVersionMinor = 1
      req.httpVersion = '1.1'
      // latin1Slice makes a new string each time, as the parser does for every request.
      req.rawHeaders = [
        'Host',
        host.latin1Slice(),
        'Cookie',
        cookie.latin1Slice(),
        'Connection',
        'keep-alive',
      ]
      req.complete = true
      req.push(null)
      const res = new ServerResponse(req)
      res.shouldKeepAlive = true
      res.assignSocket(socket)
      res.on('finish', () => {
        res.detachSocket(socket)
        resolve(res.statusCode)
      })
      handler(req, res)
    })
  }
}
