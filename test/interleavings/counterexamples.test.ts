/**
 * Every counterexample the interleaving checker found on the engine, shrunk and written out: a
 * fixed scenario (operations, faults, and where the order matters, the scheduler's path), run on
 * `MemoryTokenStore` and checked against every invariant. Each names the fault it shows.
 *
 * Each failed on the engine before issue 17's rewrite (commit 8c9ce18) and passes on it. The first
 * test checks that each scenario still runs to the end, so a pass here never comes from a harness
 * that stopped early.
 */
import { describeWithRedis } from '@ongoing/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { memoryBackend, type RedisBackend, startRedisBackend } from './backends.js'
import { checkScenario, formatFailure } from './checker.js'
import type { Scenario } from './scenario.js'
import type { Backend } from './world.js'

interface Counterexample {
  instances: number
  scenario: Scenario
}

const none = { asFaults: [], storeFaults: [], lateNotifications: [], path: [] }

/** Fault 1: a refresh whose outcome is unknown (reset after the server rotated) is retried at once. */
const unknownOutcomeRetried: Counterexample = {
  instances: 1,
  scenario: {
    ...none,
    seed: 0,
    initial: { alice: 'due', bob: 'none' },
    ops: [{ kind: 'get', instance: 0, user: 'alice' }],
    asFaults: [{ call: 0, fault: 'reset-after' }],
  },
}

/**
 * Fault 2: the lock's TTL (52 s) covers the token calls but not discovery and the store calls
 * before them. i0 takes the lock, discovers slowly (a 404, then the OpenID document, 9.9 s each)
 * and gets two late 503 Retry-After: 10; its lock lapses, i1 takes it and rotates alice#1.1,
 * then i0's third attempt presents alice#1.1 again: the server revokes the grant.
 */
const lockLapsesDuringDiscovery: Counterexample = {
  instances: 2,
  scenario: {
    ...none,
    seed: 0,
    initial: { alice: 'due', bob: 'none' },
    discovery: true,
    ops: [
      { kind: 'get', instance: 0, user: 'alice' },
      { kind: 'get', instance: 1, user: 'alice' },
    ],
    discoveryFaults: [
      { call: 0, fault: 'slow' },
      { call: 0, fault: 'not-found' },
      { call: 1, fault: 'slow' },
    ],
    asFaults: [
      { call: 0, fault: 'slow' },
      { call: 0, fault: 'unavailable' },
      { call: 1, fault: 'slow' },
      { call: 1, fault: 'unavailable' },
    ],
  },
}

/**
 * Fault 3: the write of a rotated grant fails; the new refresh token stays in i0's memory only,
 * the store keeps the spent one, and i1 presents it: the server revokes the grant.
 */
const failedWriteLeavesGrantInOneProcess: Counterexample = {
  instances: 2,
  scenario: {
    ...none,
    seed: 0,
    initial: { alice: 'due', bob: 'none' },
    sequential: true,
    ops: [
      { kind: 'get', instance: 0, user: 'alice' },
      { kind: 'get', instance: 1, user: 'alice' },
    ],
    storeFaults: [{ method: 'set', nth: 0, fault: 'fail-before' }],
  },
}

/**
 * Fault 4: i0's rotated grant is left unsaved (its write failed); the user revokes and consents
 * again on i1, and the new grant is stored at version 1, the version i0 read before the delete.
 * Ten minutes later i0 saves its leftover grant over the new consent.
 */
const leftoverGrantOverwritesNewConsent: Counterexample = {
  instances: 2,
  scenario: {
    ...none,
    seed: 0,
    initial: { alice: 'due', bob: 'none' },
    sequential: true,
    ops: [
      { kind: 'get', instance: 0, user: 'alice' },
      { kind: 'revoke', instance: 1, user: 'alice' },
      { kind: 'consent', instance: 1, user: 'alice' },
      { kind: 'advance', ms: 600_000 },
      { kind: 'get', instance: 0, user: 'alice' },
    ],
    storeFaults: [{ method: 'set', nth: 0, fault: 'fail-before' }],
  },
}

/** Fault 5: a forced refresh that starts while a plain read is in flight joins it: no refresh. */
const forcedRefreshJoinsPlainRead: Counterexample = {
  instances: 1,
  scenario: {
    ...none,
    seed: 0,
    initial: { alice: 'fresh', bob: 'none' },
    ops: [
      { kind: 'get', instance: 0, user: 'alice' },
      { kind: 'force', instance: 0, user: 'alice' },
    ],
  },
}

/**
 * `fetch` after a 401: the API rejects alice#1.1; the refresh's first attempt is refused, and
 * during the backoff its lock lapses (injected). The second attempt rotates, the fenced write
 * loses, and the engine falls back to the stored token, which is fresh: the one the API rejected.
 * `fetch` retries with it.
 */
const fetchRetriesWithRejectedToken: Counterexample = {
  instances: 1,
  scenario: {
    ...none,
    seed: 0,
    initial: { alice: 'fresh', bob: 'none' },
    sequential: true,
    ops: [
      { kind: 'reject', user: 'alice' },
      { kind: 'fetch', instance: 0, user: 'alice' },
    ],
    asFaults: [{ call: 0, fault: 'refused' }],
    storeFaults: [{ method: 'lock', nth: 0, fault: 'short-lock' }],
  },
}

/**
 * Fault 6: i1's read of alice#1 is applied, then i0 restores a new grant and i1 hears of the
 * change, then i1's read answers: i1 caches the old grant and serves it to the next call.
 */
const notificationRacesRead: Counterexample = {
  instances: 2,
  scenario: {
    ...none,
    seed: 0,
    initial: { alice: 'fresh', bob: 'none' },
    ops: [
      { kind: 'get', instance: 1, user: 'alice' },
      { kind: 'restore', instance: 0, user: 'alice' },
      { kind: 'get', instance: 1, user: 'alice' },
    ],
    path: [
      'start op 1',
      'i1 ▸ store.get',
      'start op 2',
      'i0 ▸ store.get',
      'i0 ◂ store.get',
      'i0 ▸ store.set',
      'i1 ◂ change',
      'i1 ◂ store.get',
      'start op 3',
    ],
  },
}

/**
 * Fault 6, through the in-flight map: after i1 heard of the new grant, a new call on i1 joins a
 * read that began before the change, and gets the old grant.
 */
const callAfterNotificationJoinsOlderRead: Counterexample = {
  instances: 2,
  scenario: {
    ...none,
    seed: 0,
    initial: { alice: 'fresh', bob: 'none' },
    ops: [
      { kind: 'get', instance: 1, user: 'alice' },
      { kind: 'restore', instance: 0, user: 'alice' },
      { kind: 'get', instance: 1, user: 'alice' },
    ],
    path: [
      'start op 1',
      'i1 ▸ store.get',
      'start op 2',
      'i0 ▸ store.get',
      'i0 ◂ store.get',
      'i0 ▸ store.set',
      'i1 ◂ change',
      'start op 3',
    ],
  },
}

/**
 * Found while the engine was being fixed (after counterexamples 1-8 passed), written out by hand
 * once the model delivered a writer's own notification during its write: two restores of alice by
 * i0 write one after the other, the second one's answer comes first, and the first one's answer then
 * cached the older grant, served to the next call.
 */
const ownWritesAnswerOutOfOrder: Counterexample = {
  instances: 2,
  scenario: {
    ...none,
    seed: 0,
    initial: { alice: 'fresh', bob: 'none' },
    ops: [
      { kind: 'restore', instance: 0, user: 'alice' },
      { kind: 'restore', instance: 0, user: 'alice' },
      { kind: 'get', instance: 0, user: 'alice' },
    ],
    path: [
      'start op 1',
      'i0 ▸ store.get',
      'i0 ◂ store.get',
      'i0 ▸ store.set',
      'start op 2',
      'i0 ▸ store.get',
      'i0 ◂ store.get',
      'i0 ▸ store.set',
      'expect v2): v3',
      'expect v1): v2',
      'start op 3',
    ],
  },
}

/**
 * Found while the engine was being fixed, written out by hand the same way: a call that starts
 * while its own process writes a new grant (after the write's notification) joins a read that began
 * before, and serves the old grant.
 */
const callDuringOwnWriteJoinsOlderRead: Counterexample = {
  instances: 2,
  scenario: {
    ...none,
    seed: 0,
    initial: { alice: 'fresh', bob: 'none' },
    ops: [
      { kind: 'restore', instance: 0, user: 'alice' },
      { kind: 'get', instance: 0, user: 'alice' },
      { kind: 'get', instance: 0, user: 'alice' },
    ],
    path: [
      'start op 1',
      'i0 ▸ store.get',
      'i0 ◂ store.get',
      'start op 2',
      'i0 ▸ store.get',
      'i0 ▸ store.set',
      'start op 3',
      'i0 ◂ store.get',
    ],
  },
}

/**
 * Found by a longer exploration (seed 7, 15,000 runs): i1's refresh is reset (the server never got
 * it, but i1 cannot know), and the store refuses the failure record; i1 let go of the lock, and i0
 * presented the same refresh token 10 ms later.
 */
const unrecordedUnknownOutcome: Counterexample = {
  instances: 3,
  scenario: {
    ...none,
    seed: 0,
    initial: { alice: 'fresh', bob: 'fresh' },
    ops: [
      { kind: 'force', instance: 1, user: 'alice' },
      { kind: 'force', instance: 0, user: 'alice' },
    ],
    asFaults: [{ call: 0, fault: 'reset-before' }],
    storeFaults: [{ method: 'set', nth: 0, fault: 'fail-before' }],
    path: [],
  },
}

/**
 * Found by a longer exploration (seed 11, 15,000 runs): i0 revokes while it restores; the revoke
 * forgot the cached grant before its delete, the restore cached its grant in between, the delete
 * removed it, and a call after the revoke returned served it.
 */
const revokeLeavesGrantWrittenMeanwhileCached: Counterexample = {
  instances: 2,
  scenario: {
    ...none,
    seed: 0,
    initial: { alice: 'fresh', bob: 'fresh' },
    ops: [
      { kind: 'revoke', instance: 0, user: 'alice' },
      { kind: 'restore', instance: 0, user: 'alice' },
      { kind: 'advance', ms: 1000 },
      { kind: 'revoke', instance: 0, user: 'alice' },
      { kind: 'restore', instance: 0, user: 'alice' },
      { kind: 'fetch', instance: 0, user: 'alice' },
      { kind: 'fetch', instance: 0, user: 'alice' },
    ],
    path: [
      0, 9, 0, 15, 0, 11, 3, 11, 14, 14, 11, 1, 8, 3, 1, 5, 7, 3, 9, 4, 7, 1, 14, 12, 2, 1, 13, 9, 14, 0, 12,
      13, 12, 12, 6, 5, 6, 14, 7, 3, 10, 13, 4, 13, 3, 6, 6, 10, 6, 14, 15, 8, 14, 11, 12, 11, 6,
    ],
  },
}

const ALL = {
  unknownOutcomeRetried,
  lockLapsesDuringDiscovery,
  failedWriteLeavesGrantInOneProcess,
  leftoverGrantOverwritesNewConsent,
  forcedRefreshJoinsPlainRead,
  fetchRetriesWithRejectedToken,
  notificationRacesRead,
  callAfterNotificationJoinsOlderRead,
  ownWritesAnswerOutOfOrder,
  callDuringOwnWriteJoinsOlderRead,
  unrecordedUnknownOutcome,
  revokeLeavesGrantWrittenMeanwhileCached,
}

let run = 0
async function expectEveryInvariant(
  { instances, scenario }: Counterexample,
  backend: Backend = memoryBackend,
): Promise<void> {
  const result = await checkScenario(scenario, { backend, instances, run: ++run })
  expect(
    result.violations.map((v) => `[${v.invariant}] ${v.message}`),
    formatFailure(scenario, result),
  ).toEqual([])
}

describe('interleaving counterexamples', () => {
  it('each scenario runs to the end (so a failure below is the engine, not the harness)', async () => {
    for (const [name, { instances, scenario }] of Object.entries(ALL)) {
      const result = await checkScenario(scenario, { backend: memoryBackend, instances, run: ++run })
      expect(result.budgetExhausted, name).toBe(false)
      expect(result.trace.length, name).toBeGreaterThan(0)
    }
  })

  it('counterexample 1: a refresh whose outcome is unknown is presented again at once', () =>
    expectEveryInvariant(unknownOutcomeRetried))

  it('counterexample 2: the lock lapses during slow discovery and a second process presents the same refresh token', () =>
    expectEveryInvariant(lockLapsesDuringDiscovery))

  it('counterexample 3: a failed write leaves the rotated grant in one process; another spends the old refresh token', () =>
    expectEveryInvariant(failedWriteLeavesGrantInOneProcess))

  it('counterexample 4: a leftover unsaved grant overwrites a new consent (versions restart after the delete)', () =>
    expectEveryInvariant(leftoverGrantOverwritesNewConsent))

  it('counterexample 5: a forced refresh joins a plain read in flight and returns the old token', () =>
    expectEveryInvariant(forcedRefreshJoinsPlainRead))

  it('counterexample 6: after its lock lapsed, fetch retries a 401 with the token the API rejected', () =>
    expectEveryInvariant(fetchRetriesWithRejectedToken))

  it('counterexample 7: a change notification races a store read; the old grant is cached and served', () =>
    expectEveryInvariant(notificationRacesRead))

  it('counterexample 8: a call that starts after the change notification joins an older read and gets the old grant', () =>
    expectEveryInvariant(callAfterNotificationJoinsOlderRead))

  it('counterexample 9: two writes of one grant by one process answer out of order; the older is cached', () =>
    expectEveryInvariant(ownWritesAnswerOutOfOrder))

  it('counterexample 10: a call that starts while its process writes a new consent joins an older read', () =>
    expectEveryInvariant(callDuringOwnWriteJoinsOlderRead))

  it('counterexample 11: an unknown outcome the store would not record; another process presents the refresh token again at once', () =>
    expectEveryInvariant(unrecordedUnknownOutcome))

  it('counterexample 12: a grant written during a revoke, and deleted by it, stays cached after the revoke returns', () =>
    expectEveryInvariant(revokeLeavesGrantWrittenMeanwhileCached))
})

// The same scenarios on a real Redis (one RedisTokenStore per instance): the faults are the
// engine's, not MemoryTokenStore's. These scenarios keep to first-come first-served or name
// their steps, so real I/O does not change their order.
describeWithRedis('interleaving counterexamples on Redis', () => {
  let redis: RedisBackend
  beforeAll(async () => {
    redis = await startRedisBackend(3)
  })
  afterAll(async () => {
    await redis?.close()
  })

  it('each scenario runs to the end on Redis', async () => {
    for (const [name, { instances, scenario }] of Object.entries(ALL)) {
      const result = await checkScenario(scenario, { backend: redis, instances, run: ++run })
      expect(result.budgetExhausted, name).toBe(false)
      expect(result.trace.length, name).toBeGreaterThan(0)
    }
  })

  it('counterexample 1 on Redis', () => expectEveryInvariant(unknownOutcomeRetried, redis))
  it('counterexample 2 on Redis', () => expectEveryInvariant(lockLapsesDuringDiscovery, redis))
  it('counterexample 3 on Redis', () => expectEveryInvariant(failedWriteLeavesGrantInOneProcess, redis))
  it('counterexample 4 on Redis', () => expectEveryInvariant(leftoverGrantOverwritesNewConsent, redis))
  it('counterexample 5 on Redis', () => expectEveryInvariant(forcedRefreshJoinsPlainRead, redis))
  it('counterexample 6 on Redis', () => expectEveryInvariant(fetchRetriesWithRejectedToken, redis))
  it('counterexample 7 on Redis', () => expectEveryInvariant(notificationRacesRead, redis))
  it('counterexample 8 on Redis', () => expectEveryInvariant(callAfterNotificationJoinsOlderRead, redis))
})
