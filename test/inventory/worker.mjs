// One app instance in its own process, for the inventory tests (issue 20): an OngoingAccess on a
// MemoryTokenStore or a RedisTokenStore, driven by its parent over IPC. Imports the built packages
// (run `pnpm build`). Run with --expose-gc for the `heap` command.
//
// parent → worker: { id, type, ...arguments }; worker → parent: { id, type: 'done', ...result } or
// { id, type: 'failed', message }.
//   init      { config }                      the access (discovery done, Redis connected)
//   seed      { userKeys, concurrency }       restores a grant (made-up tokens) for each user key
//   heap      { grants, walks }               walks of grants() ({ pageSize, sampleEvery } each), the heap measured (needs gc)
//   walk      { pageSize, pauseMs }           one walk of grants(): the user keys, in order
//   write     { existing, concurrency }       starts writing: new grants, rewrites, revokes
//   stopWrite {}                              stops writing: what was written
//   keep      { keeper, users, probePauseMs } starts a keeper, and probes random users' tokens
//   stopKeep  { }                             stops both: probes, token calls, refreshes, sweeps
//   exit      {}
//
// Token values never leave the process: what it reports carries a short SHA-256 digest of each.
import { createHash } from 'node:crypto'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { getHeapSpaceStatistics } from 'node:v8'
import { MemoryTokenStore, OngoingAccess } from '@ongoing/core'
import { RedisTokenStore } from '@ongoing/redis'

let access
let store
let config
let writing
let keeping

const send = (message) => process.send?.(message)
const digest = (value) => createHash('sha256').update(value).digest('base64url').slice(0, 16)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
/** Wall-clock ms with sub-ms precision, comparable across processes. */
const clock = () => performance.timeOrigin + performance.now()

/** Runs `task(item)` for every item, `concurrency` at a time. */
async function pool(items, concurrency, task) {
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await task(items[next++])
    }),
  )
}

/** Refresh token calls this process makes: what was sent and received (digests), and when. */
const tokenCalls = []

function recordingFetch(issuer) {
  const tokenEndpoint = `${issuer}/token`
  return async (input, init) => {
    const url = input instanceof Request ? input.url : String(input)
    const sent = init?.body instanceof URLSearchParams ? init.body.get('refresh_token') : null
    if (url !== tokenEndpoint || sent === null) return fetch(input, init)
    const call = { sent: digest(sent), start: clock(), end: 0, received: undefined, status: 0 }
    tokenCalls.push(call)
    const response = await fetch(input, init)
    call.status = response.status
    const body = await response
      .clone()
      .json()
      .catch(() => ({}))
    if (typeof body.access_token === 'string') call.received = digest(body.access_token)
    call.end = clock()
    return response
  }
}

async function init(message) {
  config = message.config
  store =
    config.store === 'redis'
      ? new RedisTokenStore({ url: config.redisUrl, keyPrefix: config.keyPrefix })
      : new MemoryTokenStore()
  access = new OngoingAccess({
    issuer: config.issuer,
    client: config.client,
    redirectUri: config.redirectUri,
    scope: config.scope,
    secret: config.secret,
    store,
    fetch: recordingFetch(config.issuer),
    ...config.options,
  })
  await access.metadata()
  if (config.store === 'redis') await store.ready()
  return {}
}

async function seed({ userKeys, concurrency = 32 }) {
  const started = performance.now()
  await pool(userKeys, concurrency, (userKey) =>
    access.restore(userKey, {
      accessToken: `at-${userKey}-${Math.random().toString(36).slice(2)}`,
      refreshToken: `rt-${userKey}-${Math.random().toString(36).slice(2)}`,
      expiresIn: 3_600,
      scope: 'offline_access api:read',
    }),
  )
  return { ms: performance.now() - started }
}

// ------------------------------------------------------------------ heap
/**
 * The heap in use, compiled code left out: what a walk optimizes as it runs (code space) is not
 * what it holds.
 */
function heapUsed() {
  let used = 0
  for (const space of getHeapSpaceStatistics())
    if (!space.space_name.startsWith('code')) used += space.space_used_size
  return used
}

const collect = () => globalThis.gc()

/**
 * One walk, every user key counted in `seen`; the heap over the walk's start, after a gc, every
 * `sampleEvery` grants (its median and peak).
 */
async function measuredWalk(pageSize, sampleEvery, index, seen) {
  seen.fill(0)
  let listed = 0
  let foreign = 0
  const samples = []
  collect()
  const base = heapUsed()
  const started = performance.now()
  let gcMs = 0
  for await (const info of access.grants({ pageSize })) {
    listed++
    const i = index(info.userKey)
    if (i === undefined) foreign++
    else seen[i]++
    if (listed % sampleEvery === 0) {
      const t = performance.now()
      collect()
      gcMs += performance.now() - t
      samples.push(heapUsed() - base)
    }
  }
  const ms = performance.now() - started - gcMs
  let once = 0
  let twice = 0
  let missing = 0
  for (const count of seen) {
    if (count === 1) once++
    else if (count === 0) missing++
    else twice++
  }
  samples.sort((a, b) => a - b)
  const medianBytes = samples[samples.length >> 1]
  const peakBytes = samples[samples.length - 1]
  return {
    pageSize,
    listed,
    once,
    missing,
    twice,
    foreign,
    medianBytes,
    peakBytes,
    samples: samples.length,
    ms,
  }
}

async function heap({ grants, walks: plan }) {
  if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc')
  const index = (userKey) => {
    const i = /^user-(\d+)$/.exec(userKey)
    return i === null ? undefined : Number(i[1])
  }
  const seen = new Uint8Array(grants)
  // A first walk, not measured: the code it runs is compiled (its bytecode lives on the heap too).
  await measuredWalk(100, grants, index, seen)
  const walks = []
  for (const { pageSize, sampleEvery } of plan)
    walks.push(await measuredWalk(pageSize, sampleEvery, index, seen))
  // What holding every GrantInfo of a walk takes.
  collect()
  const base = heapUsed()
  const all = []
  for await (const info of access.grants({ pageSize: 100 })) all.push(info)
  collect()
  const holdAllBytes = heapUsed() - base
  const held = all.length
  all.length = 0
  return { walks, holdAllBytes, held, storeSize: store.size }
}

// ------------------------------------------------------------------ walk
async function walk({ pageSize, pauseMs = 0 }) {
  const userKeys = []
  const startedAt = Date.now()
  let pages = 0
  let inPage = 0
  for await (const info of access.grants({ pageSize })) {
    userKeys.push(info.userKey)
    // A job that does some work per page: the walk takes long enough for writes to interleave.
    if (pauseMs > 0 && ++inPage >= pageSize) {
      inPage = 0
      pages++
      await sleep(pauseMs)
    }
  }
  return { userKeys, startedAt, finishedAt: Date.now(), pages }
}

// ------------------------------------------------------------------ writes during a walk
function write({ existing, concurrency = 8, lane = 'w' }) {
  const state = {
    stop: false,
    created: [],
    deletedExisting: [],
    deletedCreated: [],
    rewrites: 0,
    errors: {},
  }
  const alive = [...existing]
  const deleted = new Set()
  const createdAlive = []
  const pick = (list) => list[Math.floor(Math.random() * list.length)]
  let n = 0
  let firstWrites
  const started = new Promise((resolve) => {
    firstWrites = resolve
  })
  const fake = (userKey) => ({
    accessToken: `at-${userKey}-${Math.random().toString(36).slice(2)}`,
    refreshToken: `rt-${userKey}-${Math.random().toString(36).slice(2)}`,
    expiresIn: 3_600,
  })
  const one = async () => {
    const r = Math.random()
    if (r < 0.5) {
      const userKey = `new-${lane}-${n++}`
      state.created.push(userKey)
      await access.restore(userKey, fake(userKey))
      createdAlive.push(userKey)
    } else if (r < 0.9) {
      const userKey = pick(alive)
      if (deleted.has(userKey)) return
      state.rewrites++
      await access.restore(userKey, fake(userKey))
    } else if (r < 0.97) {
      const i = Math.floor(Math.random() * alive.length)
      const userKey = alive[i]
      if (userKey === undefined || deleted.has(userKey)) return
      deleted.add(userKey)
      alive[i] = alive[alive.length - 1]
      alive.pop()
      // Counted as deleted from the moment the revoke starts.
      state.deletedExisting.push(userKey)
      await access.revoke(userKey)
    } else if (createdAlive.length > 0) {
      const i = Math.floor(Math.random() * createdAlive.length)
      const userKey = createdAlive[i]
      createdAlive[i] = createdAlive[createdAlive.length - 1]
      createdAlive.pop()
      state.deletedCreated.push(userKey)
      await access.revoke(userKey)
    }
  }
  let writes = 0
  state.done = Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (!state.stop) {
        try {
          await one()
        } catch (err) {
          const code = err?.code ?? err?.message
          state.errors[code] = (state.errors[code] ?? 0) + 1
        }
        if (++writes === 50) firstWrites()
      }
    }),
  )
  writing = state
  return started.then(() => ({}))
}

async function stopWrite() {
  const state = writing
  state.stop = true
  await state.done
  writing = undefined
  return {
    created: state.created,
    deletedExisting: state.deletedExisting,
    deletedCreated: state.deletedCreated,
    rewrites: state.rewrites,
    errors: state.errors,
  }
}

// ------------------------------------------------------------------ keeper and probes
const LOOP_RESOLUTION_MS = 5

function keep({ keeper: keeperOptions, users, probePauseMs = 5 }) {
  const probes = []
  const refreshes = []
  access.on('refresh', ({ userKey }) => refreshes.push(userKey))
  const keeper = access.keepFresh(keeperOptions)
  const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS })
  loop.enable()
  const state = { stop: false, keeper, probes, refreshes, errors: {}, loop }
  state.done = (async () => {
    while (!state.stop) {
      const u = Math.floor(Math.random() * users.length)
      const start = clock()
      try {
        const token = await access.getAccessToken(users[u])
        probes.push([u, start, clock(), token.refreshed ? 1 : 0, digest(token.value)])
      } catch (err) {
        const code = err?.reason ? `${err.code}/${err.reason}` : (err?.code ?? err?.message)
        state.errors[code] = (state.errors[code] ?? 0) + 1
      }
      await sleep(probePauseMs)
    }
  })()
  keeping = state
  return {}
}

async function stopKeep() {
  const state = keeping
  state.stop = true
  await state.done
  state.loop.disable()
  // The histogram holds each timer's whole interval: its resolution taken off, what it was late by.
  const ns = (value) => Math.max(0, value / 1e6 - LOOP_RESOLUTION_MS)
  const eventLoopDelay = {
    p50: ns(state.loop.percentile(50)),
    p99: ns(state.loop.percentile(99)),
    max: ns(state.loop.max),
  }
  const lastSweep = state.keeper.lastSweep
  await state.keeper.stop()
  keeping = undefined
  return {
    probes: state.probes,
    errors: state.errors,
    refreshes: state.refreshes,
    tokenCalls,
    lastSweep,
    eventLoopDelay,
  }
}

// ------------------------------------------------------------------
const commands = { init, seed, heap, walk, write, stopWrite, keep, stopKeep }

process.on('message', (message) => {
  if (message?.type === 'exit') {
    access?.close()
    Promise.resolve(store?.close?.()).finally(() => process.exit(0))
    return
  }
  const command = commands[message?.type]
  if (command === undefined) {
    send({ id: message?.id, type: 'failed', message: `unknown command ${message?.type}` })
    return
  }
  Promise.resolve()
    .then(() => command(message))
    .then(
      (result) => send({ id: message.id, type: 'done', ...result }),
      (err) => send({ id: message.id, type: 'failed', message: String(err?.stack ?? err) }),
    )
})
