/**
 * One run: a few `OngoingAccess` instances (each its own process-local cache and in-flight map)
 * sharing one store, the model authorization server behind their `fetch`, virtual time, and the
 * scheduler. The driver releases one step at a time (or lets time pass to the next timer), lets
 * every promise chain settle, and records what happened in a {@link History}.
 */
import {
  ConsentRequiredError,
  isOngoingAccessError,
  OngoingAccess,
  type TokenStore,
  type TokenStoreLock,
} from '@ongoing/core'
import { EPOCH, flushMicrotasks, realDelay, VirtualClock } from './clock.js'
import { FaultyStore, type StoreEnvironment, type StoreEvent } from './faulty-store.js'
import type { History, LockRecord, OpRecord } from './history.js'
import { type Choice, Interleaver } from './interleaver.js'
import {
  API_URL,
  CLIENT,
  describeToken,
  ENDPOINTS,
  ISSUER,
  ModelAuthorizationServer,
  REDIRECT_URI,
} from './model-as.js'
import { type NetworkEnvironment, networkFor } from './network.js'
import {
  type ASFault,
  type DiscoveryFault,
  describeOp,
  type Op,
  type Scenario,
  type StoreFault,
  type StoreMethod,
  USERS,
  type User,
} from './scenario.js'

const APP_SECRET = 'interleavings-secret-interleavings-secret'
export const SKEW_MS = 60_000
/** How long background timers may run after the last operation ended. */
const BACKGROUND_HORIZON_MS = 600_000
/** The initial grants are set up this long before the operations start (so "due" ones are due). */
const SETUP_LEAD_MS = 50_000

/** Where the shared store lives: one `MemoryTokenStore`, or a real Redis. */
export interface Backend {
  readonly name: string
  /** Redis: real I/O to wait for, and locks the harness expires on the virtual clock. */
  readonly realIO: boolean
  /** The store each instance uses in this run (the same data behind all of them). */
  storesFor(run: number, instances: number): TokenStore[]
  /** The user key of `user` in this run (unique per run when the backend outlives runs). */
  userKey(run: number, user: User): string
  /** Makes a lock lapse now (Redis: deletes it if its holder still has it). */
  expireLock?(lock: TokenStoreLock): Promise<void>
}

export interface RunOptions {
  backend: Backend
  instances: number
  /** A number that tells this run's keys from other runs' (for a backend that outlives runs). */
  run: number
  /** Most decisions in one run. */
  maxDecisions?: number
  /** Each operation starts only after the previous one ended (a history without overlap). */
  sequential?: boolean
}

export interface RunResult {
  history: History
  trace: string[]
  decisions: number
  budgetExhausted: boolean
}

interface HeldLock {
  record: LockRecord
  lock: TokenStoreLock
  expiresAt: number
  short: boolean
}

class World implements StoreEnvironment, NetworkEnvironment {
  readonly clock = new VirtualClock()
  readonly interleaver: Interleaver
  readonly model: ModelAuthorizationServer
  readonly lockExpiry: 'store' | 'virtual'
  readonly history: History
  readonly trace: string[] = []
  setup = true
  readonly #access: OngoingAccess[] = []
  readonly #users = new Map<string, User>()
  #seq = 0
  readonly #storeCalls = new Map<StoreMethod, number>()
  #asCalls = 0
  #discoveryCalls = 0
  #notifications = 0
  #realCalls = 0
  readonly #inflight = new Set<Promise<unknown>>()
  #timeWaiters: Array<() => void> = []
  readonly #locks = new Map<string, HeldLock>()
  #pendingAdvance: number | undefined
  #quietSince: number | undefined
  #stalling = false
  readonly #running: Promise<void>[] = []

  constructor(
    private readonly scenario: Scenario,
    private readonly options: RunOptions,
  ) {
    this.interleaver = new Interleaver(scenario.path)
    this.model = new ModelAuthorizationServer(
      () => this.clock.now(),
      () => this.seq(),
    )
    this.lockExpiry = options.backend.realIO ? 'virtual' : 'store'
    this.history = {
      users: USERS,
      instances: options.instances,
      skewMs: SKEW_MS,
      ops: [],
      store: [],
      deliveries: [],
      deaths: [],
      api: [],
      locks: [],
      model: this.model,
      quiescent: false,
      runStartSeq: 0,
    }
    for (const user of USERS) this.#users.set(options.backend.userKey(options.run, user), user)
  }

  // ---- the environment the store wrappers and the network see ----

  seq(): number {
    return ++this.#seq
  }

  now(): number {
    return this.clock.now()
  }

  nextStoreFault(method: StoreMethod): StoreFault | undefined {
    const nth = this.#storeCalls.get(method) ?? 0
    this.#storeCalls.set(method, nth + 1)
    return this.scenario.storeFaults.find((f) => f.method === method && f.nth === nth)?.fault
  }

  nextASFaults(): ASFault[] {
    const call = this.#asCalls++
    return this.scenario.asFaults.filter((f) => f.call === call).map((f) => f.fault)
  }

  nextDiscoveryFaults(): DiscoveryFault[] {
    const call = this.#discoveryCalls++
    return (this.scenario.discoveryFaults ?? []).filter((f) => f.call === call).map((f) => f.fault)
  }

  nextNotificationLate(): boolean {
    return this.scenario.lateNotifications.includes(this.#notifications++)
  }

  nextTimeAdvance(): Promise<void> {
    return new Promise((resolve) => this.#timeWaiters.push(resolve))
  }

  userOfKey(key: string): string | undefined {
    // Grant keys are `grant:<issuer and client hash>:<user key>`.
    const userKey = key.split(':').slice(2).join(':')
    return this.#users.get(userKey)
  }

  real<T>(call: Promise<T>): Promise<T> {
    this.#realCalls++
    const tracked = call.then(
      () => undefined,
      () => undefined,
    )
    this.#inflight.add(tracked)
    void tracked.then(() => this.#inflight.delete(tracked))
    return call
  }

  kill(instance: number, why: string): void {
    if (this.interleaver.isDead(instance)) return
    this.interleaver.kill(instance)
    const seq = this.seq()
    this.history.deaths.push({ seq, instance, why })
    this.#log(seq, `✝ i${instance} ${why}`)
  }

  applied(event: StoreEvent): void {
    const seq = this.seq()
    this.history.store.push({ ...event, seq, at: this.clock.now() })
    if (!this.setup)
      this.#log(
        seq,
        event.kind === 'write'
          ? `  store now holds ${event.user} v${event.version} {${describeToken(event.refreshToken ?? event.accessToken)}} (i${event.instance})`
          : `  store deleted ${event.user} (i${event.instance})`,
      )
  }

  note(text: string): void {
    this.#log(this.seq(), text)
  }

  delivered(instance: number, user: string): void {
    this.history.deliveries.push({ seq: this.seq(), instance, user })
  }

  lockTaken(instance: number, lock: TokenStoreLock, expiresAt: number, short: boolean): void {
    const user = this.userOfKey(lock.key) ?? lock.key
    let record = this.#locks.get(lock.token)?.record
    if (record === undefined) {
      record = { takenSeq: this.seq(), instance, user }
      this.history.locks.push(record)
    }
    this.#locks.set(lock.token, { record, lock, expiresAt, short })
  }

  lockGone(lock: TokenStoreLock): void {
    this.#locks.delete(lock.token)
  }

  apiCalled(call: { op: number | undefined; instance: number; token: string; status: number }): void {
    this.history.api.push({ ...call, seq: this.seq(), at: this.clock.now() })
  }

  // ---- the run ----

  async run(): Promise<RunResult> {
    this.clock.install(this.scenario.seed)
    try {
      await this.#setUp()
      this.setup = false
      this.history.runStartSeq = this.seq()
      const { decisions, budgetExhausted } = await this.#drive()
      this.#finish(!budgetExhausted)
      return { history: this.history, trace: this.trace, decisions, budgetExhausted }
    } finally {
      for (const access of this.#access) access.close()
      this.clock.uninstall()
    }
  }

  async #setUp(): Promise<void> {
    const { backend, instances, run } = this.options
    const stores = backend.storesFor(run, instances)
    for (let i = 0; i < instances; i++) this.#access.push(this.#instance(i, stores[i]!))
    for (const user of USERS) {
      const initial = this.scenario.initial[user]
      if (initial === 'none') continue
      // "due": a 90 s token, set up 50 s before the run: inside the skew, still valid for 40 s.
      const minted = this.model.mintGrant(user, 'setup', initial === 'due' ? 90 : 3_600)
      await this.#access[0]!.restore(backend.userKey(run, user), {
        accessToken: minted.accessToken,
        refreshToken: minted.refreshToken,
        expiresIn: minted.expiresIn,
      })
    }
    await this.#settle()
    // The setup instance's cache is not part of the scenario.
    this.#access[0]!.close()
    this.#access[0] = this.#instance(0, stores[0]!)
    // Let the setup's change notifications (Redis: over pub/sub) pass before the run begins.
    if (backend.realIO) await realDelay(5)
    await this.#settle()
    this.clock.advanceTo(EPOCH + SETUP_LEAD_MS)
  }

  #instance(index: number, store: TokenStore): OngoingAccess {
    return new OngoingAccess({
      issuer: ISSUER,
      ...(this.scenario.discovery ? {} : { endpoints: ENDPOINTS }),
      client: CLIENT,
      redirectUri: REDIRECT_URI,
      scope: 'offline_access api',
      secret: APP_SECRET,
      // Records in clear, so the harness can tell which grant the store holds.
      encryptTokens: false,
      store: new FaultyStore(store, index, this),
      fetch: networkFor(index, this),
      refreshSkewSeconds: SKEW_MS / 1000,
    })
  }

  async #drive(): Promise<{ decisions: number; budgetExhausted: boolean }> {
    const max = this.options.maxDecisions ?? 2_000
    this.#running.push(this.#startOps())
    let decisions = 0
    for (;;) {
      await this.#settle()
      if (this.#pendingAdvance !== undefined) {
        const ms = this.#pendingAdvance
        this.#pendingAdvance = undefined
        this.#stalling = true
        await this.#advanceTo(this.clock.now() + ms)
        this.#stalling = false
        continue
      }
      if (decisions >= max) return { decisions, budgetExhausted: true }
      const nextTimer = this.clock.nextTimerAt()
      // Once every operation is over, background timers run for a while more (a retry, a lock
      // extension), not for ever: a dead instance's timers would fire for ever.
      if (this.#opsOver()) this.#quietSince ??= this.clock.now()
      const timeCanPass =
        nextTimer !== undefined &&
        (this.#quietSince === undefined || nextTimer <= this.#quietSince + BACKGROUND_HORIZON_MS)
      const picked = this.interleaver.next(timeCanPass)
      if (picked === undefined) return { decisions, budgetExhausted: false }
      decisions++
      if (picked === 'time') {
        this.#log(this.seq(), `… time passes to ${formatTime(nextTimer! - EPOCH)}`)
        await this.#advanceTo(nextTimer!)
      } else {
        this.#log(this.seq(), picked.label)
      }
    }
  }

  /** Every operation started, and each ended or belongs to a dead instance. */
  #opsOver(): boolean {
    if (this.history.ops.length < this.scenario.ops.length) return false
    return this.history.ops.every(
      (op) => op.outcome !== 'unfinished' || ('instance' in op.op && this.interleaver.isDead(op.op.instance)),
    )
  }

  async #startOps(): Promise<void> {
    for (const [index, op] of this.scenario.ops.entries()) {
      await this.interleaver.step(`start op ${index + 1}: ${describeOp(op)}`)
      const running = this.#runOp(op, index)
      this.#running.push(running)
      if (this.options.sequential || this.scenario.sequential) await running
    }
  }

  async #runOp(op: Op, index: number): Promise<void> {
    const record: OpRecord = {
      index,
      op,
      startSeq: this.seq(),
      startAt: this.clock.now(),
      outcome: 'unfinished',
    }
    this.history.ops.push(record)
    if (op.kind === 'advance') {
      this.#pendingAdvance = op.ms
      record.outcome = 'ok'
      record.endSeq = this.seq()
      record.endAt = this.clock.now()
      return
    }
    if (op.kind === 'kill') {
      this.kill(op.instance, 'killed')
      record.outcome = 'ok'
      record.endSeq = this.seq()
      return
    }
    if (op.kind === 'reject') {
      for (const grant of this.model.grantsOf(op.user))
        this.model.rejectedAccessTokens.add(`at.${op.user}.${grant.n}.${grant.gen}`)
      record.outcome = 'ok'
      record.endSeq = this.seq()
      return
    }
    if (this.interleaver.isDead(op.instance)) {
      record.outcome = 'skipped'
      return
    }
    const access = this.#access[op.instance]!
    const userKey = this.options.backend.userKey(this.options.run, op.user)
    try {
      switch (op.kind) {
        case 'get':
        case 'force': {
          const token = await access.getAccessToken(userKey, { forceRefresh: op.kind === 'force' })
          record.token = token.value
          record.refreshed = token.refreshed
          break
        }
        case 'fetch': {
          const response = await access.fetch(userKey, API_URL, { headers: { 'x-op': String(index) } })
          await response.text()
          break
        }
        case 'revoke':
          await access.revoke(userKey)
          break
        case 'consent': {
          const started = await access.startConsent({ userKey })
          const callbackUrl = this.model.authorize(started.url, op.user)
          const finished = await access.finishConsent({ callbackUrl, transaction: started.transaction })
          record.token = finished.token.value
          break
        }
        case 'restore': {
          const minted = this.model.mintGrant(op.user, 'restore')
          await access.restore(userKey, {
            accessToken: minted.accessToken,
            refreshToken: minted.refreshToken,
            expiresIn: minted.expiresIn,
          })
          break
        }
      }
      if (this.interleaver.isDead(op.instance)) return
      record.outcome = 'ok'
    } catch (err) {
      if (this.interleaver.isDead(op.instance)) return
      record.outcome = 'error'
      record.error = {
        code: isOngoingAccessError(err) ? err.code : (err as Error).name,
        message: (err as Error).message,
        ...(err instanceof ConsentRequiredError ? { reason: err.reason } : {}),
      }
    }
    record.endSeq = this.seq()
    record.endAt = this.clock.now()
    this.#log(
      record.endSeq,
      `  op ${index + 1} (${describeOp(op)}) ${
        record.outcome === 'ok'
          ? `→ ${record.token === undefined ? 'ok' : describeToken(record.token)}${record.refreshed ? ' (refreshed)' : ''}`
          : `✗ ${record.error?.code}${record.error?.reason ? ` ${record.error.reason}` : ''}: ${record.error?.message}`
      }`,
    )
  }

  /** Lets time pass to `at`, timer by timer, letting what each timer starts settle. */
  async #advanceTo(at: number): Promise<void> {
    for (;;) {
      const next = this.clock.nextTimerAt()
      const target = next !== undefined && next <= at ? Math.max(next, this.clock.now()) : at
      await this.#lapseLocks(target)
      this.clock.advanceTo(target)
      const waiters = this.#timeWaiters
      this.#timeWaiters = []
      for (const wake of waiters) wake()
      await this.#settle()
      if (target >= at) return
    }
  }

  /** Locks whose TTL runs out by `at` lapse (recorded; on Redis, deleted by the harness). */
  async #lapseLocks(at: number): Promise<void> {
    for (const [token, held] of [...this.#locks]) {
      if (held.expiresAt > at) continue
      this.#locks.delete(token)
      const cause = held.short ? 'injected' : this.#stalling ? 'stall' : 'ttl'
      const seq = this.seq()
      held.record.lapse = { seq, cause }
      this.#log(
        seq,
        `  lock of ${held.record.user} held by i${held.record.instance} lapses (${cause})`,
        held.expiresAt,
      )
      if (this.options.backend.expireLock !== undefined)
        await this.real(this.options.backend.expireLock(held.lock))
    }
  }

  /** Lets every promise chain run until it waits on a step, a timer, or nothing. */
  async #settle(): Promise<void> {
    for (let rounds = 0; rounds < 1_000; rounds++) {
      await flushMicrotasks()
      await flushMicrotasks()
      if (this.#inflight.size > 0) {
        await Promise.all([...this.#inflight])
        continue
      }
      if (!this.options.backend.realIO || this.#realCalls === 0) return
      // Real writes publish changes: give Redis pub/sub a moment to deliver them.
      this.#realCalls = 0
      await realDelay(2)
    }
  }

  #finish(quiescent: boolean): void {
    this.history.quiescent = quiescent
    for (const presentation of this.model.presentations) {
      if (presentation.delivery !== 'pending') continue
      const death = this.history.deaths.find((d) => d.instance === presentation.instance)
      presentation.delivery = death === undefined ? 'unknown' : 'died'
      presentation.settledSeq = death?.seq ?? this.seq()
    }
  }

  #log(seq: number, text: string, at = this.clock.now()): void {
    this.trace.push(`${String(seq).padStart(4)} ${formatTime(at - EPOCH).padStart(9)}  ${text}`)
  }
}

export function formatTime(ms: number): string {
  return `+${(ms / 1000).toFixed(3)}s`
}

/** Runs one scenario to the end (or the step budget) and returns what happened. */
export function runScenario(scenario: Scenario, options: RunOptions): Promise<RunResult> {
  return new World(scenario, options).run()
}

export type { Choice }
