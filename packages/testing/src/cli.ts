#!/usr/bin/env node
// Starts the test authorization server in its own process, prints one line of JSON
// ({ issuer, clients }) to stdout, and stops on SIGTERM or SIGINT.
//
//   ongoing-test-as [--port 0] [--access-ttl 60] [--refresh-ttl 3600] [--no-rotate]
//                   [--redirect-uri URI]... [--scope SCOPE]...
import { parseArgs } from 'node:util'
import {
  startTestAuthorizationServer,
  type TestAuthorizationServer,
  type TestAuthorizationServerOptions,
} from './authorization-server.js'

const USAGE =
  'usage: ongoing-test-as [--port N] [--access-ttl SECONDS] [--refresh-ttl SECONDS] [--no-rotate] [--redirect-uri URI]... [--scope SCOPE]...'

function parseOptions(args: string[]): TestAuthorizationServerOptions {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      port: { type: 'string' },
      'access-ttl': { type: 'string' },
      'refresh-ttl': { type: 'string' },
      'no-rotate': { type: 'boolean' },
      'redirect-uri': { type: 'string', multiple: true },
      scope: { type: 'string', multiple: true },
    },
  })
  const integer = (value: string | undefined): number | undefined =>
    value === undefined ? undefined : /^\d+$/.test(value) ? Number(value) : Number.NaN
  return {
    port: integer(values.port),
    accessTokenTTLSeconds: integer(values['access-ttl']),
    refreshTokenTTLSeconds: integer(values['refresh-ttl']),
    rotateRefreshToken: !values['no-rotate'],
    redirectUris: values['redirect-uri'],
    scopes: values.scope,
  }
}

async function main(): Promise<void> {
  let server: TestAuthorizationServer
  try {
    server = await startTestAuthorizationServer(parseOptions(process.argv.slice(2)))
  } catch (error) {
    // parseArgs and option validation both throw TypeError: a usage error, not a crash.
    if (!(error instanceof TypeError)) {
      throw error
    }
    process.stderr.write(`${error.message}\n${USAGE}\n`)
    process.exit(2)
  }
  const stop = (): void => {
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
  process.stdout.write(`${JSON.stringify({ issuer: server.issuer, clients: server.clients })}\n`)
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(1)
})
