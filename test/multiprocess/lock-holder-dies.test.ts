// The process holding a grant's refresh lock dies (SIGKILL) or freezes (SIGSTOP) after the
// authorization server answered its refresh and before it saved the result. The other processes
// must neither deadlock nor save stale data, and must take over once the lock's TTL has passed.
//
// The window is hit exactly: each worker's store tells the test when a refresh is about to be
// written (see worker.mjs) and waits; the test kills or freezes the first one there.
import type { OngoingAccess } from '@ongoing/core'
import { startTestAuthorizationServer, type TestAuthorizationServer } from '@ongoing/testing'
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import {
  type Backend,
  backends,
  type ClosableStore,
  createAppConfig,
  createLocalAccess,
  digest,
  isActive,
  type RunResult,
  type StoreConfig,
  type StoreServer,
  seedGrant,
  sleep,
  startWorkers,
  totals,
  type Worker,
} from './support.js'

const PROCESSES = 4
const CALLS = 250
// requestTimeoutMs 1000 and a single attempt: the engine's lock TTL is 1 × 1000 + 0 backoff + 2000.
const ENGINE_OPTIONS = { requestTimeoutMs: 1_000, retry: { attempts: 1 } }
const LOCK_TTL_MS = 3_000

function lockHolderDies(backend: Backend): void {
  let server: StoreServer
  let strict: TestAuthorizationServer
  let lenient: TestAuthorizationServer
  let local: { access: OngoingAccess; store: ClosableStore } | undefined
  let workers: Worker[] = []
  let store: StoreConfig | undefined

  beforeAll(async () => {
    server = await backend.start()
    ;[strict, lenient] = await Promise.all([
      startTestAuthorizationServer({ accessTokenTTLSeconds: 3_600, rotateRefreshToken: true }),
      startTestAuthorizationServer({ accessTokenTTLSeconds: 3_600, rotateRefreshToken: false }),
    ])
  })
  afterEach(async () => {
    await Promise.all(workers.map((worker) => worker.stop()))
    workers = []
    local?.access.close()
    await local?.store.close()
    local = undefined
    if (store !== undefined) await server.clear(store)
    store = undefined
  })
  afterAll(async () => {
    await Promise.all([strict?.close(), lenient?.close()])
    await server?.close()
  })

  async function setUp(as: TestAuthorizationServer): Promise<string> {
    store = server.namespace()
    const config = { ...createAppConfig(as, store), options: ENGINE_OPTIONS }
    local = await createLocalAccess(config)
    const old = await seedGrant(as, local.access, 'alice', { expired: true })
    workers = await startWorkers(PROCESSES, { ...config, interceptLockedWrites: true })
    as.resetStats()
    return old
  }

  /** Starts every worker's calls; the first one about to write is killed there, later ones go on. */
  function runAndKillFirstWriter() {
    let holder: Worker | undefined
    let killedAt = 0
    const killed = new Promise<void>((resolve) => {
      for (const worker of workers) {
        worker.on('about-to-write', () => {
          if (holder === undefined) {
            holder = worker
            killedAt = Date.now()
            worker.kill('SIGKILL')
            resolve()
          } else {
            worker.send({ type: 'proceed' })
          }
        })
      }
    })
    const startedAt = Date.now()
    const runs = workers.map((worker) =>
      worker.run(['alice'], CALLS).then(
        (result) => ({ worker, result }),
        () => ({ worker, result: undefined }),
      ),
    )
    return {
      killed,
      holder: () => holder!,
      startedAt,
      killedAt: () => killedAt,
      survivors: async () => {
        const all = await Promise.all(runs)
        return all.filter(({ worker }) => worker !== holder).map(({ result }) => result!)
      },
    }
  }

  it('strict rotation, holder SIGKILLed between the answer and the write: no deadlock, no stale write, others take over after the lock TTL, and the grant is lost (1 revoked: the user must consent again)', async () => {
    await setUp(strict)
    const run = runAndKillFirstWriter()
    await run.killed
    expect(await run.holder().exited).toBe('SIGKILL')

    // While the dead holder's lock lives (taken after the calls started), nobody else calls the
    // token endpoint.
    await sleep(run.startedAt + LOCK_TTL_MS - 300 - Date.now())
    expect(strict.stats().tokenCalls.refresh_token).toBe(1)

    const survivors = await run.survivors()
    expect(survivors).toHaveLength(PROCESSES - 1)
    const alice = totals(survivors, 'alice')
    // What the user experiences: the rotated refresh token died with the holder; the next holder
    // presented the old one, the server saw it reused and revoked the grant. Every caller gets
    // ERR_CONSENT_REQUIRED invalid_grant: the one that refreshed from the server's answer, those that
    // waited from the dead grant's record it left (issue 20).
    expect(alice.ok).toBe(0)
    expect(Object.keys(alice.errors).every((e) => e.startsWith('ERR_CONSENT_REQUIRED/'))).toBe(true)
    expect(Object.values(alice.errors).reduce((a, b) => a + b, 0)).toBe((PROCESSES - 1) * CALLS)
    expect(alice.errors['ERR_CONSENT_REQUIRED/invalid_grant']).toBe((PROCESSES - 1) * CALLS)
    const stats = strict.stats()
    expect(stats.tokenCalls.refresh_token).toBe(2)
    expect(stats.refreshTokenReuse).toBe(1)
    expect(stats.grantsRevoked).toBe(1)
    // They waited for the lock's TTL (taken after the calls started), not forever.
    for (const result of survivors) {
      expect(result.finishedAt - run.startedAt).toBeGreaterThanOrEqual(LOCK_TTL_MS - 5)
      expect(result.finishedAt - run.killedAt()).toBeLessThan(LOCK_TTL_MS + 2_500)
    }
    // Nothing stale was saved: the dead grant's record says why, and the app asks for consent.
    await expect(local!.access.getAccessToken('alice')).rejects.toMatchObject({
      code: 'ERR_CONSENT_REQUIRED',
      reason: 'invalid_grant',
    })
    expect(await local!.access.inspect('alice')).toMatchObject({ status: 'consent_required' })
    console.info(
      `[multiprocess] ${backend.label}, holder killed: others settled ${Math.max(...survivors.map((r) => r.finishedAt - run.startedAt))} ms after the calls started, ${Math.max(...survivors.map((r) => r.finishedAt - run.killedAt()))} ms after the kill (lock TTL ${LOCK_TTL_MS} ms); grants revoked: ${stats.grantsRevoked}`,
    )
  }, 60_000)

  it('without rotation, holder SIGKILLed between the answer and the write: others take over after the lock TTL and the user keeps access (one extra refresh, 0 revoked)', async () => {
    const old = await setUp(lenient)
    const run = runAndKillFirstWriter()
    await run.killed
    await sleep(run.startedAt + LOCK_TTL_MS - 300 - Date.now())
    expect(lenient.stats().tokenCalls.refresh_token).toBe(1)

    const survivors = await run.survivors()
    const alice = totals(survivors, 'alice')
    expect(alice.errors).toEqual({})
    expect(alice.ok).toBe((PROCESSES - 1) * CALLS)
    const digests = Object.keys(alice.digests)
    expect(digests).toHaveLength(1)
    expect(digests[0]).not.toBe(old)
    expect(lenient.stats().tokenCalls.refresh_token).toBe(2)
    expect(lenient.stats().grantsRevoked).toBe(0)
    for (const result of survivors) {
      expect(result.finishedAt - run.startedAt).toBeGreaterThanOrEqual(LOCK_TTL_MS - 5)
      expect(result.finishedAt - run.killedAt()).toBeLessThan(LOCK_TTL_MS + 2_500)
    }
    const stored = await local!.access.getAccessToken('alice')
    expect(digest(stored.value)).toBe(digests[0])
    expect(await isActive(lenient, stored.value)).toBe(true)
  }, 60_000)

  it('a holder frozen past its lock TTL cannot save its stale answer when it wakes, even at the version it read (fencing)', async () => {
    const old = await setUp(lenient)
    let frozen: Worker | undefined
    let next: Worker | undefined
    const both = new Promise<void>((resolve) => {
      for (const worker of workers) {
        worker.on('about-to-write', () => {
          if (frozen === undefined) {
            frozen = worker
            worker.kill('SIGSTOP')
          } else if (next === undefined) {
            // The next holder has its answer and waits to write: the version is still the one the
            // frozen holder read. Only the lock tells them apart.
            next = worker
            resolve()
          } else {
            worker.send({ type: 'proceed' })
          }
        })
      }
    })
    const runs = workers.map((worker) => worker.run(['alice'], CALLS))
    await both

    frozen!.kill('SIGCONT')
    const lateWrite = frozen!.next((m) => m.type === 'late-write')
    frozen!.send({ type: 'proceed' })
    expect((await lateWrite).version).toBeNull()

    const nextWrite = next!.next((m) => m.type === 'late-write')
    next!.send({ type: 'proceed' })
    expect((await nextWrite).version).toBe(2)

    const results: RunResult[] = await Promise.all(runs)
    const alice = totals(results, 'alice')
    const digests = Object.keys(alice.digests)
    // Everyone who got a token got the next holder's; the frozen holder's answer reached nobody.
    expect(digests).toHaveLength(1)
    expect(digests[0]).not.toBe(old)
    expect(alice.ok).toBeGreaterThanOrEqual((PROCESSES - 1) * CALLS)
    // The frozen process's own callers: its store call outlived storeTimeoutMs while it was frozen.
    for (const error of Object.keys(alice.errors)) expect(error).toBe('ERR_STORE')
    expect(lenient.stats().tokenCalls.refresh_token).toBe(2)
    const stored = await local!.access.getAccessToken('alice')
    expect(digest(stored.value)).toBe(digests[0])
  }, 60_000)
}

for (const backend of backends) {
  backend.describe(`the refresh lock holder dies or stalls (${backend.label})`, () => lockHolderDies(backend))
}
