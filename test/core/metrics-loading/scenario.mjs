// Runs @ongoing/core (as built) through refreshes, a dead grant, coalesced calls and a keeper walk,
// and prints what happened, and how often it resolved `@opentelemetry/api`:
//   node scenario.mjs esm|cjs refreshes|cached|disabled [core directory] [--sdk]
// Without a core directory, the workspace's @ongoing/core (which has @opentelemetry/api beside it);
// with one, the package copied there, where @opentelemetry/api cannot be found. `--sdk` registers
// the OpenTelemetry SDK's meter provider (through the API beside this script) and prints what it
// collected. Run it without NODE_PATH (pnpm's scripts set one that finds every package).
import { createRequire, register } from 'node:module'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { MessageChannel } from 'node:worker_threads'

const { port1, port2 } = new MessageChannel()
let apiResolutions = 0
port1.on('message', () => apiResolutions++)
port1.unref()
register('./hooks.mjs', import.meta.url, { data: { port: port2 }, transferList: [port2] })

const unhandled = []
process.on('unhandledRejection', (reason) => unhandled.push(String(reason)))

const [format, which, coreDir] = process.argv.slice(2).filter((arg) => !arg.startsWith('--'))
const withSdk = process.argv.includes('--sdk')
let reader
if (withSdk) {
  const { metrics } = await import('@opentelemetry/api')
  const { MeterProvider, MetricReader } = await import('@opentelemetry/sdk-metrics')
  class Reader extends MetricReader {
    async onForceFlush() {}
    async onShutdown() {}
  }
  reader = new Reader()
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }))
}

const core =
  format === 'cjs'
    ? createRequire(import.meta.url)(
        coreDir === undefined ? '@ongoing/core' : join(coreDir, 'dist/index.cjs'),
      )
    : await import(
        coreDir === undefined ? '@ongoing/core' : pathToFileURL(join(coreDir, 'dist/index.js')).href
      )
const { OngoingAccess } = core

let issued = 0
const access = new OngoingAccess({
  issuer: 'https://as.example',
  endpoints: { authorization: 'https://as.example/authorize', token: 'https://as.example/token' },
  client: { id: 'app', secret: 's' },
  redirectUri: 'https://app.example/auth/callback',
  scope: 'offline_access',
  secret: 'a-secret-of-at-least-thirty-two-characters',
  logger: false,
  ...(which === 'disabled' ? { metrics: false } : {}),
  fetch: async (_url, init) => {
    await new Promise((resolve) => setTimeout(resolve, 20))
    if (init.body.get('refresh_token') === 'rt-dead')
      return Response.json({ error: 'invalid_grant' }, { status: 400 })
    issued++
    return Response.json({
      access_token: `at-${issued}`,
      token_type: 'Bearer',
      expires_in: 3600,
      refresh_token: `rt-${issued}`,
    })
  },
})

const report = { tokens: 0, errors: [] }
if (coreDir !== undefined) {
  try {
    createRequire(join(coreDir, 'package.json')).resolve('@opentelemetry/api')
    report.apiFindable = true
  } catch {
    report.apiFindable = false
  }
}
const record = (promise) =>
  promise.then(
    () => report.tokens++,
    (err) => report.errors.push(err.code ?? String(err)),
  )
if (which === 'cached') {
  await access.restore('u', { accessToken: 'at-0', refreshToken: 'rt-0', expiresIn: 3600 })
  for (let i = 0; i < 100; i++) await record(access.getAccessToken('u'))
} else {
  await access.restore('u', { accessToken: 'at-0', refreshToken: 'rt-0', expiresIn: 0 })
  await access.restore('dead', { accessToken: 'at-d', refreshToken: 'rt-dead', expiresIn: 0 })
  await record(access.getAccessToken('u'))
  await Promise.all(
    Array.from({ length: 5 }, () => record(access.getAccessToken('u', { forceRefresh: true }))),
  )
  await record(access.getAccessToken('dead'))
  const keeper = access.keepFresh({ intervalSeconds: 60, aheadSeconds: 60 })
  report.sweep = await keeper.sweep()
  await new Promise((resolve) => setTimeout(resolve, 100))
  if (reader !== undefined) report.collected = await collected(reader)
  await keeper.stop()
}
await new Promise((resolve) => setTimeout(resolve, 100))
report.sweep = report.sweep === undefined ? undefined : { listed: report.sweep.listed }
report.apiResolutions = apiResolutions
report.unhandled = unhandled
process.stdout.write(JSON.stringify(report))

/** Points by instrument name, keyed by their attributes' values. */
async function collected(metricReader) {
  const { resourceMetrics } = await metricReader.collect()
  const out = {}
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      const points = {}
      for (const point of metric.dataPoints) {
        const key = Object.values(point.attributes).join(',') || '-'
        points[key] = typeof point.value === 'number' ? point.value : point.value.count
      }
      out[metric.descriptor.name] = points
    }
  }
  return out
}
