/**
 * One instance's view of the shared token store. Every call is two steps of the scheduler: the
 * request (the call reaches the store and is applied) and the answer (the caller hears back), so
 * the scheduler can put anything between a write and the moment its writer learns of it. Faults
 * (see {@link StoreFault}) strike calls by their index in the run. Change notifications reach the
 * instance as steps of their own, so they can arrive late.
 *
 * Locks expire on the virtual clock: `MemoryTokenStore` reads `Date.now()` itself; for Redis the
 * harness deletes a lock whose virtual TTL ran out (the real TTL, in Redis's own clock, is never
 * reached during a run).
 */
import type { TokenStore, TokenStoreEntry, TokenStoreLock, TokenStoreSetOptions } from '@ongoing/core'
import type { Interleaver } from './interleaver.js'
import { describeToken, parseToken } from './model-as.js'
import type { StoreFault, StoreMethod } from './scenario.js'

/** What a store wrapper reports and asks of the run it is part of. */
export interface StoreEnvironment {
  readonly interleaver: Interleaver
  /** True while the world is set up: calls go straight through, unscheduled and unfaulted. */
  readonly setup: boolean
  /** The fault for the next call of `method` in the run, if any (and counts the call). */
  nextStoreFault(method: StoreMethod): StoreFault | undefined
  /** Whether the next change notification of the run is delivered late (and counts it). */
  nextNotificationLate(): boolean
  /** Resolves after the clock next moves. */
  nextTimeAdvance(): Promise<void>
  /** The user a store key belongs to, or `undefined` for a key of another run. */
  userOfKey(key: string): string | undefined
  /** Tracks a call to a real backend, so the driver waits for it before it decides anything. */
  real<T>(call: Promise<T>): Promise<T>
  kill(instance: number, why: string): void
  /** A write or delete was applied to the store (whatever its caller hears). */
  applied(event: StoreEvent): void
  delivered(instance: number, user: string): void
  /** Locks: `virtual` when the harness expires them on the virtual clock (Redis). */
  readonly lockExpiry: 'store' | 'virtual'
  /** A lock is held by `instance` until `expiresAt` (virtual ms) unless released or extended. */
  lockTaken(instance: number, lock: TokenStoreLock, expiresAt: number, short: boolean): void
  lockGone(lock: TokenStoreLock): void
  now(): number
}

export type StoreEvent =
  | {
      kind: 'write'
      instance: number
      user: string
      version: number
      accessToken: string
      refreshToken?: string
      nextAttemptAt?: number
    }
  | { kind: 'delete'; instance: number; user: string; conditional: boolean }

const never = <T>(): Promise<T> => new Promise<T>(() => {})

class StoreFailure extends Error {
  constructor(what: string) {
    super(`injected store failure (${what})`)
    this.name = 'StoreFailure'
  }
}

export class FaultyStore implements TokenStore {
  /** Keys this instance is writing now (see `subscribe`). */
  readonly #writing = new Set<string>()
  /** Keys whose own notification this instance heard during its write. */
  readonly #echoed = new Set<string>()
  constructor(
    private readonly inner: TokenStore,
    private readonly instance: number,
    private readonly env: StoreEnvironment,
  ) {}

  get(key: string): Promise<TokenStoreEntry | undefined> {
    return this.#call('get', `store.get(${this.#user(key)})`, () => this.inner.get(key), describeEntry)
  }

  set(key: string, value: string, options: TokenStoreSetOptions): Promise<number | undefined> {
    const user = this.#user(key)
    return this.#call(
      'set',
      `store.set(${user}, ${describeRecord(value)}, expect v${options.expectedVersion}${options.lock ? ', locked' : ''})`,
      async () => {
        // The writer's own notification comes during the call, as both stores we ship do it.
        this.#writing.add(key)
        let version: number | undefined
        try {
          version = await this.inner.set(key, value, options)
        } finally {
          this.#writing.delete(key)
        }
        const record = tokensIn(value)
        if (version !== undefined && record.accessToken === undefined) {
          // A dead grant's record (no tokens, only why consent is required): the grant is gone.
          this.env.applied({ kind: 'delete', instance: this.instance, user, conditional: true })
        } else if (version !== undefined) {
          this.env.applied({
            kind: 'write',
            instance: this.instance,
            user,
            version,
            accessToken: record.accessToken ?? '?',
            ...(record.refreshToken === undefined ? {} : { refreshToken: record.refreshToken }),
            ...(record.nextAttemptAt === undefined ? {} : { nextAttemptAt: record.nextAttemptAt }),
          })
        }
        if (this.#echoed.delete(key)) this.env.delivered(this.instance, user)
        return version
      },
      (version) => (version === undefined ? 'lost the compare-and-set' : `v${version}`),
    )
  }

  delete(key: string, expectedVersion?: number): Promise<boolean> {
    const user = this.#user(key)
    return this.#call(
      'delete',
      `store.delete(${user}${expectedVersion === undefined ? '' : `, expect v${expectedVersion}`})`,
      async () => {
        const deleted = await this.inner.delete(key, expectedVersion)
        if (deleted)
          this.env.applied({
            kind: 'delete',
            instance: this.instance,
            user,
            conditional: expectedVersion !== undefined,
          })
        return deleted
      },
      (deleted) => (deleted ? 'deleted' : 'nothing deleted'),
    )
  }

  acquireLock(key: string, ttlMs: number): Promise<TokenStoreLock | undefined> {
    const acquire = this.inner.acquireLock
    if (acquire === undefined) return Promise.resolve(undefined)
    let short = false
    return this.#call(
      'lock',
      `store.lock(${this.#user(key)})`,
      async () => {
        const storeTtl = short && this.env.lockExpiry === 'store' ? 1 : ttlMs
        const lock = await acquire.call(this.inner, key, storeTtl)
        if (lock === undefined) return undefined
        this.env.lockTaken(this.instance, lock, this.env.now() + (short ? 1 : ttlMs), short)
        return this.#wrapLock(lock)
      },
      (lock) => (lock === undefined ? 'held by another' : short ? 'taken (expires at once)' : 'taken'),
      (fault) => {
        short = fault === 'short-lock'
      },
    )
  }

  subscribe(listener: (key: string) => void): () => void {
    if (this.inner.subscribe === undefined) return () => {}
    return this.inner.subscribe((key) => {
      const user = this.env.userOfKey(key)
      if (user === undefined || this.env.setup || this.env.interleaver.isDead(this.instance)) return
      // A write of this instance: its own subscribers hear it before the write returns (the
      // TokenStore contract); the other instances hear it as a step of its own, maybe late.
      if (this.#writing.has(key)) {
        this.#echoed.add(key) // recorded as delivered once the write is (see `set`)
        listener(key)
        return
      }
      const late = this.env.nextNotificationLate()
      void (async () => {
        if (late) await this.env.nextTimeAdvance()
        await this.env.interleaver.step(
          `i${this.instance} ◂ change(${user})${late ? ' (late)' : ''}`,
          this.instance,
        )
        this.env.delivered(this.instance, user)
        listener(key)
      })()
    })
  }

  claimOnce(id: string, ttlMs: number): Promise<boolean> {
    const claim = this.inner.claimOnce
    if (claim === undefined) return Promise.resolve(true)
    return this.env.real(claim.call(this.inner, id, ttlMs))
  }

  #wrapLock(lock: TokenStoreLock): TokenStoreLock {
    const user = this.#user(lock.key)
    const wrapped: TokenStoreLock & { extend?: (ttlMs: number) => Promise<boolean> } = {
      key: lock.key,
      token: lock.token,
      release: () =>
        this.#call(
          'unlock',
          `store.unlock(${user})`,
          async () => {
            await lock.release()
            this.env.lockGone(lock)
          },
          () => 'released',
        ),
    }
    const extendable = lock as TokenStoreLock & { extend?: (ttlMs: number) => Promise<boolean> }
    if (typeof extendable.extend === 'function') {
      const extend = extendable.extend.bind(lock)
      wrapped.extend = (ttlMs: number) =>
        this.#call(
          'lock',
          `store.extend(${user})`,
          async () => {
            const extended = await extend(ttlMs)
            if (extended) this.env.lockTaken(this.instance, lock, this.env.now() + ttlMs, false)
            return extended
          },
          (extended) => (extended ? 'extended' : 'lost'),
        )
    }
    return wrapped
  }

  #user(key: string): string {
    return this.env.userOfKey(key) ?? key
  }

  /** One store call: request step, the call itself (with its fault), answer step. */
  async #call<T>(
    method: StoreMethod,
    label: string,
    apply: () => Promise<T>,
    describe: (result: T) => string,
    onFault?: (fault: StoreFault | undefined) => void,
  ): Promise<T> {
    const { env, instance } = this
    if (env.setup) return apply()
    const fault = env.nextStoreFault(method)
    onFault?.(fault)
    const tag = fault === undefined || fault === 'short-lock' ? '' : ` [${fault}]`
    if (fault === 'slow') await new Promise((resolve) => setTimeout(resolve, 990))
    await env.interleaver.step(`i${instance} ▸ ${label}${tag}`, instance)
    switch (fault) {
      case 'die':
        env.kill(instance, `died at ${label}`)
        return never()
      case 'hang':
        return never()
      case 'fail-before':
        await env.interleaver.step(`i${instance} ◂ ${label}: failed`, instance)
        throw new StoreFailure('nothing applied')
    }
    const result = await env.real(apply())
    if (fault === 'fail-after') {
      await env.interleaver.step(
        `i${instance} ◂ ${label}: failed (but applied: ${describe(result)})`,
        instance,
      )
      throw new StoreFailure('applied')
    }
    await env.interleaver.step(`i${instance} ◂ ${label}: ${describe(result)}`, instance)
    return result
  }
}

function describeEntry(entry: TokenStoreEntry | undefined): string {
  return entry === undefined ? 'none' : `v${entry.version} ${describeRecord(entry.value)}`
}

function describeRecord(value: string): string {
  const record = tokensIn(value)
  if (record.accessToken === undefined && value.includes('"cr"')) return '{consent required}'
  return `{${describeToken(record.refreshToken ?? record.accessToken)}}`
}

/**
 * The model's tokens in a stored record (written in clear: `encryptTokens: false`), wherever the
 * record's format keeps them: every string that reads as a model token; and, in a failed refresh's
 * record, when its next attempt is due (the record's `na`).
 */
export function tokensIn(value: string): {
  accessToken?: string
  refreshToken?: string
  nextAttemptAt?: number
} {
  const found: { accessToken?: string; refreshToken?: string; nextAttemptAt?: number } = {}
  const visit = (node: unknown): void => {
    if (typeof node === 'string') {
      const id = parseToken(node)
      if (id?.kind === 'at') found.accessToken ??= node
      if (id?.kind === 'rt') found.refreshToken ??= node
    } else if (typeof node === 'object' && node !== null) {
      for (const child of Object.values(node)) visit(child)
    }
  }
  try {
    const record: unknown = JSON.parse(value)
    visit(record)
    const next = (record as { na?: unknown } | null)?.na
    if (typeof next === 'number') found.nextAttemptAt = next
  } catch {
    // Not JSON: no tokens the harness can see.
  }
  return found
}
