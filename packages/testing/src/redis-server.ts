import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Options of {@link startRedisServer}. */
export interface StartRedisServerOptions {
  /**
   * Start a `redis-server` of its own even when `REDIS_URL` is set: for tests that stop, restart or
   * pause Redis, which they must not do to a shared one. Default: `false`.
   */
  own?: boolean
  /**
   * Keep the data across a stop and restart (append-only file, fsync on every write, in a
   * temporary directory removed by `close()`), as a production Redis with AOF would. Default:
   * `false` (`--save '' --appendonly no`: nothing touches the disk).
   */
  persistent?: boolean
}

/** A Redis for tests; see {@link startRedisServer}. */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>` (or `REDIS_URL`). */
  readonly url: string
  /** The port, on 127.0.0.1. */
  readonly port: number
  /** True when this is the Redis of `REDIS_URL`: it cannot be stopped, restarted or paused. */
  readonly external: boolean
  /** The `redis-server` process id while it runs; `undefined` when stopped or external. */
  readonly pid: number | undefined
  /**
   * Stops the server by its pid and waits for it to exit. `SIGKILL` simulates a crash. A paused
   * server is resumed first.
   */
  stop(signal?: NodeJS.Signals): Promise<void>
  /** Starts it again on the same port, after {@link RedisServer.stop}; resolves when it answers `PING`. */
  restart(): Promise<void>
  /** Freezes the server (`SIGSTOP`): connections stay open, commands go unanswered. */
  pause(): void
  /** Resumes a paused server (`SIGCONT`). */
  resume(): void
  /** Stops the server for good and removes what it wrote. For an external Redis, does nothing. */
  close(): Promise<void>
  /**
   * Deletes every key that starts with `prefix` (SCAN + DEL in one script): tests clean up after
   * themselves in a shared Redis. Resolves to how many keys were deleted.
   */
  deleteKeys(prefix: string): Promise<number>
}

/** Whether the Redis suites can run here, and why not. */
export type RedisAvailability =
  | { available: true; source: 'REDIS_URL' | 'redis-server' }
  | { available: false; reason: string }

const READY_TIMEOUT_MS = 10_000

function redisCommand(): string {
  return process.env.REDIS_SERVER || 'redis-server'
}

/**
 * Whether {@link startRedisServer} can give a Redis: `REDIS_URL` is set (unless `own`), or a
 * `redis-server` executable runs (`REDIS_SERVER` names it; default `redis-server` on the PATH).
 *
 * @example
 * ```ts
 * const redis = redisServerAvailability()
 * if (!redis.available) console.warn(`Redis tests skipped: ${redis.reason}`)
 * ```
 */
export function redisServerAvailability(options: { own?: boolean } = {}): RedisAvailability {
  if (!options.own && process.env.REDIS_URL) return { available: true, source: 'REDIS_URL' }
  const command = redisCommand()
  const probe = spawnSync(command, ['--version'], { stdio: 'ignore', timeout: 5_000 })
  if (probe.error === undefined && probe.status === 0) return { available: true, source: 'redis-server' }
  return {
    available: false,
    reason: `${options.own ? '' : 'REDIS_URL is not set and '}\`${command}\` could not be run (install it: apt-get install redis-server)`,
  }
}

/**
 * A Redis for tests: the one `REDIS_URL` names when it is set (and `own` is not), otherwise a
 * `redis-server` of its own on a free loopback port (`--bind 127.0.0.1 --save '' --appendonly no`),
 * which `close()` stops by its pid. A server it started is also killed when the process exits.
 *
 * @throws {Error} when there is no `REDIS_URL` and `redis-server` cannot be run, or it does not
 *   answer `PING` within 10 s.
 * @example
 * ```ts
 * const redis = await startRedisServer()
 * const store = new RedisTokenStore({ url: redis.url, keyPrefix: `test:${randomUUID()}:` })
 * // …
 * await store.close()
 * await redis.close()
 * ```
 */
export async function startRedisServer(options: StartRedisServerOptions = {}): Promise<RedisServer> {
  const external = options.own ? undefined : process.env.REDIS_URL
  if (external) return externalServer(external)
  const availability = redisServerAvailability({ own: true })
  if (!availability.available) throw new Error(`No Redis for tests: ${availability.reason}`)
  const dir = options.persistent ? await mkdtemp(join(tmpdir(), 'ongoing-redis-')) : undefined
  let lastError: unknown
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort()
    try {
      return await ownServer(port, dir)
    } catch (err) {
      // Another process may have taken the port between our probe and redis-server's bind.
      lastError = err
    }
  }
  if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  throw lastError
}

function externalServer(url: string): RedisServer {
  const refuse = () => {
    throw new Error('This test needs a Redis of its own; the one of REDIS_URL is never stopped or paused')
  }
  return {
    url,
    port: Number(new URL(url).port || 6379),
    external: true,
    pid: undefined,
    stop: async () => refuse(),
    restart: async () => refuse(),
    pause: refuse,
    resume: refuse,
    close: async () => {},
    deleteKeys: (prefix) => deleteKeys(url, prefix),
  }
}

async function ownServer(port: number, dir: string | undefined): Promise<RedisServer> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '']
  if (dir === undefined) args.push('--appendonly', 'no')
  else args.push('--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir)
  let child: ChildProcess | undefined
  let paused = false
  let output = ''

  const killOnExit = () => child?.kill('SIGKILL')
  const launch = async () => {
    const started = spawn(redisCommand(), args, { stdio: ['ignore', 'pipe', 'pipe'] })
    child = started
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-4_000)
    }
    started.stdout?.on('data', keep)
    started.stderr?.on('data', keep)
    const exited = new Promise<never>((_, reject) => {
      started.once('error', reject)
      started.once('exit', (code, signal) =>
        reject(new Error(`redis-server exited (${signal ?? code}) before it was ready:\n${output}`)),
      )
    })
    exited.catch(() => {})
    try {
      await Promise.race([waitForPong(port), exited])
    } catch (err) {
      started.kill('SIGKILL')
      child = undefined
      throw err
    }
  }
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    const running = child
    if (running === undefined) return
    child = undefined
    if (running.exitCode !== null || running.signalCode !== null) return
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()))
    if (paused && signal !== 'SIGKILL') running.kill('SIGCONT')
    paused = false
    running.kill(signal)
    const forced = setTimeout(() => running.kill('SIGKILL'), 5_000)
    await exited
    clearTimeout(forced)
  }

  await launch()
  process.on('exit', killOnExit)
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    external: false,
    get pid() {
      return child?.pid
    },
    stop,
    restart: async () => {
      if (child !== undefined) throw new Error('redis-server is running; stop it first')
      await launch()
    },
    pause: () => {
      if (child === undefined) throw new Error('redis-server is not running')
      child.kill('SIGSTOP')
      paused = true
    },
    resume: () => {
      if (child === undefined) throw new Error('redis-server is not running')
      child.kill('SIGCONT')
      paused = false
    },
    deleteKeys: (prefix) => deleteKeys(`redis://127.0.0.1:${port}`, prefix),
    close: async () => {
      await stop('SIGKILL')
      process.off('exit', killOnExit)
      if (dir !== undefined) await rm(dir, { recursive: true, force: true })
    },
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => {
        if (typeof address === 'object' && address !== null) resolve(address.port)
        else reject(new Error('no free port'))
      })
    })
  })
}

/** Resolves once the server answers PING with PONG (not LOADING, not refused). */
async function waitForPong(port: number): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS
  for (;;) {
    if (await ping(port)) return
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING in time`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' })
    let reply = ''
    const finish = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1_000, () => finish(false))
    socket.once('error', () => finish(false))
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8')
      if (reply.includes('\r\n')) finish(reply.startsWith('+PONG'))
    })
  })
}

const DELETE_KEYS_SCRIPT = `
local cursor, deleted = '0', 0
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)
  cursor = page[1]
  for _, key in ipairs(page[2]) do deleted = deleted + redis.call('DEL', key) end
until cursor == '0'
return deleted
`

/** One EVAL over a plain socket (redis:// only): the helper needs no Redis client library. */
function deleteKeys(url: string, prefix: string): Promise<number> {
  const { protocol, hostname, port, username, password, pathname } = new URL(url)
  if (protocol !== 'redis:') return Promise.reject(new Error('deleteKeys supports redis:// URLs only'))
  const encode = (args: string[]) =>
    `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`
  const commands: string[][] = []
  if (password)
    commands.push(['AUTH', ...(username ? [decodeURIComponent(username)] : []), decodeURIComponent(password)])
  const db = pathname.slice(1)
  if (/^\d+$/.test(db)) commands.push(['SELECT', db])
  commands.push(['EVAL', DELETE_KEYS_SCRIPT, '0', `${prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}*`])
  return new Promise((resolve, reject) => {
    const socket = connect({ port: Number(port || 6379), host: hostname.replace(/^\[|\]$/g, '') })
    let received = ''
    socket.setTimeout(5_000, () => socket.destroy(new Error('Redis did not answer in time')))
    socket.once('error', reject)
    socket.once('connect', () => socket.write(commands.map(encode).join('')))
    socket.on('data', (chunk) => {
      received += chunk.toString('utf8')
      // Every reply here is one line: +OK, :<integer> or -<error>.
      const replies = received.split('\r\n').slice(0, -1)
      if (replies.length < commands.length) return
      socket.destroy()
      const failed = replies.find((reply) => reply.startsWith('-'))
      const last = replies[commands.length - 1] ?? ''
      if (failed === undefined && last.startsWith(':')) resolve(Number(last.slice(1)))
      else reject(new Error(`Redis refused to delete the keys: ${(failed ?? last).slice(0, 200)}`))
    })
  })
}
