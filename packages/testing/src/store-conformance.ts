import type { TokenStore, TokenStoreLock } from '@ongoing/core'
import type { TestContext } from 'vitest'
import { vitestFor } from './vitest-api.js'

/** What the factory given to {@link runTokenStoreConformance} returns, once per test. */
export interface TokenStoreConformanceFixture {
  /** A new, empty store (a fresh key space: no record, lock or claim of another test). */
  store: TokenStore
  /**
   * Another client of the same backend and key space, as a second process would have. When given,
   * the suite also checks that compare-and-set, locks, fencing, claims and notifications hold
   * across clients. The suite closes what it returns.
   */
  connect?(): Promise<TokenStore>
  /** Frees what the fixture holds, after the suite closed the store. */
  cleanup?(): Promise<void> | void
}

/** Options of {@link runTokenStoreConformance}. */
export interface TokenStoreConformanceOptions {
  /** How long a notification from another client may take to arrive. Default: 2,000 ms. */
  notificationTimeoutMs?: number
  /**
   * The store implements every optional method (`acquireLock`, `subscribe`, `claimOnce`, `list`)
   * and the fixture gives `connect`: a case that would be skipped for lacking one fails instead.
   * Set it for a store you ship complete, so that losing a method fails your CI rather than
   * skipping quietly. Default: `false` (such cases are skipped, with the reason).
   */
  complete?: boolean
}

const LONG_TTL_MS = 60_000
const SHORT_TTL_MS = 250
const PAST_SHORT_TTL_MS = 600
const PARALLEL = 25

type OptionalCapability = 'acquireLock' | 'subscribe' | 'claimOnce' | 'list'

/** A walk's pages may be empty or hold more than `limit` keys, but not this many more. */
const pageBound = (limit: number) => limit * 10 + 10
/** A walk that takes more pages than this never ends. */
const MAX_PAGES = 10_000

/** Skips the test with `reason`, or fails it when the suite was told the store is complete. */
function lacking(ctx: TestContext, reason: string, complete: boolean): never {
  if (complete) throw new Error(`${reason}, but the suite was told the store is complete`)
  ctx.skip(reason)
}

/**
 * The token-store conformance suite: every `TokenStore` must pass it (DESIGN.md, "Token stores").
 * Call it at the top level of a Vitest test file; it registers one `describe` block.
 *
 * It checks reads, writes and deletes; versions (start at 1, grow by one); compare-and-set (a
 * stale writer loses and never overwrites, `expectedVersion` 0 means absent), also for delete;
 * record TTLs; refresh locks (exclusive, expiring, released and extended only by their holder) and fencing (a
 * write under a lock no longer held fails); change notification and unsubscribe; single-use
 * claims; listing by prefix (every key of a live record under the prefix once across pages, and
 * nothing else: no other prefix, lock, claim, deleted or expired record; not again when rewritten,
 * nor repeated by keys created during the walk; glob characters and unicode in prefixes taken
 * literally; pages of bounded size without repeats, a walk that ends with `cursor: undefined`);
 * parallel writers, lockers and claimers (exactly one wins); opaque values (unicode, 64 KiB) and
 * keys; and, when the fixture can `connect` a second client, all of that across clients. Optional
 * capabilities a store lacks (`acquireLock`, `subscribe`, `claimOnce`, `list`) are reported as
 * skipped, with the reason, unless `options.complete` says the store has them all.
 *
 * The listing cases expect a walk to list each key that exists throughout it exactly once. A Redis
 * store may list such a key twice while the database's key space shrinks (`SCAN`'s guarantee): the
 * cases never delete many keys during a walk, but on a Redis shared with other tests, a mass
 * deletion by another test meanwhile could.
 *
 * @param name - The store's name, for the report.
 * @param factory - Makes a fresh, empty store for each test.
 * @param options - `notificationTimeoutMs`; `complete` for a store that must have every optional method.
 * @example
 * ```ts
 * import { MemoryTokenStore } from '@ongoing/core'
 * import { runTokenStoreConformance } from '@ongoing/testing'
 *
 * runTokenStoreConformance('MemoryTokenStore', async () => ({ store: new MemoryTokenStore() }))
 * ```
 */
export function runTokenStoreConformance(
  name: string,
  factory: () => Promise<TokenStoreConformanceFixture>,
  options: TokenStoreConformanceOptions = {},
): void {
  const { afterEach, beforeEach, describe, expect, it } = vitestFor('runTokenStoreConformance')
  const notificationTimeoutMs = options.notificationTimeoutMs ?? 2_000
  const complete = options.complete === true

  /** Skips the test, saying why, when the store lacks an optional `TokenStore` method. */
  function needs<K extends OptionalCapability>(
    ctx: TestContext,
    store: TokenStore,
    capability: K,
  ): asserts store is TokenStore & Required<Pick<TokenStore, K>> {
    if (store[capability] === undefined)
      lacking(ctx, `the store has no ${capability} (optional in TokenStore)`, complete)
  }

  /** The lock's `extend`, or skips the test, saying why, when the store's locks have none. */
  function extendOf(ctx: TestContext, lock: TokenStoreLock | undefined): (ttlMs: number) => Promise<boolean> {
    expect(lock).toBeDefined()
    const held = lock as TokenStoreLock
    if (held.extend === undefined)
      lacking(ctx, 'the store’s locks have no extend (optional in TokenStoreLock)', complete)
    return (ttlMs) => (held.extend as (ttlMs: number) => Promise<boolean>).call(held, ttlMs)
  }

  /** Skips the test, saying why, when the fixture cannot connect a second client. */
  function needsPeer(ctx: TestContext, other: TokenStore | undefined): asserts other is TokenStore {
    if (other === undefined)
      lacking(ctx, 'the fixture has no connect(): no second client to check against', complete)
  }

  describe(`${name} (token store conformance)`, () => {
    let fixture: TokenStoreConformanceFixture
    let store: TokenStore
    let opened: TokenStore[] = []

    beforeEach(async () => {
      fixture = await factory()
      store = fixture.store
      opened = [store]
    })

    afterEach(async () => {
      for (const each of opened) await each.close?.()
      await fixture.cleanup?.()
    })

    /** A second client of the same backend, or `undefined` when the fixture has none. */
    async function peer(): Promise<TokenStore | undefined> {
      if (fixture.connect === undefined) return undefined
      const other = await fixture.connect()
      opened.push(other)
      return other
    }

    describe('get, set and delete', () => {
      it('reads nothing for a key never written', async () => {
        expect(await store.get('absent')).toBeUndefined()
      })

      it('creates a record at version 1 with expectedVersion 0', async () => {
        expect(await store.set('k', 'v1', { expectedVersion: 0 })).toBe(1)
        expect(await store.get('k')).toEqual({ value: 'v1', version: 1 })
      })

      it('grows the version by one with every write', async () => {
        for (let version = 1; version <= 5; version++) {
          expect(await store.set('k', `v${version}`, { expectedVersion: version - 1 })).toBe(version)
          expect(await store.get('k')).toEqual({ value: `v${version}`, version })
        }
      })

      it('keeps keys independent', async () => {
        await store.set('a', 'A', { expectedVersion: 0 })
        await store.set('b', 'B', { expectedVersion: 0 })
        await store.set('b', 'B2', { expectedVersion: 1 })
        expect(await store.get('a')).toEqual({ value: 'A', version: 1 })
        expect(await store.get('b')).toEqual({ value: 'B2', version: 2 })
        expect(await store.delete('a')).toBe(true)
        expect(await store.get('b')).toEqual({ value: 'B2', version: 2 })
      })

      it('deletes a record and says so; deleting a missing key says false', async () => {
        await store.set('k', 'v', { expectedVersion: 0 })
        expect(await store.delete('k')).toBe(true)
        expect(await store.get('k')).toBeUndefined()
        expect(await store.delete('k')).toBe(false)
        expect(await store.delete('never')).toBe(false)
      })

      it('creates a deleted key again with expectedVersion 0', async () => {
        await store.set('k', 'old', { expectedVersion: 0 })
        await store.delete('k')
        expect(await store.set('k', 'new', { expectedVersion: 1 })).toBeUndefined()
        expect(await store.set('k', 'new', { expectedVersion: 0 })).toBe(1)
        expect(await store.get('k')).toEqual({ value: 'new', version: 1 })
      })
    })

    describe('compare-and-set', () => {
      it('a stale writer loses and never overwrites', async () => {
        await store.set('k', 'v1', { expectedVersion: 0 })
        // Two writers read version 1; the first one wins.
        expect(await store.set('k', 'winner', { expectedVersion: 1 })).toBe(2)
        expect(await store.set('k', 'stale', { expectedVersion: 1 })).toBeUndefined()
        expect(await store.get('k')).toEqual({ value: 'winner', version: 2 })
        // A writer from the future is no better.
        expect(await store.set('k', 'future', { expectedVersion: 7 })).toBeUndefined()
        expect(await store.get('k')).toEqual({ value: 'winner', version: 2 })
      })

      it('expectedVersion 0 means absent: it fails when the record exists', async () => {
        await store.set('k', 'first', { expectedVersion: 0 })
        expect(await store.set('k', 'second', { expectedVersion: 0 })).toBeUndefined()
        expect(await store.get('k')).toEqual({ value: 'first', version: 1 })
      })

      it('a version above 0 fails when the record is absent', async () => {
        expect(await store.set('k', 'v', { expectedVersion: 1 })).toBeUndefined()
        expect(await store.get('k')).toBeUndefined()
      })

      it('delete with a stale expectedVersion keeps the record', async () => {
        await store.set('k', 'v1', { expectedVersion: 0 })
        await store.set('k', 'v2', { expectedVersion: 1 })
        expect(await store.delete('k', 1)).toBe(false)
        expect(await store.get('k')).toEqual({ value: 'v2', version: 2 })
      })

      it('delete with the current expectedVersion removes the record', async () => {
        await store.set('k', 'v1', { expectedVersion: 0 })
        await store.set('k', 'v2', { expectedVersion: 1 })
        expect(await store.delete('k', 2)).toBe(true)
        expect(await store.get('k')).toBeUndefined()
      })
    })

    describe('record lifetime', () => {
      it('a record written with ttlMs expires; one without lives on', async () => {
        await store.set('short', 'v', { expectedVersion: 0, ttlMs: SHORT_TTL_MS })
        await store.set('forever', 'v', { expectedVersion: 0 })
        expect(await store.get('short')).toEqual({ value: 'v', version: 1 })
        await sleep(PAST_SHORT_TTL_MS)
        expect(await store.get('short')).toBeUndefined()
        expect(await store.get('forever')).toEqual({ value: 'v', version: 1 })
      })

      it('an expired record is absent for compare-and-set and delete too', async () => {
        await store.set('k', 'old', { expectedVersion: 0, ttlMs: SHORT_TTL_MS })
        await store.set('gone', 'old', { expectedVersion: 0, ttlMs: SHORT_TTL_MS })
        await sleep(PAST_SHORT_TTL_MS)
        expect(await store.delete('gone')).toBe(false)
        expect(await store.set('k', 'stale', { expectedVersion: 1 })).toBeUndefined()
        expect(await store.set('k', 'new', { expectedVersion: 0 })).toBe(1)
        expect(await store.get('k')).toEqual({ value: 'new', version: 1 })
      })

      it('every write sets the lifetime again', async () => {
        await store.set('extended', 'v1', { expectedVersion: 0, ttlMs: 400 })
        await store.set('persisted', 'v1', { expectedVersion: 0, ttlMs: 400 })
        expect(await store.set('extended', 'v2', { expectedVersion: 1, ttlMs: 1_500 })).toBe(2)
        expect(await store.set('persisted', 'v2', { expectedVersion: 1 })).toBe(2)
        await sleep(800)
        expect(await store.get('extended')).toEqual({ value: 'v2', version: 2 })
        expect(await store.get('persisted')).toEqual({ value: 'v2', version: 2 })
        await sleep(1_100)
        expect(await store.get('extended')).toBeUndefined()
        expect(await store.get('persisted')).toEqual({ value: 'v2', version: 2 })
      })
    })

    describe('refresh locks', () => {
      it('a lock is exclusive until its holder releases it', async (ctx) => {
        needs(ctx, store, 'acquireLock')
        const first = await store.acquireLock('k', LONG_TTL_MS)
        expect(first).toMatchObject({ key: 'k', token: expect.any(String) })
        expect(await store.acquireLock('k', LONG_TTL_MS)).toBeUndefined()
        await first!.release()
        const second = await store.acquireLock('k', LONG_TTL_MS)
        expect(second).toBeDefined()
        expect(second!.token).not.toBe(first!.token)
      })

      it('locks of different keys are independent', async (ctx) => {
        needs(ctx, store, 'acquireLock')
        expect(await store.acquireLock('a', LONG_TTL_MS)).toBeDefined()
        expect(await store.acquireLock('b', LONG_TTL_MS)).toBeDefined()
        expect(await store.acquireLock('a', LONG_TTL_MS)).toBeUndefined()
      })

      it('a lock expires after its TTL, so a crashed holder blocks nobody for long', async (ctx) => {
        needs(ctx, store, 'acquireLock')
        expect(await store.acquireLock('k', SHORT_TTL_MS)).toBeDefined()
        expect(await store.acquireLock('k', SHORT_TTL_MS)).toBeUndefined()
        await sleep(PAST_SHORT_TTL_MS)
        expect(await store.acquireLock('k', LONG_TTL_MS)).toBeDefined()
      })

      it("only the holder releases: a late release does not free the next holder's lock", async (ctx) => {
        needs(ctx, store, 'acquireLock')
        const stalled = await store.acquireLock('k', SHORT_TTL_MS)
        await sleep(PAST_SHORT_TTL_MS)
        const next = await store.acquireLock('k', LONG_TTL_MS)
        expect(next).toBeDefined()
        await stalled!.release()
        expect(await store.acquireLock('k', LONG_TTL_MS)).toBeUndefined()
        await next!.release()
        await next!.release()
        expect(await store.acquireLock('k', LONG_TTL_MS)).toBeDefined()
      })

      it('a write under a held lock succeeds (fencing)', async (ctx) => {
        needs(ctx, store, 'acquireLock')
        await store.set('k', 'v1', { expectedVersion: 0 })
        const lock = await store.acquireLock('k', LONG_TTL_MS)
        expect(await store.set('k', 'v2', { expectedVersion: 1, lock })).toBe(2)
        expect(await store.get('k')).toEqual({ value: 'v2', version: 2 })
      })

      it('a write under a released lock fails and changes nothing (fencing)', async (ctx) => {
        needs(ctx, store, 'acquireLock')
        await store.set('k', 'v1', { expectedVersion: 0 })
        const lock = await store.acquireLock('k', LONG_TTL_MS)
        await lock!.release()
        expect(await store.set('k', 'late', { expectedVersion: 1, lock })).toBeUndefined()
        expect(await store.get('k')).toEqual({ value: 'v1', version: 1 })
      })

      it('a holder that stalled past its TTL cannot write, even at the right version (fencing)', async (ctx) => {
        needs(ctx, store, 'acquireLock')
        await store.set('k', 'v1', { expectedVersion: 0 })
        const stalled = await store.acquireLock('k', SHORT_TTL_MS)
        await sleep(PAST_SHORT_TTL_MS)
        // Expired and not taken again: still refused.
        expect(await store.set('k', 'stale', { expectedVersion: 1, lock: stalled })).toBeUndefined()
        const next = await store.acquireLock('k', LONG_TTL_MS)
        expect(await store.set('k', 'stale', { expectedVersion: 1, lock: stalled })).toBeUndefined()
        expect(await store.get('k')).toEqual({ value: 'v1', version: 1 })
        expect(await store.set('k', 'fresh', { expectedVersion: 1, lock: next })).toBe(2)
        expect(await store.get('k')).toEqual({ value: 'fresh', version: 2 })
      })

      it('a forged lock is refused', async (ctx) => {
        needs(ctx, store, 'acquireLock')
        await store.set('k', 'v1', { expectedVersion: 0 })
        await store.acquireLock('k', LONG_TTL_MS)
        const forged: TokenStoreLock = { key: 'k', token: 'forged', release: async () => {} }
        expect(await store.set('k', 'evil', { expectedVersion: 1, lock: forged })).toBeUndefined()
        expect(await store.get('k')).toEqual({ value: 'v1', version: 1 })
      })

      it('a holder extends its lock past the first TTL, and stays the only holder (extend)', async (ctx) => {
        needs(ctx, store, 'acquireLock')
        await store.set('k', 'v1', { expectedVersion: 0 })
        const lock = await store.acquireLock('k', SHORT_TTL_MS)
        const extend = extendOf(ctx, lock)
        expect(await extend(LONG_TTL_MS)).toBe(true)
        await sleep(PAST_SHORT_TTL_MS)
        expect(await store.acquireLock('k', LONG_TTL_MS)).toBeUndefined()
        expect(await store.set('k', 'v2', { expectedVersion: 1, lock })).toBe(2)
      })

      it('a lock lost to its TTL, or released, cannot be extended; the next holder keeps it', async (ctx) => {
        needs(ctx, store, 'acquireLock')
        const stalled = await store.acquireLock('k', SHORT_TTL_MS)
        const extendStalled = extendOf(ctx, stalled)
        await sleep(PAST_SHORT_TTL_MS)
        const next = await store.acquireLock('k', LONG_TTL_MS)
        expect(next).toBeDefined()
        expect(await extendStalled(LONG_TTL_MS)).toBe(false)
        expect(await store.acquireLock('k', LONG_TTL_MS)).toBeUndefined()
        await next!.release()
        expect(await extendOf(ctx, next)(LONG_TTL_MS)).toBe(false)
        expect(await store.acquireLock('k', LONG_TTL_MS)).toBeDefined()
      })

      it("a write without a lock is not blocked by someone else's lock (a new consent)", async (ctx) => {
        needs(ctx, store, 'acquireLock')
        await store.set('k', 'v1', { expectedVersion: 0 })
        await store.acquireLock('k', LONG_TTL_MS)
        expect(await store.set('k', 'consent', { expectedVersion: 1 })).toBe(2)
      })
    })

    describe('change notification', () => {
      it('tells listeners the key of every successful write and delete', async (ctx) => {
        needs(ctx, store, 'subscribe')
        const heard: string[] = []
        const other: string[] = []
        store.subscribe((key) => heard.push(key))
        store.subscribe((key) => other.push(key))
        await store.set('a', 'v1', { expectedVersion: 0 })
        await store.set('a', 'v2', { expectedVersion: 1 })
        await store.set('b', 'v1', { expectedVersion: 0 })
        await store.delete('a')
        await store.delete('b', 1)
        await waitFor(() => heard.length >= 5, notificationTimeoutMs)
        expect(heard).toEqual(['a', 'a', 'b', 'a', 'b'])
        expect(other).toEqual(heard)
      })

      it('says nothing about a write or delete that lost', async (ctx) => {
        needs(ctx, store, 'subscribe')
        await store.set('k', 'v1', { expectedVersion: 0 })
        const heard: string[] = []
        store.subscribe((key) => heard.push(key))
        expect(await store.set('k', 'stale', { expectedVersion: 0 })).toBeUndefined()
        expect(await store.delete('k', 5)).toBe(false)
        expect(await store.delete('absent')).toBe(false)
        await store.set('marker', 'v', { expectedVersion: 0 })
        await waitFor(() => heard.length >= 1, notificationTimeoutMs)
        await sleep(100)
        expect(heard).toEqual(['marker'])
      })

      it('stops telling a listener after it unsubscribes', async (ctx) => {
        needs(ctx, store, 'subscribe')
        const gone: string[] = []
        const staying: string[] = []
        const unsubscribe = store.subscribe((key) => gone.push(key))
        store.subscribe((key) => staying.push(key))
        await store.set('a', 'v', { expectedVersion: 0 })
        await waitFor(() => gone.length >= 1, notificationTimeoutMs)
        unsubscribe()
        unsubscribe()
        await store.set('b', 'v', { expectedVersion: 0 })
        await waitFor(() => staying.length >= 2, notificationTimeoutMs)
        await sleep(50)
        expect(gone).toEqual(['a'])
        expect(staying).toEqual(['a', 'b'])
      })

      it('a throwing listener fails neither the write nor the other listeners', async (ctx) => {
        needs(ctx, store, 'subscribe')
        const heard: string[] = []
        store.subscribe(() => {
          throw new Error('listener bug')
        })
        store.subscribe((key) => heard.push(key))
        expect(await store.set('k', 'v', { expectedVersion: 0 })).toBe(1)
        await waitFor(() => heard.length >= 1, notificationTimeoutMs)
        expect(heard).toEqual(['k'])
      })
    })

    describe('single-use claims', () => {
      it('claims an id once; repeats are refused; ids are independent', async (ctx) => {
        needs(ctx, store, 'claimOnce')
        expect(await store.claimOnce('tx-1', LONG_TTL_MS)).toBe(true)
        expect(await store.claimOnce('tx-1', LONG_TTL_MS)).toBe(false)
        expect(await store.claimOnce('tx-1', LONG_TTL_MS)).toBe(false)
        expect(await store.claimOnce('tx-2', LONG_TTL_MS)).toBe(true)
      })

      it('forgets a claim after its TTL', async (ctx) => {
        needs(ctx, store, 'claimOnce')
        expect(await store.claimOnce('tx', SHORT_TTL_MS)).toBe(true)
        expect(await store.claimOnce('tx', SHORT_TTL_MS)).toBe(false)
        await sleep(PAST_SHORT_TTL_MS)
        expect(await store.claimOnce('tx', LONG_TTL_MS)).toBe(true)
      })

      it('claims do not touch records of the same name', async (ctx) => {
        needs(ctx, store, 'claimOnce')
        await store.set('tx', 'record', { expectedVersion: 0 })
        expect(await store.claimOnce('tx', LONG_TTL_MS)).toBe(true)
        expect(await store.get('tx')).toEqual({ value: 'record', version: 1 })
      })
    })

    describe('concurrency', () => {
      it(`${PARALLEL} parallel writers at one version: exactly one wins, round after round`, async () => {
        for (let round = 0; round < 10; round++) {
          const results = await Promise.all(
            Array.from({ length: PARALLEL }, (_, writer) =>
              store.set('k', `round ${round} writer ${writer}`, { expectedVersion: round }),
            ),
          )
          const winners = results.flatMap((version, writer) => (version === undefined ? [] : [writer]))
          expect(winners).toHaveLength(1)
          expect(results[winners[0]!]).toBe(round + 1)
          expect(await store.get('k')).toEqual({
            value: `round ${round} writer ${winners[0]}`,
            version: round + 1,
          })
        }
      })

      it(`${PARALLEL} parallel lock requests: exactly one holder`, async (ctx) => {
        needs(ctx, store, 'acquireLock')
        const acquireLock = store.acquireLock.bind(store)
        const locks = await Promise.all(Array.from({ length: PARALLEL }, () => acquireLock('k', LONG_TTL_MS)))
        expect(locks.filter((lock) => lock !== undefined)).toHaveLength(1)
      })

      it(`${PARALLEL} parallel claims of one id: exactly one is first`, async (ctx) => {
        needs(ctx, store, 'claimOnce')
        const claimOnce = store.claimOnce.bind(store)
        const claims = await Promise.all(Array.from({ length: PARALLEL }, () => claimOnce('tx', LONG_TTL_MS)))
        expect(claims.filter(Boolean)).toHaveLength(1)
      })

      it(`${PARALLEL} parallel deletes at one version: exactly one deletes`, async () => {
        await store.set('k', 'v', { expectedVersion: 0 })
        const deleted = await Promise.all(Array.from({ length: PARALLEL }, () => store.delete('k', 1)))
        expect(deleted.filter(Boolean)).toHaveLength(1)
      })
    })

    describe('opaque values and keys', () => {
      it('returns every value exactly as written', async () => {
        const values = [
          '',
          ' ',
          'plain',
          'ünïcödé ✓ 日本語 🔑👩‍👩‍👧 e\u0301',
          '"quoted" \'single\' `back` \\ backslash',
          'line\nbreak\r\ntab\tnull\u0000end',
          '{"json":[1,2,{"x":null}]}',
          '*?[]{}$%:;',
          'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln',
        ]
        for (const [index, value] of values.entries()) {
          expect(await store.set(`k${index}`, value, { expectedVersion: 0 })).toBe(1)
        }
        for (const [index, value] of values.entries()) {
          expect(await store.get(`k${index}`)).toEqual({ value, version: 1 })
        }
      })

      it('keeps a 64 KiB value intact', async () => {
        const value = Array.from({ length: 64 * 1024 }, (_, i) =>
          String.fromCharCode(33 + ((i * 7) % 94)),
        ).join('')
        const unicode = `${'€'.repeat(16 * 1024)}🔑`
        expect(await store.set('big', value, { expectedVersion: 0 })).toBe(1)
        expect(await store.set('big-unicode', unicode, { expectedVersion: 0 })).toBe(1)
        expect((await store.get('big'))?.value).toBe(value)
        expect((await store.get('big-unicode'))?.value).toBe(unicode)
      })

      it('treats keys as exact strings (unicode, spaces, separators, glob characters)', async () => {
        const keys = [
          'grant:abc:user',
          'grant:abc:user ',
          'grant:abc:User',
          'grant:*',
          'grant:?',
          'ключ 🔑',
          'a{b}c',
          'a]b[c',
        ]
        for (const [index, key] of keys.entries()) await store.set(key, `v${index}`, { expectedVersion: 0 })
        for (const [index, key] of keys.entries())
          expect(await store.get(key)).toEqual({ value: `v${index}`, version: 1 })
        expect(await store.delete('grant:*')).toBe(true)
        expect(await store.get('grant:abc:user')).toEqual({ value: 'v0', version: 1 })
      })
    })

    describe('listing', () => {
      type Listing = TokenStore & Required<Pick<TokenStore, 'list'>>

      /**
       * Walks `prefix` to its end, `limit` keys a page, checking every page (no key twice, every
       * key under the prefix, a bounded size) and calling `between` after each page but the last.
       * Returns the pages.
       */
      async function walk(
        lister: Listing,
        prefix: string,
        limit: number,
        between?: (keys: string[], page: number) => Promise<void>,
      ): Promise<string[][]> {
        const pages: string[][] = []
        let cursor: string | undefined
        do {
          if (pages.length >= MAX_PAGES) throw new Error(`the walk of ${JSON.stringify(prefix)} never ends`)
          const page = await lister.list(prefix, cursor === undefined ? { limit } : { cursor, limit })
          expect(Array.isArray(page.keys)).toBe(true)
          expect(new Set(page.keys).size, 'a page holds a key twice').toBe(page.keys.length)
          expect(page.keys.length).toBeLessThanOrEqual(pageBound(limit))
          for (const key of page.keys)
            expect(key.startsWith(prefix), `${key} is not under ${prefix}`).toBe(true)
          pages.push(page.keys)
          cursor = page.cursor
          if (cursor !== undefined) {
            expect(typeof cursor).toBe('string')
            await between?.(page.keys, pages.length - 1)
          }
        } while (cursor !== undefined)
        return pages
      }

      const sorted = (keys: Iterable<string>) => [...keys].sort()
      const keysUnder = (prefix: string, count: number) =>
        Array.from({ length: count }, (_, index) => `${prefix}${String(index).padStart(3, '0')}`)

      async function create(keys: string[], ttlMs?: number): Promise<void> {
        for (const key of keys)
          expect(await store.set(key, `value of ${key}`, { expectedVersion: 0, ttlMs })).toBe(1)
      }

      // The cases go from few keys to many: a key space that shrinks under a walk may repeat keys
      // (Redis SCAN), and a case that follows a bigger one must not see its leftovers shrink.

      it('a prefix with no records: the walk ends, with no keys', async (ctx) => {
        needs(ctx, store, 'list')
        await create(['other:1', 'other:2', 'nothing', 'nothin'])
        for (const limit of [1, 3, 1_000]) expect((await walk(store, 'nothing:', limit)).flat()).toEqual([])
        // Pages may be empty before the end; the walk still ends.
        expect((await walk(store, 'absent', 2)).flat()).toEqual([])
      })

      it('a client lists the keys another client wrote, and not those it deleted', async (ctx) => {
        needs(ctx, store, 'list')
        const other = await peer()
        needsPeer(ctx, other)
        needs(ctx, other, 'list')
        const keys = keysUnder('peer:', 12)
        await create(keys)
        await create(['peers:1'])
        expect(await store.delete(keys[0]!)).toBe(true)
        expect(sorted((await walk(other, 'peer:', 5)).flat())).toEqual(keys.slice(1))
        expect(await other.set('peer:new', 'v', { expectedVersion: 0 })).toBe(1)
        expect(sorted((await walk(store, 'peer:', 5)).flat())).toEqual(sorted([...keys.slice(1), 'peer:new']))
      })

      it('takes glob characters and unicode in a prefix literally', async (ctx) => {
        needs(ctx, store, 'list')
        // Each prefix, as a glob pattern, would also match the decoys.
        const prefixes = [
          'a*:',
          'a?:',
          'a[bc]:',
          'a[^x]:',
          'a]:',
          'a\\:',
          'a\\*:',
          'a{b}:',
          'ключ 🔑:',
          'e\u0301:',
        ]
        const decoys = ['ab:1', 'ac:1', 'a:1', 'axyz:1', 'a\\b:1', 'ab}:1', 'ключ 🔒:1', 'é:1', 'e:1']
        const written = new Map(prefixes.map((prefix) => [prefix, keysUnder(prefix, 3)]))
        for (const keys of written.values()) await create(keys)
        await create(decoys)
        // A record whose key looks like a lock's, and a key made of glob characters only.
        await create(['a*:x}:lock', 'a*:*'])
        written.get('a*:')!.push('a*:x}:lock', 'a*:*')
        for (const [prefix, keys] of written)
          expect(sorted((await walk(store, prefix, 4)).flat()), prefix).toEqual(sorted(keys))
        const everything = [...[...written.values()].flat(), ...decoys]
        expect(sorted((await walk(store, '', 8)).flat())).toEqual(sorted(everything))
        expect(sorted((await walk(store, 'a', 8)).flat())).toEqual(
          sorted(everything.filter((key) => key.startsWith('a'))),
        )
      })

      it('lists neither deleted nor expired records', async (ctx) => {
        needs(ctx, store, 'list')
        const kept = keysUnder('gone:kept:', 15)
        const deleted = keysUnder('gone:deleted:', 5)
        const expiring = keysUnder('gone:expiring:', 10)
        await create(kept)
        await create(deleted)
        await create(expiring, SHORT_TTL_MS)
        await store.set(kept[0]!, 'rewritten with a long lifetime', {
          expectedVersion: 1,
          ttlMs: LONG_TTL_MS,
        })
        for (const [index, key] of deleted.entries())
          expect(await (index % 2 === 0 ? store.delete(key) : store.delete(key, 1))).toBe(true)
        expect(sorted((await walk(store, 'gone:', 4)).flat())).toEqual(sorted([...kept, ...expiring]))
        await sleep(PAST_SHORT_TTL_MS)
        // Compared as sets: other cases check that no key is listed twice.
        expect(sorted(new Set((await walk(store, 'gone:', 4)).flat()))).toEqual(sorted(kept))
        expect(sorted(new Set((await walk(store, 'gone:', 1_000)).flat()))).toEqual(sorted(kept))
      })

      it('lists every key under a prefix once, a page at a time, and nothing else', async (ctx) => {
        needs(ctx, store, 'list')
        const keys = keysUnder('grant:', 57)
        await create(keys)
        // Neighbours: other prefixes, the prefix itself without its separator, another case.
        await create(['grant', 'gran:t', 'Grant:1', 'other:grant:1', 'grant;1'])
        // Neither locks (held on records and on a key with no record) nor single-use ids are keys.
        if (store.acquireLock !== undefined) {
          for (const key of [keys[0]!, keys[30]!, 'grant:lock-only'])
            expect(await store.acquireLock(key, LONG_TTL_MS)).toBeDefined()
        }
        if (store.claimOnce !== undefined)
          expect(await store.claimOnce('grant:used-once', LONG_TTL_MS)).toBe(true)
        for (const limit of [7, 1, 1_000]) {
          const listed = (await walk(store, 'grant:', limit)).flat()
          expect(sorted(listed), `limit ${limit}`).toEqual(keys)
        }
      })

      it('does not list a key again when it is rewritten between pages', async (ctx) => {
        needs(ctx, store, 'list')
        const keys = keysUnder('rewritten:', 57)
        await create(keys)
        const versions = new Map(keys.map((key) => [key, 1]))
        const listed = (
          await walk(store, 'rewritten:', 7, async (page) => {
            // Every key listed so far is written again, once with a lifetime, once without.
            for (const key of new Set([...page, ...keys.filter((key) => versions.get(key)! > 1)])) {
              const version = versions.get(key)!
              const ttlMs = version % 2 === 0 ? undefined : LONG_TTL_MS
              expect(await store.set(key, `rewrite ${version}`, { expectedVersion: version, ttlMs })).toBe(
                version + 1,
              )
              versions.set(key, version + 1)
            }
          })
        ).flat()
        expect(listed.length).toBe(keys.length)
        expect(sorted(listed)).toEqual(keys)
      })

      it('keys created during a walk neither repeat nor hide a key that was there all along', async (ctx) => {
        needs(ctx, store, 'list')
        const keys = keysUnder('growing:first:', 57)
        await create(keys)
        const created: string[] = []
        const pages = await walk(store, 'growing:', 7, async (_, page) => {
          // Enough new keys for the key space to grow (and a hash table to resize) mid-walk.
          if (page < 8) {
            const more = keysUnder(`growing:during:${page}:`, 12)
            await create(more)
            created.push(...more)
          }
        })
        const listed = pages.flat()
        const original = listed.filter((key) => key.startsWith('growing:first:'))
        expect(original.length).toBe(keys.length)
        expect(sorted(original)).toEqual(keys)
        // The new ones may or may not be listed; nothing else is.
        expect(listed.filter((key) => !key.startsWith('growing:first:') && !created.includes(key))).toEqual(
          [],
        )
      })
    })

    describe('across clients of one backend', () => {
      it('both clients see one record; a stale writer on either side loses', async (ctx) => {
        const other = await peer()
        needsPeer(ctx, other)
        expect(await store.set('k', 'from A', { expectedVersion: 0 })).toBe(1)
        expect(await other.get('k')).toEqual({ value: 'from A', version: 1 })
        expect(await other.set('k', 'from B', { expectedVersion: 1 })).toBe(2)
        expect(await store.set('k', 'stale A', { expectedVersion: 1 })).toBeUndefined()
        expect(await store.get('k')).toEqual({ value: 'from B', version: 2 })
        expect(await store.delete('k', 2)).toBe(true)
        expect(await other.get('k')).toBeUndefined()
      })

      it('a lock held by one client excludes the other, and fences its writes', async (ctx) => {
        const other = await peer()
        needsPeer(ctx, other)
        needs(ctx, store, 'acquireLock')
        needs(ctx, other, 'acquireLock')
        await store.set('k', 'v1', { expectedVersion: 0 })
        const stalled = await store.acquireLock('k', SHORT_TTL_MS)
        expect(await other.acquireLock('k', LONG_TTL_MS)).toBeUndefined()
        await sleep(PAST_SHORT_TTL_MS)
        const next = await other.acquireLock('k', LONG_TTL_MS)
        expect(next).toBeDefined()
        await stalled!.release()
        expect(await store.acquireLock('k', LONG_TTL_MS)).toBeUndefined()
        expect(await store.set('k', 'stale', { expectedVersion: 1, lock: stalled })).toBeUndefined()
        expect(await other.set('k', 'fresh', { expectedVersion: 1, lock: next })).toBe(2)
        expect(await store.get('k')).toEqual({ value: 'fresh', version: 2 })
      })

      it("tells one client's listeners of the other's writes and deletes", async (ctx) => {
        const other = await peer()
        needsPeer(ctx, other)
        needs(ctx, other, 'subscribe')
        const heard: string[] = []
        other.subscribe((key) => heard.push(key))
        // Subscribing may take a moment to reach the backend: write until the first one is heard.
        let version = 0
        const deadline = Date.now() + notificationTimeoutMs
        while (!heard.includes('warm-up')) {
          if (Date.now() > deadline) throw new Error('no notification from the other client')
          version = (await store.set('warm-up', 'v', { expectedVersion: version })) ?? version
          await sleep(20)
        }
        heard.length = 0
        await store.set('k', 'v1', { expectedVersion: 0 })
        await store.set('k', 'v2', { expectedVersion: 1 })
        await store.delete('k')
        await waitFor(() => heard.length >= 3, notificationTimeoutMs)
        expect(heard).toEqual(['k', 'k', 'k'])
      })

      it('a claim by one client is seen by the other', async (ctx) => {
        const other = await peer()
        needsPeer(ctx, other)
        needs(ctx, store, 'claimOnce')
        needs(ctx, other, 'claimOnce')
        expect(await store.claimOnce('tx', LONG_TTL_MS)).toBe(true)
        expect(await other.claimOnce('tx', LONG_TTL_MS)).toBe(false)
      })

      it(`${PARALLEL} parallel writers on two clients: exactly one wins`, async (ctx) => {
        const other = await peer()
        needsPeer(ctx, other)
        await store.set('k', 'v1', { expectedVersion: 0 })
        const results = await Promise.all(
          Array.from({ length: PARALLEL }, (_, writer) =>
            (writer % 2 === 0 ? store : other).set('k', `writer ${writer}`, { expectedVersion: 1 }),
          ),
        )
        expect(results.filter((version) => version !== undefined)).toEqual([2])
      })
    })

    describe('close', () => {
      it('closes, and closing twice is harmless', async () => {
        await store.close?.()
        await store.close?.()
      })
    })
  })
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) return
    await sleep(5)
  }
}
