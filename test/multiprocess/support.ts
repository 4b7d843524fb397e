// Helpers of the multi-process tests: app instances in child processes (worker.mjs), grants
// seeded through a real consent at the test authorization server, and result bookkeeping.
import { type ChildProcess, fork } from 'node:child_process'
import { createHash, randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { OngoingAccess, type OngoingAccessOptions, type TokenStore } from '@ongoing/core'
import { RedisTokenStore } from '@ongoing/redis'
import {
  describeRequiring,
  describeWithPostgres,
  describeWithRedis,
  driveConsent,
  startPostgresServer,
  startRedisServer,
  type TestAuthorizationServer,
} from '@ongoing/testing'
import { builtPackagesProblem } from '../built-packages.js'

const workerPath = fileURLToPath(new URL('./worker.mjs', import.meta.url))

export const REDIRECT_URI = 'http://127.0.0.1:3000/callback'
export const SCOPE = 'offline_access api:read'

/** A short digest of a token value: tests compare tokens without moving or printing them. */
export function digest(value: string): string {
  return createHash('sha256').update(value).digest('base64url').slice(0, 16)
}

/** Where the workers keep their grants: one namespace of one store server, for one test. */
export type StoreConfig =
  | { kind: 'redis'; url: string; keyPrefix: string }
  | { kind: 'postgres'; url: string; table: string }

/** A store server the multi-process suites run against; they stop, restart and pause it. */
export interface StoreServer {
  readonly url: string
  /** `undefined` while stopped. */
  readonly pid: number | undefined
  /** A namespace of its own for one test: a Redis key prefix, a PostgreSQL table. */
  namespace(): StoreConfig
  /** Removes what a test left in `store`'s namespace. */
  clear(store: StoreConfig): Promise<void>
  stop(signal?: NodeJS.Signals): Promise<void>
  restart(): Promise<void>
  pause(): void
  resume(): void
  close(): Promise<void>
}

/** A store backend of the multi-process suites: each suite is registered once per backend. */
export interface Backend {
  readonly kind: StoreConfig['kind']
  /** 'Redis', 'PostgreSQL': for test names. */
  readonly label: string
  /**
   * `describe` for a multi-process suite on this backend: it needs the store server (see
   * `describeWithRedis`, `describeWithPostgres`) and the built packages (see `describeRequiring`).
   */
  describe(name: string, suite: () => void, options?: { own?: boolean }): void
  /** A server of this backend; `own` for suites that stop or pause it (with data that survives a crash). */
  start(options?: { own?: boolean }): Promise<StoreServer>
}

const redisBackend: Backend = {
  kind: 'redis',
  label: 'Redis',
  describe(name, suite, options = {}) {
    const problem = builtPackagesProblem(['core', 'redis'])
    if (problem === undefined) describeWithRedis(name, suite, options)
    else describeRequiring(name, problem, suite)
  },
  async start({ own = false } = {}) {
    // An own server has an append-only file: a Redis that comes back after a crash still has its
    // data, as a production one with AOF would.
    const redis = await startRedisServer(own ? { own: true, persistent: true } : {})
    return {
      get url() {
        return redis.url
      },
      get pid() {
        return redis.pid
      },
      namespace: () => ({ kind: 'redis', url: redis.url, keyPrefix: `mp:${randomUUID()}:` }),
      clear: async (store) => {
        if (store.kind === 'redis') await redis.deleteKeys(store.keyPrefix)
      },
      stop: (signal) => redis.stop(signal),
      restart: () => redis.restart(),
      pause: () => redis.pause(),
      resume: () => redis.resume(),
      close: () => redis.close(),
    }
  },
}

const postgresBackend: Backend = {
  kind: 'postgres',
  label: 'PostgreSQL',
  describe(name, suite, options = {}) {
    const problem = builtPackagesProblem(['core', 'postgres'])
    if (problem === undefined) describeWithPostgres(name, suite, options)
    else describeRequiring(name, problem, suite)
  },
  async start({ own = false } = {}) {
    // A cluster of its own keeps its data directory: it comes back after a crash (WAL recovery).
    const postgres = await startPostgresServer({ own })
    return {
      get url() {
        return postgres.url
      },
      get pid() {
        return postgres.pid
      },
      namespace: () => ({
        kind: 'postgres',
        url: postgres.url,
        table: `mp_${randomUUID().replaceAll('-', '')}`,
      }),
      clear: async (store) => {
        if (store.kind !== 'postgres') return
        const { default: pg } = await import('pg')
        const client = new pg.Client({ connectionString: store.url })
        await client.connect()
        try {
          const { table } = store
          await client.query(`DROP TABLE IF EXISTS "${table}", "${table}_locks", "${table}_claims"`)
        } finally {
          await client.end()
        }
      },
      stop: (signal) => postgres.stop(signal),
      restart: () => postgres.restart(),
      pause: () => postgres.pause(),
      resume: () => postgres.resume(),
      close: () => postgres.close(),
    }
  },
}

/** Every backend the multi-process suites run on. */
export const backends: readonly Backend[] = [redisBackend, postgresBackend]

/** What one process saw of one user's calls in one run. */
export interface UserResult {
  ok: number
  digests: Record<string, number>
  errors: Record<string, number>
  maxMs: number
  minMs: number
}

/** One run's result from one process. */
export interface RunResult {
  users: Record<string, UserResult>
  startedAt: number
  finishedAt: number
  /** `refresh` events this process has emitted since it started. */
  refreshEvents: number
}

interface WorkerMessage {
  type: string
  runId?: string
  version?: number | null
  message?: string
  [key: string]: unknown
}

/** An app instance in a child process. */
export class Worker {
  readonly child: ChildProcess
  readonly #listeners = new Set<(message: WorkerMessage) => void>()
  readonly exited: Promise<NodeJS.Signals | number | null>

  constructor() {
    this.child = fork(workerPath, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.child.on('message', (message: WorkerMessage) => {
      for (const listener of this.#listeners) listener(message)
    })
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve(signal ?? code)))
  }

  get pid(): number {
    return this.child.pid!
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  send(message: object): void {
    if (this.alive) this.child.send(message)
  }

  /** Calls `listener` for every message of `type`. */
  on(type: string, listener: (message: WorkerMessage) => void): void {
    this.#listeners.add((message) => {
      if (message.type === type) listener(message)
    })
  }

  /** The next message matching `match`; rejects if the process exits or fails first. */
  next(match: (message: WorkerMessage) => boolean, timeoutMs = 30_000): Promise<WorkerMessage> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error('worker did not answer in time')), timeoutMs)
      const onExit = () => finish(new Error('worker exited'))
      const listener = (message: WorkerMessage) => {
        if (message.type === 'failed') finish(new Error(`worker failed: ${message.message}`))
        else if (match(message)) finish(undefined, message)
      }
      const finish = (err: Error | undefined, message?: WorkerMessage) => {
        clearTimeout(timer)
        this.#listeners.delete(listener)
        this.child.off('exit', onExit)
        if (err === undefined) resolve(message!)
        else reject(err)
      }
      this.#listeners.add(listener)
      this.child.once('exit', onExit)
    })
  }

  async init(config: WorkerConfig): Promise<void> {
    const ready = this.next((m) => m.type === 'ready')
    this.send({ type: 'init', config })
    await ready
  }

  /** Fires `calls` concurrent `getAccessToken` per user and resolves to what they returned. */
  async run(users: string[], calls: number, timeoutMs = 30_000): Promise<RunResult> {
    const runId = randomUUID()
    const result = this.next((m) => m.type === 'result' && m.runId === runId, timeoutMs)
    this.send({ type: 'run', runId, users, calls })
    return (await result) as unknown as RunResult
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal)
  }

  async stop(): Promise<void> {
    if (!this.alive) return
    this.child.kill('SIGCONT')
    this.send({ type: 'exit' })
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000)
    await this.exited
    clearTimeout(timer)
  }
}

/** What a worker needs to build its `OngoingAccess`. */
export interface WorkerConfig {
  issuer: string
  client: { id: string; secret: string }
  redirectUri: string
  scope: string
  secret: string
  store: StoreConfig
  options?: Partial<
    Pick<OngoingAccessOptions, 'requestTimeoutMs' | 'retry' | 'storeTimeoutMs' | 'refreshSkewSeconds'>
  >
  interceptLockedWrites?: boolean
}

/** Starts `count` worker processes and waits until each one is ready (discovery done, store reachable). */
export async function startWorkers(count: number, config: WorkerConfig): Promise<Worker[]> {
  const workers = Array.from({ length: count }, () => new Worker())
  await Promise.all(workers.map((worker) => worker.init(config)))
  return workers
}

/** The app side in the test process: the same configuration as the workers, from source. */
export function createAppConfig(as: TestAuthorizationServer, store: StoreConfig): WorkerConfig {
  return {
    issuer: as.issuer,
    client: { id: as.clients.confidential.id, secret: as.clients.confidential.secret },
    redirectUri: REDIRECT_URI,
    scope: SCOPE,
    secret: `test-secret-${randomUUID()}`,
    store,
  }
}

/** A store the test process can close. */
export type ClosableStore = TokenStore & { close(): Promise<void> }

/** The store `config` describes; a PostgreSQL table is created (`migrate()`) if it does not exist. */
export async function openStore(config: StoreConfig): Promise<ClosableStore> {
  if (config.kind === 'redis') return new RedisTokenStore({ url: config.url, keyPrefix: config.keyPrefix })
  const { PostgresTokenStore } = await import('@ongoing/postgres')
  const store = new PostgresTokenStore({ connectionString: config.url, table: config.table })
  try {
    await store.migrate()
  } catch (err) {
    await store.close()
    throw err
  }
  return store
}

/** An `OngoingAccess` in the test process with the workers' configuration, and its store. */
export async function createLocalAccess(
  config: WorkerConfig,
): Promise<{ access: OngoingAccess; store: ClosableStore }> {
  const store = await openStore(config.store)
  const access = new OngoingAccess({
    issuer: config.issuer,
    client: config.client,
    redirectUri: config.redirectUri,
    scope: config.scope,
    secret: config.secret,
    store,
    ...config.options,
  })
  return { access, store }
}

/** Tokens from a real consent and code exchange. Never print them. */
export interface ConsentTokens {
  accessToken: string
  refreshToken: string
  expiresIn: number
}

/**
 * Consents as `userKey` at the real server (login name = user key) with `access`'s authorization
 * request, and exchanges the code itself: the caller gets the tokens, to store as it likes.
 */
export async function obtainTokens(
  as: TestAuthorizationServer,
  access: OngoingAccess,
  userKey: string,
): Promise<ConsentTokens> {
  const { url, codeVerifier } = await access.startConsent({ userKey })
  const callback = await driveConsent(url, { redirectUriPrefix: REDIRECT_URI, login: userKey })
  const code = callback.searchParams.get('code')
  if (code === null) throw new Error(`consent failed: ${callback.searchParams.get('error')}`)
  const { id, secret } = as.clients.confidential
  const response = await fetch(new URL('/token', as.issuer), {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT_URI,
      code_verifier: codeVerifier,
    }),
  })
  const tokens = (await response.json()) as {
    access_token: string
    refresh_token: string
    expires_in: number
  }
  if (!response.ok || typeof tokens.refresh_token !== 'string') throw new Error('code exchange failed')
  return {
    accessToken: tokens.access_token,
    refreshToken: tokens.refresh_token,
    expiresIn: tokens.expires_in,
  }
}

/**
 * Consents as `userKey` at the real server and stores the grant, with its access token already
 * expired (`expired: true`) or fresh. Returns the digest of the access token stored.
 */
export async function seedGrant(
  as: TestAuthorizationServer,
  access: OngoingAccess,
  userKey: string,
  { expired }: { expired: boolean },
): Promise<string> {
  const tokens = await obtainTokens(as, access, userKey)
  await access.restore(userKey, {
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    ...(expired ? { expiresAt: Date.now() - 1_000 } : { expiresIn: tokens.expiresIn }),
  })
  return digest(tokens.accessToken)
}

/** Whether the authorization server considers `accessToken` active (RFC 7662). */
export async function isActive(as: TestAuthorizationServer, accessToken: string): Promise<boolean> {
  const { id, secret } = as.clients.confidential
  const response = await fetch(new URL('/token/introspection', as.issuer), {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ token: accessToken }),
  })
  return ((await response.json()) as { active?: boolean }).active === true
}

/** Totals over the runs of every process, for one user. */
export function totals(results: RunResult[], userKey: string): UserResult {
  const total: UserResult = { ok: 0, digests: {}, errors: {}, maxMs: 0, minMs: Number.POSITIVE_INFINITY }
  for (const result of results) {
    const user = result.users[userKey]
    if (user === undefined) continue
    total.ok += user.ok
    for (const [d, n] of Object.entries(user.digests)) total.digests[d] = (total.digests[d] ?? 0) + n
    for (const [e, n] of Object.entries(user.errors)) total.errors[e] = (total.errors[e] ?? 0) + n
    total.maxMs = Math.max(total.maxMs, user.maxMs)
    total.minMs = Math.min(total.minMs, user.minMs)
  }
  return total
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
