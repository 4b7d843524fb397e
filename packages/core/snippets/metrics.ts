// The full form of the OpenTelemetry snippet of the README: the SDK's meter provider registered as
// the snippet does, then a grant whose access token has expired is refreshed by the keeper's walk,
// and what the console exporter prints names ongoing's instruments. The grant is imported with
// tokens from a consent made without ongoing (the headless consent driver of @ongoing/testing plays
// the user). test/snippets runs it against a local authorization server (ISSUER, CLIENT_ID,
// CLIENT_SECRET and ONGOING_SECRET from the environment).
// The snippet's imports stand where it has them; imports run first wherever they stand, then the
// statements in order, so the lines above the snippet run before it.
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'

// The app's options.
const options = {
  issuer: process.env.ISSUER!,
  client: { id: process.env.CLIENT_ID!, secret: process.env.CLIENT_SECRET! },
  redirectUri: 'http://localhost:3000/auth/callback',
  scope: 'offline_access api:read',
  secret: process.env.ONGOING_SECRET!,
}

import { OngoingAccess } from '@ongoing/core'
import { metrics } from '@opentelemetry/api'
import {
  ConsoleMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics'

// At startup, before the first refresh (any exporter will do: OTLP, Prometheus…).
metrics.setGlobalMeterProvider(
  new MeterProvider({
    readers: [
      new PeriodicExportingMetricReader({
        exporter: new ConsoleMetricExporter(),
        exportIntervalMillis: 60_000,
      }),
    ],
  }),
)

const access = new OngoingAccess(options) // records through the global meter provider
const keeper = access.keepFresh() // …and reports grants by status after each walk

const tokens = await consentWithoutOngoing()
await access.restore('user-42', {
  accessToken: tokens.access_token,
  refreshToken: tokens.refresh_token,
  expiresIn: 0,
})
await keeper.sweep()
assert.equal(keeper.lastSweep?.refreshed, 1)

// The console exporter prints each metric with console.dir: keep what it prints.
const exported: { descriptor: { name: string } }[] = []
console.dir = (item: unknown) => exported.push(item as { descriptor: { name: string } })
const provider = metrics.getMeterProvider() as MeterProvider
await provider.forceFlush()
const names = exported.map((item) => item.descriptor.name)
assert.ok(names.includes('ongoing.refreshes'), names.join(', '))
assert.ok(names.includes('ongoing.refresh.duration'), names.join(', '))
assert.ok(names.includes('ongoing.grant.count'), names.join(', '))
keeper.stop()
access.close()
await provider.shutdown()

/** An authorization code grant made by hand (RFC 6749 §4.1, PKCE): tokens ongoing did not get. */
async function consentWithoutOngoing() {
  const { driveConsent } = await import('@ongoing/testing')
  const issuer = process.env.ISSUER!
  const redirectUri = 'http://127.0.0.1:3000/callback'
  const verifier = randomBytes(32).toString('base64url')
  const authorize = new URL('/auth', issuer)
  authorize.search = new URLSearchParams({
    response_type: 'code',
    client_id: process.env.CLIENT_ID!,
    redirect_uri: redirectUri,
    scope: 'offline_access api:read',
    state: randomBytes(16).toString('base64url'),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  }).toString()
  const callback = await driveConsent(authorize, { redirectUriPrefix: redirectUri })
  const response = await fetch(new URL('/token', issuer), {
    method: 'POST',
    headers: {
      authorization: `Basic ${btoa(`${process.env.CLIENT_ID}:${process.env.CLIENT_SECRET}`)}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: callback.searchParams.get('code')!,
      redirect_uri: redirectUri,
      code_verifier: verifier,
    }),
  })
  assert.equal(response.status, 200)
  return (await response.json()) as { access_token: string; refresh_token: string }
}
