import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { connect } from 'node:net'
import { describe, expect, it } from 'vitest'
import { cookieHeaderOf, readCookie } from '../src/adapter.js'

describe('readCookie', () => {
  it.each<[string | undefined, string | undefined]>([
    ['a=1; ongoing.uid=abc; b=2', 'abc'],
    ['ongoing.uid=abc', 'abc'],
    ['ongoing.uid=abc;b=2', 'abc'],
    ['b=2;  ongoing.uid= abc ', 'abc'],
    ['x-ongoing.uid=evil; b=2', undefined],
    ['b=ongoing.uid=evil', undefined],
    ['ongoing.uid=one; ongoing.uid=two', undefined],
    ['x-ongoing.uid=evil; ongoing.uid=good', 'good'],
    ['', undefined],
    [undefined, undefined],
    [`ongoing.uid=abc; big=${'x'.repeat(9000)}`, undefined],
  ])('%j → %j', (header, expected) => {
    expect(readCookie(header, 'ongoing.uid')).toBe(expected)
  })
})

describe('cookieHeaderOf', () => {
  it.each<[string[], string | undefined]>([
    [['Host', 'x', 'Cookie', 'a=1; b=2'], 'a=1; b=2'],
    [['host', 'x', 'cookie', 'a=1'], 'a=1'],
    [['Cookie', 'a=1', 'Accept', '*/*', 'COOKIE', 'b=2'], 'a=1; b=2'],
    [['Host', 'x', 'Cookies', 'a=1', 'X-Cookie', 'b=2'], undefined],
    [[], undefined],
  ])('%j → %j', (rawHeaders, expected) => {
    expect(cookieHeaderOf({ rawHeaders, headers: {} })).toBe(expected)
  })

  it('falls back to headers.cookie without rawHeaders', () => {
    expect(cookieHeaderOf({ headers: { cookie: 'a=1' } })).toBe('a=1')
  })

  it('gives what Node gives as headers.cookie, on a real request with two Cookie fields', async () => {
    const seen = await new Promise<{ ours: string | undefined; node: string | undefined }>(
      (resolve, reject) => {
        const server = createServer((req, res) => {
          const ours = cookieHeaderOf(req) // before headers is built
          resolve({ ours, node: req.headers.cookie })
          res.end()
          server.close()
        })
        server.listen(0, '127.0.0.1', () => {
          const { port } = server.address() as AddressInfo
          const socket = connect(port, '127.0.0.1', () =>
            socket.end(
              'GET / HTTP/1.1\r\nHost: x\r\nCookie: a=1\r\nAccept: */*\r\ncookie: ongoing.uid=k\r\n\r\n',
            ),
          )
          socket.on('error', reject)
          socket.resume()
        })
      },
    )
    expect(seen.ours).toBe('a=1; ongoing.uid=k')
    expect(seen.ours).toBe(seen.node)
  })
})
