// The full form of the OpenTelemetry snippet of the README: the SDK's meter provider registered as
// the snippet does, then a grant whose access token has expired is refreshed by the keeper's walk,
// and what the console exporter prints names ongoing's instruments. The grant is imported with
// tokens from a consent made without ongoing (the headless consent driver of @ongoing/testing plays
// the user). test/snippets runs it against a local authorization server (ISSUER, CLIENT_ID,
// CLIENT_SECRET and ONGOING_SECRET from the environment).
// The snippet's imports stand where it has them; imports run first wherever they stand, then the
// statements in order, so the lines above the snippet run before it.
// ../harness.js is test/snippets/harness.ts, written beside this file's folder in the project the test makes.

import assert from 'node:assert/strict'
import { tokensFromBefore } from '../harness.js'

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

const tokens = await tokensFromBefore()
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
