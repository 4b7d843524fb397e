import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { chown, mkdir, mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'

/** Options of {@link startPostgresServer}. */
export interface StartPostgresServerOptions {
  /**
   * Start a PostgreSQL of its own even when `DATABASE_URL` is set: for tests that stop, restart or
   * pause the database, which they must not do to a shared one. Default: `false`.
   */
  own?: boolean
}

/** A PostgreSQL for tests; see {@link startPostgresServer}. */
export interface PostgresServer {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` (or `DATABASE_URL`). */
  readonly url: string
  /** The port, on 127.0.0.1. */
  readonly port: number
  /** True when this is the database of `DATABASE_URL`: it cannot be stopped, restarted or paused. */
  readonly external: boolean
  /** The postmaster's process id while it runs; `undefined` when stopped or external. */
  readonly pid: number | undefined
  /**
   * Stops the server and waits for the postmaster to exit. The default, `SIGINT`, is PostgreSQL's
   * fast shutdown; `SIGKILL` kills the postmaster and every backend at once (a crash: the next
   * start recovers from the write-ahead log). A paused server is resumed first.
   */
  stop(signal?: NodeJS.Signals): Promise<void>
  /** Starts it again on the same port and data, after {@link PostgresServer.stop}; resolves when it accepts connections. */
  restart(): Promise<void>
  /**
   * Freezes the server (`SIGSTOP` to the postmaster and every backend): connections stay open,
   * queries go unanswered.
   */
  pause(): void
  /** Resumes a paused server (`SIGCONT`). */
  resume(): void
  /** Stops the server for good and removes its data directory. For an external database, does nothing. */
  close(): Promise<void>
}

/** Whether the PostgreSQL suites can run here, and why not. */
export type PostgresAvailability =
  | { available: true; source: 'DATABASE_URL' | 'initdb' }
  | { available: false; reason: string }

const READY_TIMEOUT_MS = 30_000

/**
 * The directory of `initdb` and `postgres`: `POSTGRES_BIN` when set, else the `PATH`, else the
 * newest `/usr/lib/postgresql/<version>/bin` (where Debian and Ubuntu put them).
 */
function postgresBinDir(): string | undefined {
  const candidates: string[] = []
  if (process.env.POSTGRES_BIN) candidates.push(process.env.POSTGRES_BIN)
  candidates.push(...(process.env.PATH ?? '').split(delimiter).filter(Boolean))
  try {
    const versions = readdirSync('/usr/lib/postgresql')
      .filter((name) => /^\d+(\.\d+)?$/.test(name))
      .sort((a, b) => Number(b) - Number(a))
    candidates.push(...versions.map((version) => `/usr/lib/postgresql/${version}/bin`))
  } catch {
    // No Debian layout.
  }
  return candidates.find((dir) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres')))
}

/** The uid and gid of the `postgres` system user, read from /etc/passwd. */
function postgresUser(): { uid: number; gid: number } | undefined {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [name, , uid, gid] = line.split(':')
      if (name === 'postgres' && uid !== undefined && gid !== undefined)
        return { uid: Number(uid), gid: Number(gid) }
    }
  } catch {
    // No /etc/passwd.
  }
  return undefined
}

/** `initdb` and `postgres` refuse to run as root: then they run as the `postgres` system user. */
function runAs(): { uid: number; gid: number } | undefined | 'missing' {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined
  return postgresUser() ?? 'missing'
}

/**
 * Whether {@link startPostgresServer} can give a PostgreSQL: `DATABASE_URL` is set (unless `own`),
 * or `initdb` and `postgres` run (on the `PATH`, in `POSTGRES_BIN`, or in
 * `/usr/lib/postgresql/<version>/bin`; as the `postgres` system user when this process is root).
 *
 * @example
 * ```ts
 * const postgres = postgresServerAvailability()
 * if (!postgres.available) console.warn(`PostgreSQL tests skipped: ${postgres.reason}`)
 * ```
 */
export function postgresServerAvailability(options: { own?: boolean } = {}): PostgresAvailability {
  if (!options.own && process.env.DATABASE_URL) return { available: true, source: 'DATABASE_URL' }
  const unset = options.own ? '' : 'DATABASE_URL is not set and '
  const bin = postgresBinDir()
  if (bin === undefined)
    return {
      available: false,
      reason: `${unset}no \`initdb\` on the PATH or in /usr/lib/postgresql/*/bin (install it: apt-get install postgresql)`,
    }
  const user = runAs()
  if (user === 'missing')
    return {
      available: false,
      reason: `${unset}this process is root and there is no \`postgres\` user to run initdb as`,
    }
  const probe = spawnSync(join(bin, 'postgres'), ['--version'], { stdio: 'ignore', timeout: 5_000, ...user })
  if (probe.error === undefined && probe.status === 0) return { available: true, source: 'initdb' }
  return { available: false, reason: `${unset}\`${join(bin, 'postgres')} --version\` failed` }
}

/**
 * A PostgreSQL for tests: the one `DATABASE_URL` names when it is set (and `own` is not), otherwise
 * a throwaway cluster of its own: `initdb` in a temporary directory (user `postgres`, trust
 * authentication; no fsync, so its data survives a killed server but not a crashed machine), and `postgres` listening on a free port of 127.0.0.1 with its socket in
 * that directory, with `pause()` and `stop('SIGKILL')` reaching the postmaster and every backend. `close()` kills it by pid and removes the directory; it is also killed when the process
 * exits. As root, both run as the `postgres` system user.
 *
 * @throws {Error} when there is no `DATABASE_URL` and no cluster can be created, or it does not
 *   accept connections within 30 s.
 * @example
 * ```ts
 * const postgres = await startPostgresServer()
 * const store = new PostgresTokenStore({ connectionString: postgres.url, table: `t_${suffix}` })
 * await store.migrate()
 * // …
 * await store.close()
 * await postgres.close()
 * ```
 */
export async function startPostgresServer(options: StartPostgresServerOptions = {}): Promise<PostgresServer> {
  const external = options.own ? undefined : process.env.DATABASE_URL
  if (external) return externalServer(external)
  const availability = postgresServerAvailability({ own: true })
  if (!availability.available) throw new Error(`No PostgreSQL for tests: ${availability.reason}`)
  const bin = postgresBinDir() as string
  const user = runAs() as { uid: number; gid: number } | undefined
  const dir = await mkdtemp(join(tmpdir(), 'ongoing-postgres-'))
  try {
    const data = join(dir, 'data')
    await mkdir(data, { mode: 0o700 })
    if (user !== undefined) {
      await chown(dir, user.uid, user.gid)
      await chown(data, user.uid, user.gid)
    }
    const init = spawnSync(
      join(bin, 'initdb'),
      ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync'],
      { cwd: dir, encoding: 'utf8', timeout: 60_000, env: { ...process.env, LC_ALL: 'C' }, ...user },
    )
    if (init.status !== 0)
      throw new Error(
        `initdb failed (${init.error?.message ?? init.status}):\n${(init.stderr ?? '').slice(-2_000)}`,
      )
    let lastError: unknown
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = await freePort()
      try {
        return await ownServer({ bin, dir, data, port, user })
      } catch (err) {
        // Another process may have taken the port between our probe and the postmaster's bind.
        lastError = err
      }
    }
    throw lastError
  } catch (err) {
    await rm(dir, { recursive: true, force: true })
    throw err
  }
}

function externalServer(url: string): PostgresServer {
  const refuse = () => {
    throw new Error(
      'This test needs a PostgreSQL of its own; the one of DATABASE_URL is never stopped or paused',
    )
  }
  return {
    url,
    port: Number(new URL(url).port || 5432),
    external: true,
    pid: undefined,
    stop: async () => refuse(),
    restart: async () => refuse(),
    pause: refuse,
    resume: refuse,
    close: async () => {},
  }
}

interface OwnServerOptions {
  bin: string
  dir: string
  data: string
  port: number
  user: { uid: number; gid: number } | undefined
}

async function ownServer({ bin, dir, data, port, user }: OwnServerOptions): Promise<PostgresServer> {
  const args = [
    '-D',
    data,
    '-k',
    dir,
    '-p',
    String(port),
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'fsync=off',
    '-c',
    'full_page_writes=off',
    '-c',
    'max_connections=200',
  ]
  let child: ChildProcess | undefined
  let paused = false
  let output = ''
  // Every backend calls setsid(): a signal to the postmaster's group does not reach them, so
  // each process of the cluster (the postmaster's children, from /proc) is signalled.
  const group = (signal: NodeJS.Signals) => {
    const pid = child?.pid
    if (pid === undefined) return
    const family = [pid, ...childrenOf(pid)]
    // Stop the postmaster first (no new backends), resume it last.
    if (signal === 'SIGCONT') family.reverse()
    for (const each of family) {
      try {
        process.kill(each, signal)
      } catch {
        // Already gone.
      }
    }
  }

  const killOnExit = () => group('SIGKILL')
  const launch = async () => {
    output = ''
    // detached: not in the test runner's process group (a Ctrl-C there is for the runner).
    const started = spawn(join(bin, 'postgres'), args, {
      cwd: dir,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
      ...user,
    })
    child = started
    const ready = new Promise<void>((resolve) => {
      const keep = (chunk: Buffer) => {
        output = (output + chunk.toString('utf8')).slice(-8_000)
        if (output.includes('database system is ready to accept connections')) resolve()
      }
      started.stdout?.on('data', keep)
      started.stderr?.on('data', keep)
    })
    const exited = new Promise<never>((_, reject) => {
      started.once('error', reject)
      started.once('exit', (code, signal) =>
        reject(new Error(`postgres exited (${signal ?? code}) before it was ready:\n${output}`)),
      )
    })
    exited.catch(() => {})
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`postgres on port ${port} was not ready in time:\n${output}`)),
        READY_TIMEOUT_MS,
      )
    })
    try {
      await Promise.race([ready, exited, timeout])
    } catch (err) {
      group('SIGKILL')
      child = undefined
      throw err
    } finally {
      clearTimeout(timer)
    }
  }
  const stop = async (signal: NodeJS.Signals = 'SIGINT') => {
    const running = child
    if (running === undefined) return
    if (running.exitCode !== null || running.signalCode !== null) {
      child = undefined
      return
    }
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()))
    if (paused && signal !== 'SIGKILL') group('SIGCONT')
    paused = false
    if (signal === 'SIGKILL') group('SIGKILL')
    else running.kill(signal)
    const forced = setTimeout(() => group('SIGKILL'), 10_000)
    await exited
    clearTimeout(forced)
    child = undefined
  }

  await launch()
  process.on('exit', killOnExit)
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    external: false,
    get pid() {
      return child?.pid
    },
    stop,
    restart: async () => {
      if (child !== undefined) throw new Error('postgres is running; stop it first')
      await launch()
    },
    pause: () => {
      if (child === undefined) throw new Error('postgres is not running')
      group('SIGSTOP')
      paused = true
    },
    resume: () => {
      if (child === undefined) throw new Error('postgres is not running')
      group('SIGCONT')
      paused = false
    },
    close: async () => {
      await stop('SIGKILL')
      process.off('exit', killOnExit)
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** The process ids whose parent is `pid` (Linux /proc; none elsewhere). */
function childrenOf(pid: number): number[] {
  const children: number[] = []
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return children
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      // pid (comm) state ppid …: comm may hold spaces and parentheses.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === pid) children.push(Number(entry))
    } catch {
      // Exited meanwhile.
    }
  }
  return children
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
