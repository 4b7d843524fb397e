// What requireAccessToken costs inside a real Express 5 request, without sockets, the load
// generator or other processes: the steady measure for changes too small for the HTTP runs' noise.
// Each request is a real IncomingMessage / ServerResponse pair on a socket that discards what is
// written, its header strings fresh (as the HTTP parser gives them); 50 in flight at a time. The
// three apps run in turn in one process, 10 rounds of 20,000 requests each; medians reported.
//
//   pnpm build && node bench/express-in-process.mjs
//   BENCH_APPS=bare,requireAccessToken   only these (the first is the reference)
import { IncomingMessage, ServerResponse } from 'node:http'
import { Duplex } from 'node:stream'
import { requireAccessToken } from '@ongoing/express'
import express from 'express'
import { offlineAccess } from './offline-access.mjs'

const ROUNDS = 10
const REQUESTS = 20_000
const IN_FLIGHT = 50

const access = offlineAccess()
await access.restore('bench-user', {
  accessToken: 'bench-access-token',
  refreshToken: 'bench-rt',
  expiresIn: 3600,
})
const cookie = Buffer.from(`ongoing.uid=${access.sealer.seal('user-key-cookie', 'bench-user')}`)
const host = Buffer.from('127.0.0.1:3000')

function app(...handlers) {
  const a = express()
  a.set('etag', false)
  a.get('/api', ...handlers)
  return a
}
const apps = {
  bare: app((_req, res) => res.send('ok')),
  'no-op async middleware': app(
    async (_req, _res, next) => next(),
    (_req, res) => res.send('ok'),
  ),
  requireAccessToken: app(requireAccessToken(access), (req, res) =>
    res.send(req.ongoing.accessToken ? 'ok' : 'no token'),
  ),
}

class Discard extends Duplex {
  _read() {}
  _write(_chunk, _encoding, callback) {
    callback()
  }
  _writev(_chunks, callback) {
    callback()
  }
}

function request(handler) {
  return new Promise((resolve) => {
    const socket = new Discard()
    socket.setTimeout = () => socket
    const req = new IncomingMessage(socket)
    req.method = 'GET'
    req.url = '/api'
    req.httpVersionMajor = 1
    req.httpVersionMinor = 1
    req.httpVersion = '1.1'
    req.rawHeaders = ['Host', host.latin1Slice(), 'Cookie', cookie.latin1Slice(), 'Connection', 'keep-alive']
    req.complete = true
    req.push(null)
    const res = new ServerResponse(req)
    res.shouldKeepAlive = true
    res.assignSocket(socket)
    res.on('finish', () => {
      res.detachSocket(socket)
      resolve()
    })
    handler(req, res)
  })
}

async function nsPerRequest(handler, n) {
  const start = process.hrtime.bigint()
  for (let i = 0; i < n; i += IN_FLIGHT) {
    const batch = []
    for (let j = 0; j < IN_FLIGHT; j++) batch.push(request(handler))
    await Promise.all(batch)
  }
  return Number(process.hrtime.bigint() - start) / n
}

const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1]
const names = process.env.BENCH_APPS?.split(',') ?? Object.keys(apps)
for (const name of names) await nsPerRequest(apps[name], REQUESTS) // warm-up
const runs = Object.fromEntries(names.map((name) => [name, []]))
for (let round = 0; round < ROUNDS; round++)
  for (const name of names) runs[name].push(await nsPerRequest(apps[name], REQUESTS))

const bare = median(runs[names[0]])
console.log(`Node.js ${process.version}; ${ROUNDS} rounds × ${REQUESTS} requests, ${IN_FLIGHT} in flight`)
for (const name of names) {
  const ns = median(runs[name])
  console.log(
    `${name.padEnd(24)} ${(ns / 1000).toFixed(2).padStart(6)} µs/request (median), +${((ns - bare) / 1000).toFixed(2)} µs over ${names[0]}, ${(bare / ns).toFixed(3)} × ${names[0]}`,
  )
}
