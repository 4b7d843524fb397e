#!/usr/bin/env node
// Starts the test authorization server in its own process, prints one line of JSON
// ({ issuer, clients }) to stdout, and stops on SIGTERM or SIGINT. It prints no private key: the
// private_key_jwt client's keys go to a file (--keys-file) when asked for, and the confidential
// client's secret is printed only when it was made up here (with --client-secret, the caller has it).
//
//   ongoing-test-as [--port 0] [--access-ttl 60] [--refresh-ttl 3600] [--no-rotate]
//                   [--redirect-uri URI]... [--scope SCOPE]... [--client-secret SECRET]
//                   [--keys-file PATH]
import { chmodSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import {
  startTestAuthorizationServer,
  type TestAuthorizationServer,
  type TestAuthorizationServerOptions,
} from './authorization-server.js'

const USAGE =
  'usage: ongoing-test-as [--port N] [--access-ttl SECONDS] [--refresh-ttl SECONDS] [--no-rotate] [--redirect-uri URI]... [--scope SCOPE]... [--client-secret SECRET] [--keys-file PATH]'

interface CommandOptions {
  server: TestAuthorizationServerOptions
  keysFile: string | undefined
}

function parseOptions(args: string[]): CommandOptions {
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
      'client-secret': { type: 'string' },
      'keys-file': { type: 'string' },
    },
  })
  const integer = (value: string | undefined): number | undefined =>
    value === undefined ? undefined : /^\d+$/.test(value) ? Number(value) : Number.NaN
  const secret = values['client-secret']
  if (secret !== undefined && secret === '') throw new TypeError('--client-secret must not be empty')
  if (values['keys-file'] === '') throw new TypeError('--keys-file must be a path')
  return {
    server: {
      port: integer(values.port),
      accessTokenTTLSeconds: integer(values['access-ttl']),
      refreshTokenTTLSeconds: integer(values['refresh-ttl']),
      rotateRefreshToken: !values['no-rotate'],
      redirectUris: values['redirect-uri'],
      scopes: values.scope,
      confidentialClientSecret: secret,
    },
    keysFile: values['keys-file'],
  }
}

/** What the command prints of the clients: ids and methods, no private key. */
function printableClients(server: TestAuthorizationServer, options: CommandOptions): object {
  const { confidential, privateKeyJwt } = server.clients
  return {
    confidential:
      options.server.confidentialClientSecret === undefined ? confidential : { id: confidential.id },
    privateKeyJwt: {
      id: privateKeyJwt.id,
      algorithms: Object.keys(privateKeyJwt.keys),
      ...(options.keysFile === undefined ? {} : { keysFile: options.keysFile }),
    },
    public: server.clients.public,
  }
}

async function main(): Promise<void> {
  let options: CommandOptions
  let server: TestAuthorizationServer
  try {
    options = parseOptions(process.argv.slice(2))
    server = await startTestAuthorizationServer(options.server)
  } catch (error) {
    // parseArgs and option validation both throw TypeError: a usage error, not a crash.
    if (!(error instanceof TypeError)) {
      throw error
    }
    process.stderr.write(`${error.message}\n${USAGE}\n`)
    process.exit(2)
  }
  if (options.keysFile !== undefined) {
    // Readable by this user only: private keys.
    writeFileSync(options.keysFile, `${JSON.stringify(server.clients.privateKeyJwt.keys)}\n`, { mode: 0o600 })
    chmodSync(options.keysFile, 0o600)
  }
  const stop = (): void => {
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
  process.stdout.write(
    `${JSON.stringify({ issuer: server.issuer, clients: printableClients(server, options) })}\n`,
  )
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(1)
})
