/**
 * Virtual time for one run: `Date.now`, `setTimeout`/`setInterval` (and their clear functions),
 * `AbortSignal.timeout` and `Math.random` are replaced while a run is installed. Time moves only
 * when the driver says so (a clock operation, or "time passes to the next timer"), so a run is a
 * pure function of its scenario: the same scenario gives the same trace.
 *
 * `setImmediate`, `process.nextTick` and microtasks are left alone: the driver uses them to let
 * every promise chain settle between two steps.
 */

interface VirtualTimer {
  id: number
  at: number
  callback: (...args: unknown[]) => void
  args: unknown[]
  repeatMs: number | undefined
}

/** What `setTimeout` returns in Node: an object that also converts to its id. */
class TimerHandle {
  constructor(
    readonly id: number,
    private readonly clock: VirtualClock,
  ) {}
  ref(): this {
    return this
  }
  unref(): this {
    return this
  }
  hasRef(): boolean {
    return true
  }
  refresh(): this {
    this.clock.refresh(this.id)
    return this
  }
  [Symbol.toPrimitive](): number {
    return this.id
  }
}

/** The instant every run starts at (an arbitrary fixed date). */
export const EPOCH = Date.UTC(2030, 0, 1)

/** The clock installed now: two runs at once would share (and corrupt) the globals. */
let installed: VirtualClock | undefined

export class VirtualClock {
  #now = EPOCH
  #nextId = 1
  readonly #timers = new Map<number, VirtualTimer>()
  #restore: (() => void) | undefined

  now(): number {
    return this.#now
  }

  /** Milliseconds since the run started. */
  elapsed(): number {
    return this.#now - EPOCH
  }

  /** When the earliest pending timer is due, or `undefined` when none is pending. */
  nextTimerAt(): number | undefined {
    let next: number | undefined
    for (const timer of this.#timers.values()) if (next === undefined || timer.at < next) next = timer.at
    return next
  }

  get pendingTimers(): number {
    return this.#timers.size
  }

  /**
   * Moves time to `at` (never backwards), firing every timer due by then in order of due time
   * (then of creation). Callbacks run synchronously; what they start settles afterwards.
   */
  advanceTo(at: number): number {
    let fired = 0
    for (;;) {
      const due = [...this.#timers.values()]
        .filter((timer) => timer.at <= at)
        .sort((a, b) => a.at - b.at || a.id - b.id)[0]
      if (due === undefined) break
      this.#now = Math.max(this.#now, due.at)
      if (due.repeatMs === undefined) this.#timers.delete(due.id)
      else due.at += Math.max(1, due.repeatMs)
      fired++
      due.callback(...due.args)
    }
    this.#now = Math.max(this.#now, at)
    return fired
  }

  refresh(id: number): void {
    const timer = this.#timers.get(id)
    if (timer !== undefined) timer.at = this.#now + (timer.repeatMs ?? 0)
  }

  /** Replaces the global time functions (and `Math.random`, seeded) until {@link VirtualClock.uninstall}. */
  install(seed: number): void {
    if (installed !== undefined) throw new Error('another run is still in progress: its clock is installed')
    installed = this
    const saved = {
      now: Date.now,
      setTimeout: globalThis.setTimeout,
      clearTimeout: globalThis.clearTimeout,
      setInterval: globalThis.setInterval,
      clearInterval: globalThis.clearInterval,
      abortTimeout: AbortSignal.timeout,
      random: Math.random,
    }
    const add = (callback: unknown, ms: unknown, args: unknown[], repeat: boolean) => {
      if (typeof callback !== 'function') throw new TypeError('callback must be a function')
      const delay = Math.max(0, Number(ms) || 0)
      const id = this.#nextId++
      this.#timers.set(id, {
        id,
        at: this.#now + delay,
        callback: callback as VirtualTimer['callback'],
        args,
        repeatMs: repeat ? delay : undefined,
      })
      return new TimerHandle(id, this)
    }
    const clear = (handle: unknown) => {
      if (handle === undefined || handle === null) return
      this.#timers.delete(Number(handle))
    }
    Date.now = () => this.#now
    globalThis.setTimeout = ((callback: unknown, ms?: unknown, ...args: unknown[]) =>
      add(callback, ms, args, false)) as unknown as typeof setTimeout
    globalThis.setInterval = ((callback: unknown, ms?: unknown, ...args: unknown[]) =>
      add(callback, ms, args, true)) as unknown as typeof setInterval
    globalThis.clearTimeout = clear as typeof clearTimeout
    globalThis.clearInterval = clear as typeof clearInterval
    AbortSignal.timeout = (ms: number) => {
      const controller = new AbortController()
      add(
        () => controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')),
        ms,
        [],
        false,
      )
      return controller.signal
    }
    Math.random = seededRandom(seed)
    this.#restore = () => {
      Date.now = saved.now
      globalThis.setTimeout = saved.setTimeout
      globalThis.clearTimeout = saved.clearTimeout
      globalThis.setInterval = saved.setInterval
      globalThis.clearInterval = saved.clearInterval
      AbortSignal.timeout = saved.abortTimeout
      Math.random = saved.random
    }
  }

  uninstall(): void {
    this.#restore?.()
    this.#restore = undefined
    this.#timers.clear()
    if (installed === this) installed = undefined
  }
}

/** A small seeded generator (mulberry32): the retry jitter is the same in every replay. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** The real `setImmediate`, captured before any run: lets every pending microtask run. */
const realSetImmediate = globalThis.setImmediate
const realSetTimeout = globalThis.setTimeout

export function flushMicrotasks(): Promise<void> {
  return new Promise((resolve) => realSetImmediate(resolve))
}

/** Waits real milliseconds (for real I/O, such as Redis pub/sub, to arrive). */
export function realDelay(ms: number): Promise<void> {
  return new Promise((resolve) => realSetTimeout(resolve, ms))
}
