// What each step of the hot path costs, in nanoseconds, on Express's requests
// (requireAccessToken) or on NestJS's (AccessTokenGuard, Express platform): finer than a CPU
// profile's samples and steadier than bench/express-in-process.mjs, which times whole requests.
// Every step is timed on real requests (bench/in-process-request.mjs) taken fresh for it: each
// round, for each step in an order rotated by the round, 50 requests go through an app whose route
// keeps their (req, res) and answers; the step then runs once on each of the 50 (after its
// `before`, not timed), and its time per request, less the same round's empty step, is that
// round's figure. The table gives the median and quartiles over the rounds.
//
// Express sets the prototype of every request, and V8 then gives each one a hidden class of its
// own (see RequestProperty in @ongoing/core): it has never seen a request's class when a step
// first looks something up on it, as in a server; the reference rows show what such first lookups
// cost whatever the code. A step runs hot here (the same code 50 times in a row), so in a server,
// between the server's other work, each costs more (see BENCHMARKS.md).
//
//   pnpm build && taskset -c 1 node bench/request-costs.mjs   (about 10 s)
//   BENCH_FRAMEWORK=express (the default) | nest
//   BENCH_ROUNDS=400 (the default; the first 40, or a quarter of fewer, warm up), BENCH_JSON=1 for JSON
import { OngoingRoutes, RequestProperty } from '@ongoing/core/adapter'
import { requireAccessToken } from '@ongoing/express'
import express from 'express'
import { requestsWithCookie } from './in-process-request.mjs'
import { createNestCaptureApp } from './nest-app.mjs'
import { BENCH_USER, offlineAccess, offlineAccessOptions, seedGrant } from './offline-access.mjs'
import { percentile } from './stats.mjs'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 400)
const WARM_UP_ROUNDS = Math.min(40, Math.floor(ROUNDS / 4))
const BATCH = 50

const noop = () => {}
let batch = []
const keep = (req, res) => batch.push([req, res])

/**
 * The app whose requests the steps run on, its `OngoingAccess`, and what protects a route there
 * (`protect(req, res)`, named `protection`): Express with `requireAccessToken`, or NestJS (Express
 * platform) with `AccessTokenGuard`.
 */
async function framework(name) {
  if (name === 'express') {
    const access = offlineAccess()
    const middleware = requireAccessToken(access)
    const handler = express()
    handler.set('etag', false)
    handler.get('/api', (req, res) => {
      keep(req, res)
      res.send('ok')
    })
    return {
      handler,
      access,
      protection: 'requireAccessToken(access), a cached token',
      protect: (req, res) => middleware(req, res, noop),
    }
  }
  if (name === 'nest') {
    const { ExecutionContextHost } = await import('@nestjs/core/helpers/execution-context-host.js')
    const { handler, access, guard } = await createNestCaptureApp(keep, offlineAccessOptions())
    return {
      handler,
      access,
      protection: 'AccessTokenGuard.canActivate(context), a cached token',
      protect: (req, res) => {
        if (guard.canActivate(new ExecutionContextHost([req, res, noop])) !== true)
          throw new Error('AccessTokenGuard did not let a request with a cached token through')
      },
    }
  }
  throw new Error(`BENCH_FRAMEWORK must be express or nest, not ${name}`)
}

const FRAMEWORK = process.env.BENCH_FRAMEWORK ?? 'express'
const { handler, access, protection, protect } = await framework(FRAMEWORK)
const request = requestsWithCookie(await seedGrant(access))
const routes = new OngoingRoutes(access)
const ongoing = new RequestProperty('ongoing') // the accessor the adapters use (one per name)
const state = { accessToken: 'bench-access-token', expiresAt: Date.now() + 3_600_000, userKey: BENCH_USER }
// A data property of the app's request prototype that nothing else reads.
Object.defineProperty(handler.request, 'benchProbe', { value: 1, configurable: true })

/** 50 requests the app has just answered, as [req, res]. */
async function freshBatch() {
  batch = []
  const answers = []
  for (let i = 0; i < BATCH; i++) answers.push(request(handler))
  for (const status of await Promise.all(answers)) if (status !== 200) throw new Error(`answered ${status}`)
  return batch
}

/** name → { step(req, res), before?(req, res) }; the first is the empty step every row is less. */
const steps = {
  'empty step (subtracted from every row)': { step: (req) => req },
  [protection]: { step: protect },
  '  finding the user key (the sealed cookie, cached)': {
    step: (req) => routes.userKeyFromNodeRequest(req),
  },
  '  requestState(userKey): the cached token and the state': { step: () => routes.requestState(BENCH_USER) },
  '    of which Date.now()': { step: () => Date.now() },
  '  RequestProperty.set(req, state, res)': { step: (req, res) => ongoing.set(req, state, res) },
  'req.ongoing, read after it (the handler)': { step: (req) => req.ongoing, before: protect },
  'ongoing.get(req, res), read after it (@AccessToken())': {
    step: (req, res) => ongoing.get(req, res),
    before: protect,
  },
  'reference: req.rawHeaders (own data property)': { step: (req) => req.rawHeaders },
  'reference: res.locals (own data property)': { step: (_req, res) => res.locals },
  "reference: a data property of the app's request prototype": { step: (req) => req.benchProbe },
  "reference: req.path (Express's own accessor)": { step: (req) => req.path },
}
const names = Object.keys(steps)
const perRound = Object.fromEntries(names.map((name) => [name, []]))

for (let round = 0; round < ROUNDS; round++) {
  const times = {}
  for (let k = 0; k < names.length; k++) {
    const name = names[(k + round) % names.length]
    const { step, before } = steps[name]
    const pairs = await freshBatch()
    if (before) for (const [req, res] of pairs) before(req, res)
    let sink = 0
    const start = process.hrtime.bigint()
    for (let i = 0; i < pairs.length; i++) if (step(pairs[i][0], pairs[i][1]) === sink) sink++
    times[name] = Number(process.hrtime.bigint() - start) / pairs.length
  }
  if (round >= WARM_UP_ROUNDS) for (const name of names) perRound[name].push(times[name] - times[names[0]])
}

// The steps did what they are named for.
for (const [req, res] of await freshBatch()) {
  protect(req, res)
  if (req.ongoing?.accessToken !== state.accessToken || ongoing.get(req, res) !== req.ongoing)
    throw new Error(`${protection} did not leave the token where req.ongoing and get(req, res) read it`)
}

const rows = names.slice(1).map((name) => ({
  step: name,
  ns: Math.round(percentile(perRound[name], 50)),
  p25: Math.round(percentile(perRound[name], 25)),
  p75: Math.round(percentile(perRound[name], 75)),
}))
if (process.env.BENCH_JSON) {
  console.log(
    JSON.stringify({
      framework: FRAMEWORK,
      node: process.version,
      rounds: ROUNDS - WARM_UP_ROUNDS,
      batch: BATCH,
      rows,
    }),
  )
} else {
  console.log(
    `${FRAMEWORK}, Node.js ${process.version}; ${ROUNDS - WARM_UP_ROUNDS} rounds of ${BATCH} fresh requests per step (after ${WARM_UP_ROUNDS} to warm up); ns per request, less the empty step: median (p25–p75)`,
  )
  for (const { step, ns, p25, p75 } of rows)
    console.log(`${step.padEnd(58)} ${String(ns).padStart(5)}  (${p25}–${p75})`)
}
