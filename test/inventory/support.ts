// Helpers of the inventory tests (issue 20): app instances in child processes (worker.mjs) that
// import the built packages, and the figures the tests print.
import { type ChildProcess, fork } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { describeRequiring, describeWithRedis, type TestAuthorizationServer } from '@ongoing/testing'
import { builtPackagesProblem } from '../built-packages.js'
import { REDIRECT_URI, SCOPE } from '../multiprocess/support.js'

export {
  type ConsentTokens,
  digest,
  obtainTokens,
  REDIRECT_URI,
  SCOPE,
  sleep,
} from '../multiprocess/support.js'

const workerPath = fileURLToPath(new URL('./worker.mjs', import.meta.url))

/** `describe` for suites that run worker processes on the built core (and Redis, with `redis`). */
export function describeWithWorkers(name: string, suite: () => void, { redis = false } = {}): void {
  const problem = builtPackagesProblem(redis ? ['core', 'redis'] : ['core'])
  if (problem === undefined && redis) describeWithRedis(name, suite)
  else describeRequiring(name, problem, suite)
}

/** What a worker needs to build its `OngoingAccess`. */
export interface WorkerConfig {
  issuer: string
  client: { id: string; secret: string }
  redirectUri: string
  scope: string
  secret: string
  store: 'memory' | 'redis'
  redisUrl?: string
  keyPrefix?: string
  options?: { refreshSkewSeconds?: number; cacheMaxEntries?: number }
}

export function workerConfig(
  as: TestAuthorizationServer,
  store: { redisUrl: string } | 'memory',
  options: WorkerConfig['options'] = {},
): WorkerConfig {
  return {
    issuer: as.issuer,
    client: { id: as.clients.confidential.id, secret: as.clients.confidential.secret },
    redirectUri: REDIRECT_URI,
    scope: SCOPE,
    secret: `inventory-secret-${randomUUID()}`,
    ...(store === 'memory'
      ? { store: 'memory' as const }
      : { store: 'redis' as const, redisUrl: store.redisUrl, keyPrefix: `inv:${randomUUID()}:` }),
    options,
  }
}

type Reply = Record<string, unknown>

/** An app instance in a child process: one command at a time per id, answered by `done` or `failed`. */
export class InventoryWorker {
  readonly child: ChildProcess
  readonly exited: Promise<unknown>
  #nextId = 0
  readonly #waiting = new Map<number, { resolve: (reply: Reply) => void; reject: (err: Error) => void }>()

  constructor({ exposeGc = false } = {}) {
    this.child = fork(workerPath, [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: exposeGc ? ['--expose-gc'] : [],
    })
    this.child.on('message', (message: Reply & { id: number; type: string }) => {
      const waiter = this.#waiting.get(message.id)
      if (waiter === undefined) return
      this.#waiting.delete(message.id)
      if (message.type === 'failed') waiter.reject(new Error(`worker failed: ${String(message.message)}`))
      else waiter.resolve(message)
    })
    this.exited = new Promise((resolve) => this.child.once('exit', resolve))
    void this.exited.then(() => {
      for (const waiter of this.#waiting.values()) waiter.reject(new Error('worker exited'))
      this.#waiting.clear()
    })
  }

  /** Sends a command; resolves to the worker's answer. */
  call<T = Reply>(type: string, args: object = {}, timeoutMs = 60_000): Promise<T> {
    const id = this.#nextId++
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id)
        reject(new Error(`worker: no answer to ${type} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.#waiting.set(id, {
        resolve: (reply) => {
          clearTimeout(timer)
          resolve(reply as T)
        },
        reject: (err) => {
          clearTimeout(timer)
          reject(err)
        },
      })
      this.child.send({ ...args, id, type })
    })
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    this.child.send({ type: 'exit' })
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000)
    await this.exited
    clearTimeout(timer)
  }
}

/** Starts a worker for each config (or `count` with the same one), each with an access built from it. */
export async function startWorkers(
  count: number | readonly WorkerConfig[],
  config?: WorkerConfig,
  options: { exposeGc?: boolean } = {},
): Promise<InventoryWorker[]> {
  const configs = typeof count === 'number' ? Array.from({ length: count }, () => config!) : count
  const workers = configs.map(() => new InventoryWorker(options))
  await Promise.all(workers.map((worker, i) => worker.call('init', { config: configs[i] })))
  return workers
}

/** `user-00000` … : fixed-width user keys. */
export function userKeys(count: number, prefix = 'user-'): string[] {
  const width = String(count - 1).length
  return Array.from({ length: count }, (_, i) => `${prefix}${String(i).padStart(width, '0')}`)
}

/** The `p`th percentile of `sorted` (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number {
  return (
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN
  )
}

export const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`
