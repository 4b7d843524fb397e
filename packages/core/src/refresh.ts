import {
  type AccessToken,
  accessTokenOf,
  type Grant,
  keptRefreshAtOf,
  lifetimesOf,
  type RefreshAhead,
  type RefreshFailure,
  refreshAtOf,
} from './access-token.js'
import { BackgroundSave } from './background-save.js'
import { ConsentRequiredError, isOngoingAccessError, OngoingAccessError } from './errors.js'
import type { ConsentRequiredRecord } from './grant-info.js'
import type { GrantRepository, VersionedGrant } from './grant-repository.js'
import { Lease } from './lease.js'
import type { Logger } from './logger.js'
import { type Metrics, measureRefresh, secondsSince } from './metrics.js'
import type { ProfileClient, TokenSet } from './profile.js'
import { type ResolvedRetryOptions, withRetries } from './retry.js'
import {
  otherIssuerWarning,
  type UnreadableGrantWarning,
  unreadableGrantWarning,
} from './unreadable-grant.js'

/** What the refresh algorithm needs from its owner. */
export interface RefreshContext {
  repository: GrantRepository
  /** How the server is spoken to: its refresh call, and which errors mean a dead grant. */
  profile: ProfileClient
  retry: ResolvedRetryOptions
  skewMs: number
  /** The refresh lock's TTL: longer than every token call and its retries together. */
  lockTtlMs: number
  /** What a lease must still last when a token call starts: the call's timeout and the write after it. */
  tokenCallBudgetMs: number
  /** Listens for changes of `userKey`'s grant (store notifications), with polling as the fallback. */
  watchChanges(userKey: string): ChangeWatch
  /** A number that grows with every change seen; taken before a store read (see `remember`). */
  changeSeq(): number
  defaultExpiresInMs: number
  logger: Logger
  metrics: Metrics
  onRefresh(userKey: string, token: AccessToken, rotated: boolean): void
  onRefreshError(userKey: string, error: OngoingAccessError, nextAttemptAt: number | undefined): void
  onConsentRequired(error: ConsentRequiredError): void
  /** A stored grant this process cannot use: emitted every time, logged at most once a minute per code. */
  onWarning(userKey: string, warning: UnreadableGrantWarning): void
  /** Grants refreshed at the server whose write to the store failed, by user key. */
  unsaved: BoundedMap<UnsavedGrant>
  /** Failed refreshes the store could not record, by user key (so this process still waits). */
  failures: BoundedMap<LocalFailure>
  /**
   * Keeps a token read from the store in the process-local cache, unless a change of that grant was
   * seen since `since` (the `changeSeq()` taken before the read): it may be superseded. (What this
   * process writes, the repository caches itself.)
   */
  remember(userKey: string, grant: Grant, since: number): void
  /** True once the owner is closed: background saving stops. */
  closed(): boolean
}

/** A listener for one grant's changes: `wait(ms)` resolves at the next change (or one seen since the last wait), or after `ms`. */
export interface ChangeWatch {
  wait(ms: number): Promise<void>
  cancel(): void
}

/**
 * A grant refreshed at the server whose write failed. It holds the only live refresh token of its
 * grant: the one it replaced (`spentRefreshToken`) must never be presented again.
 */
export interface UnsavedGrant {
  grant: Grant
  spentRefreshToken: string
  /** The write being retried in the background under the grant's lock, if any. */
  saving?: BackgroundSave | undefined
}

/**
 * A failed refresh as this process knows it, for when the store could not record it: matched to the
 * grant by its access token (any later refresh changes it).
 */
export interface LocalFailure {
  accessToken: string
  failures: number
  nextAttemptAt: number
  lastError: RefreshFailure
}

/** A map by user key that forgets its oldest entry past `max`. */
export class BoundedMap<V> {
  readonly #entries = new Map<string, V>()
  constructor(private readonly max: number) {}
  get(userKey: string): V | undefined {
    return this.#entries.get(userKey)
  }
  set(userKey: string, entry: V): void {
    this.#entries.delete(userKey)
    if (this.#entries.size >= this.max) this.#entries.delete(this.#entries.keys().next().value as string)
    this.#entries.set(userKey, entry)
  }
  delete(userKey: string): void {
    this.#entries.delete(userKey)
  }
}

/** What a caller asks of a refresh. */
export interface RefreshRequest {
  /** Refresh even if the stored token looks fresh (unless another caller refreshed meanwhile). */
  force: boolean
  /** A token the caller knows is rejected: any other fresh token satisfies the request. */
  rejectedValue: string | undefined
  /**
   * A keeper's refresh: due by {@link keptRefreshAtOf} (ahead of requests), and skipped, not waited
   * for, while another process holds the grant's lock (that process is refreshing it).
   */
  ahead?: RefreshAhead | undefined
  /**
   * This process cached the grant's token and it came due: a token call is most likely needed, so
   * the lock is asked for along with the first read.
   */
  due?: boolean | undefined
}

/** A grant as read, with the change sequence number taken before the read. */
interface ReadGrant extends VersionedGrant {
  seq: number
}

/** The profiles whose server this process has discovered (or checked) already. */
const discovered = new WeakSet<ProfileClient>()

/** Notes that `profile`'s server is discovered: its refreshes may ask for the lock along with a read. */
export function noteDiscovered(profile: ProfileClient): void {
  discovered.add(profile)
}

/** After an unknown outcome, the same refresh token is not presented again for at least this long. */
const UNKNOWN_OUTCOME_WAIT_MS = 5_000
/** Backoff after failed refreshes: 1 s, 2 s, 4 s … up to this, jittered. */
const MAX_FAILURE_BACKOFF_MS = 30_000
/** A server's `Retry-After` is honoured up to this long. */
const MAX_RETRY_AFTER_WAIT_MS = 10 * 60_000

/**
 * The refresh algorithm (DESIGN.md, "the heart"), steps 3 to 7; steps 1 and 2 (the fresh cache and
 * the in-process single flight) live in `OngoingAccess`.
 *
 * A refresh token is spent the moment the server processes it: everything here is arranged so that
 * we never present one twice (SECURITY.md, "Refresh and rotation").
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.14.2 (refresh token rotation)
 */
export async function refreshGrant(
  ctx: RefreshContext,
  userKey: string,
  request: RefreshRequest,
): Promise<AccessToken> {
  // This process holds a refreshed grant it could not save yet: try that write, never a token call.
  const unsaved = ctx.unsaved.get(userKey)
  if (unsaved?.saving !== undefined) {
    const outcome = await unsaved.saving.now()
    if (outcome === 'failing') {
      throw new OngoingAccessError(
        'ERR_STORE',
        'The refreshed grant is not saved yet: the token store does not take the write',
      )
    }
    if (outcome === 'saved' && fresh(ctx, unsaved.grant)) return accessTokenOf(unsaved.grant, true)
  }
  // A token this process cached came due: a token call is most likely needed, so the lock is asked
  // for along with the read (one store round trip less before the call). Never on a cold process:
  // discovery runs before the lock, so nothing slow runs under it.
  const ask = request.due === true && request.ahead === undefined && discovered.has(ctx.profile)
  const asked = ask ? askForLease(ctx, userKey) : undefined
  let first: ReadGrant
  try {
    first = await readGrant(ctx, userKey)
    const early = settle(ctx, userKey, first, first, request)
    if (early !== undefined) {
      if (asked !== undefined) letGo(ctx, userKey, asked)
      return early
    }
    await ctx.profile.ready()
    discovered.add(ctx.profile)
  } catch (err) {
    if (asked !== undefined) letGo(ctx, userKey, asked)
    throw err
  }

  // 3. Take the store's lock; when another process holds it, wait for its outcome.
  const taken = await takeLease(ctx, userKey, first, request, asked)
  if (taken !== undefined && !(taken instanceof Lease)) return taken
  const hold = { lease: taken }
  try {
    // 4. Holding the lock, read again: another process may have refreshed already.
    let current = first
    if (hold.lease !== undefined) {
      const again = await readAgain(ctx, userKey, first, request)
      if ('value' in again) return again
      current = again
    }
    // A grant refreshed earlier but never saved holds the newest refresh token: save it first.
    const saved = await saveUnsaved(ctx, userKey, current, hold.lease)
    if ('value' in saved) return saved
    current = saved
    const { refreshToken, refreshExpiresAt, dpopKey } = current.grant
    if (refreshToken === undefined) throw consentRequired(ctx, userKey, 'no_refresh_token')
    if (refreshExpiresAt !== undefined && Date.now() >= refreshExpiresAt) {
      // The server said when the refresh token ends: past it, a token call can only fail.
      const dead: ConsentRequiredRecord = { reason: 'invalid_grant', at: Date.now() }
      await ctx.repository.markConsentRequired(userKey, dead, current.grant, current.version)
      throw consentRequired(ctx, userKey, dead)
    }
    if (hold.lease !== undefined && !(await hold.lease.outlasts(ctx.tokenCallBudgetMs))) {
      throw new OngoingAccessError(
        'ERR_STORE',
        'The refresh lock could not be kept for as long as a token call takes; not refreshing now',
      )
    }

    // 5. Call the token endpoint. Only a request that certainly did not reach the server is sent
    // again; invalid_grant never is.
    const startedAt = performance.now()
    let response: TokenSet
    try {
      response = await withRetries(
        () => ctx.profile.refresh(refreshToken, dpopKey),
        ctx.retry,
        ({ attempt, delayMs, error }) =>
          ctx.logger('warn', 'ongoing: token refresh failed, retrying', {
            userKey,
            attempt,
            delayMs: Math.round(delayMs),
            reason: reasonOf(error),
          }),
      )
    } catch (err) {
      if (ctx.profile.deadGrant.isDead(err))
        return await measureRefresh(ctx.metrics, startedAt, deadOrReplaced(ctx, userKey, current, err))
      const error = isOngoingAccessError(err)
        ? err
        : new OngoingAccessError('ERR_TOKEN_ENDPOINT', 'Token refresh failed', { cause: err })
      const hint = ctx.profile.deadGrant.hintFor(error)
      if (hint !== undefined) error.message = `${error.message}. ${hint}`
      return await measureRefresh(
        ctx.metrics,
        startedAt,
        recordFailure(ctx, userKey, current, hold, request, error),
      )
    }

    // 6. Save before anyone uses the new token; keep the old refresh token when none came back.
    const grant = refreshedGrant(ctx, response, current.grant, refreshToken)
    const rotated = response.refreshToken !== undefined && response.refreshToken !== refreshToken
    return await measureRefresh(
      ctx.metrics,
      startedAt,
      saveRefreshed(ctx, userKey, grant, current, refreshToken, rotated, hold),
    )
  } finally {
    // Not awaited: the callers have their answer while the release is on its way.
    if (hold.lease !== undefined) releaseLease(ctx, userKey, hold.lease)
  }
}

/** Releases `lease` in the background; a failure is logged (the lock expires by itself). */
function releaseLease(ctx: RefreshContext, userKey: string, lease: Lease): void {
  lease.release().catch((err: unknown) => {
    ctx.logger('warn', 'ongoing: releasing the refresh lock failed; it expires by itself', {
      userKey,
      reason: reasonOf(err),
    })
  })
}

/**
 * The stored grant's token when a plain read needs no token call (it is fresh), else `undefined`:
 * what a request takes while a keeper's refresh of the grant is under way. Fails as
 * {@link refreshGrant} does for a missing, dead or unreadable grant, or a failing store.
 */
export async function storedIfFresh(ctx: RefreshContext, userKey: string): Promise<AccessToken | undefined> {
  // A refreshed grant this process has not saved yet is newer than the stored one.
  if (ctx.unsaved.get(userKey) !== undefined) return undefined
  const read = await readGrant(ctx, userKey)
  return fresh(ctx, read.grant) ? cached(ctx, userKey, read, false) : undefined
}

/**
 * Takes the lock of `userKey`'s grant. While another process holds it, waits for a change and
 * adopts its outcome: a fresh token, or the failure it recorded.
 */
async function takeLease(
  ctx: RefreshContext,
  userKey: string,
  first: ReadGrant,
  request: RefreshRequest,
  asked: AskedLease | undefined,
): Promise<Lease | AccessToken | undefined> {
  if (ctx.repository.store.acquireLock === undefined) return undefined
  if (request.ahead !== undefined) {
    // A keeper does not wait: another process holds the lock, so it is refreshing this grant.
    return (await Lease.acquire(ctx.repository, userKey, ctx.lockTtlMs)) ?? accessTokenOf(first.grant, false)
  }
  const deadline = Date.now() + ctx.lockTtlMs + 1_000
  // Listen before asking for the lock: a change between a refused lock and the wait still wakes us.
  const watch = asked?.watch ?? ctx.watchChanges(userKey)
  const askedAt = asked?.askedAt ?? performance.now()
  let refused = false
  try {
    let pollMs = 10
    let pending = asked?.lease
    for (;;) {
      const lease = await (pending ?? Lease.acquire(ctx.repository, userKey, ctx.lockTtlMs))
      pending = undefined
      if (lease !== undefined) return lease
      refused = true
      await watch.wait(pollMs)
      pollMs = Math.min(pollMs * 2, 250)
      const seen = await readAgain(ctx, userKey, first, request)
      if ('value' in seen) return seen
      if (Date.now() > deadline) {
        throw new OngoingAccessError(
          'ERR_STORE',
          'Timed out waiting for another process to finish refreshing this grant',
        )
      }
    }
  } finally {
    watch.cancel()
    if (refused) ctx.metrics.lockWaited(secondsSince(askedAt))
  }
}

/** The lock asked for along with the first read, and the watch set up before it was asked for. */
interface AskedLease {
  lease: Promise<Lease | undefined>
  watch: ChangeWatch
  askedAt: number
}

function askForLease(ctx: RefreshContext, userKey: string): AskedLease | undefined {
  if (ctx.repository.store.acquireLock === undefined) return undefined
  // Listen before asking for the lock: a change between a refused lock and the wait still wakes us.
  const watch = ctx.watchChanges(userKey)
  const lease = Lease.acquire(ctx.repository, userKey, ctx.lockTtlMs)
  // Its failure is seen where it is awaited (or not at all, when the read answered the call).
  lease.catch(() => {})
  return { lease, watch, askedAt: performance.now() }
}

/** Gives back a lock asked for along with a read that answered the call by itself. */
function letGo(ctx: RefreshContext, userKey: string, asked: AskedLease): void {
  asked.watch.cancel()
  asked.lease.then(
    (lease) => {
      if (lease !== undefined) releaseLease(ctx, userKey, lease)
    },
    () => {},
  )
}

/**
 * Reads the grant again, at the lock: another process may have refreshed it meanwhile (or failed,
 * or found it dead). Its outcome, when it answers the request, answers this call too: a call
 * coalesced into that refresh.
 */
async function readAgain(
  ctx: RefreshContext,
  userKey: string,
  first: ReadGrant,
  request: RefreshRequest,
): Promise<ReadGrant | AccessToken> {
  let seen: ReadGrant | undefined
  try {
    seen = await readGrant(ctx, userKey)
    const settled = settle(ctx, userKey, seen, first, request)
    if (settled === undefined) return seen
    ctx.metrics.coalesced('store_lock')
    return settled
  } catch (err) {
    // The failure another process recorded, or a dead grant; not a store that fails to read.
    if (seen !== undefined || err instanceof ConsentRequiredError) ctx.metrics.coalesced('store_lock')
    throw err
  }
}

/**
 * Whether `seen` answers the request without a token call of ours: a token fresh enough (and not
 * the rejected one, and new when a refresh was forced), or a recent failure to adopt (thrown).
 */
function settle(
  ctx: RefreshContext,
  userKey: string,
  seen: ReadGrant,
  first: ReadGrant,
  request: RefreshRequest,
): AccessToken | undefined {
  const { grant } = seen
  const now = Date.now()
  const renewed = grant.accessToken !== first.grant.accessToken
  const refreshAt =
    request.ahead === undefined
      ? refreshAtOf(grant, ctx.skewMs)
      : keptRefreshAtOf(grant, ctx.skewMs, request.ahead)
  if (now < refreshAt) {
    const usable =
      request.rejectedValue !== undefined
        ? grant.accessToken !== request.rejectedValue
        : !request.force || renewed
    if (usable) return cached(ctx, userKey, seen, renewed)
  }
  if (grant.nextAttemptAt !== undefined && now < grant.nextAttemptAt) {
    // A refresh of this grant failed a moment ago, here or in another process: do not try again yet.
    throw adoptedFailure(grant.lastError, grant.nextAttemptAt - now)
  }
  return undefined
}

/** The error of a recent failure, as every process that meets it reports it. */
function adoptedFailure(failure: RefreshFailure | undefined, waitMs: number): OngoingAccessError {
  const code = failure?.code ?? 'ERR_TOKEN_ENDPOINT'
  return new OngoingAccessError(
    code,
    `A refresh of this grant failed (${code}${failure?.status === undefined ? '' : ` ${failure.status}`}); the next attempt is due in ${Math.ceil(waitMs / 1000)} s`,
    {
      ...(failure?.status === undefined ? {} : { status: failure.status }),
      ...(failure?.oauthError === undefined ? {} : { oauthError: failure.oauthError }),
      outcomeUnknown: failure?.outcomeUnknown === true,
      retryAfterMs: waitMs,
    },
  )
}

/**
 * A refresh failed for a reason other than a dead grant. The failure is written with the grant, so
 * that no process tries again before `nextAttemptAt`: after an unknown outcome, not before the
 * access token expires (the refresh token may be spent; presenting it again could cost the grant),
 * otherwise after a growing backoff. A caller that only needs a valid token gets the one it has.
 */
async function recordFailure(
  ctx: RefreshContext,
  userKey: string,
  current: ReadGrant,
  hold: { lease: Lease | undefined },
  request: RefreshRequest,
  error: OngoingAccessError,
): Promise<AccessToken> {
  const now = Date.now()
  const failures = (current.grant.failures ?? 0) + 1
  const { expiresAt } = current.grant
  let nextAttemptAt: number
  if (error.outcomeUnknown && ctx.retry.refreshTokenReuseGraceSeconds === 0) {
    nextAttemptAt = Math.max(now + UNKNOWN_OUTCOME_WAIT_MS, expiresAt)
  } else {
    const step = Math.min(MAX_FAILURE_BACKOFF_MS, 1_000 * 2 ** Math.min(failures - 1, 15))
    nextAttemptAt = now + step / 2 + Math.random() * (step / 2)
    if (expiresAt > now) nextAttemptAt = Math.min(nextAttemptAt, expiresAt)
  }
  // The server said when to come back (`Retry-After` on a 429 or 503): not before then.
  if (error.retryAfterMs !== undefined)
    nextAttemptAt = Math.max(nextAttemptAt, now + Math.min(error.retryAfterMs, MAX_RETRY_AFTER_WAIT_MS))
  const lastError: RefreshFailure = {
    code: error.code,
    status: error.status,
    oauthError: error.oauthError,
    outcomeUnknown: error.outcomeUnknown,
    at: now,
  }
  const failed: Grant = { ...current.grant, failures, nextAttemptAt, lastError }
  // Kept here too: should the store not record it, this process still waits.
  ctx.failures.set(userKey, { accessToken: current.grant.accessToken, failures, nextAttemptAt, lastError })
  try {
    await ctx.repository.write(userKey, failed, current.version, hold.lease?.lock)
  } catch {
    // The store fails too. After an unknown outcome no other process may present that refresh
    // token before the next attempt is due: keep the lock, and the write going, until it lands.
    if (hold.lease !== undefined && error.outcomeUnknown) {
      const { accessToken, refreshToken } = current.grant
      new BackgroundSave(
        ctx,
        userKey,
        {
          record: failed,
          follows: (stored) => stored.accessToken === accessToken && stored.refreshToken === refreshToken,
          wanted: () =>
            Date.now() < nextAttemptAt && ctx.failures.get(userKey)?.nextAttemptAt === nextAttemptAt,
          saved: () => {},
          superseded: () => {},
          stopped: () => {},
        },
        hold.lease,
      )
      hold.lease = undefined // released by the background save
    }
  }
  ctx.onRefreshError(userKey, error, nextAttemptAt)
  // A keeper is told of the failure (it counts it, and honours a Retry-After).
  if (!request.force && request.rejectedValue === undefined && request.ahead === undefined && now < expiresAt)
    return accessTokenOf(current.grant, false)
  throw error
}

/**
 * 7. The server answered `invalid_grant` (or an error listed in `deadGrantErrors`). If another writer replaced the grant meanwhile (a rotation
 * race lost, a new consent), its token is ours too; otherwise the grant is dead.
 */
async function deadOrReplaced(
  ctx: RefreshContext,
  userKey: string,
  current: ReadGrant,
  err: OngoingAccessError,
): Promise<AccessToken> {
  const seq = ctx.changeSeq()
  const after = await ctx.repository.read(userKey)
  // Versions restart after a delete (a revoke, then a new consent): compare the lineage, not the version.
  if (after?.grant !== undefined && !sameLineage(after.grant, current.grant)) {
    return cached(ctx, userKey, { grant: after.grant, version: after.version, seq }, true)
  }
  const dead: ConsentRequiredRecord = { reason: 'invalid_grant', at: Date.now() }
  if (err.oauthError !== undefined) dead.oauthError = err.oauthError
  if (err.status !== undefined) dead.status = err.status
  // The grant is dead: its record says so (and why) to every instance until a new consent or a revoke.
  if (after?.grant !== undefined)
    await ctx.repository.markConsentRequired(userKey, dead, after.grant, after.version)
  throw consentRequired(ctx, userKey, dead, err)
}

function refreshedGrant(
  ctx: RefreshContext,
  response: TokenSet,
  previous: Grant,
  refreshToken: string,
): Grant {
  const now = Date.now()
  const { expiresAt, refreshExpiresAt } = lifetimesOf(response, now, ctx.defaultExpiresInMs)
  return {
    accessToken: response.accessToken,
    tokenType: response.tokenType,
    expiresAt,
    obtainedAt: now,
    refreshToken: response.refreshToken ?? refreshToken,
    refreshExpiresAt:
      refreshExpiresAt ?? (response.refreshToken === undefined ? previous.refreshExpiresAt : undefined),
    scope: response.scope ?? previous.scope,
    grantId: previous.grantId,
    // The key travels with the grant: the new tokens are bound to it too.
    ...(previous.dpopKey === undefined ? {} : { dpopKey: previous.dpopKey }),
  }
}

/**
 * 6. Writes the refreshed grant (compare-and-set, fenced by the lock). When the store fails, the
 * lock is kept and the write retried in the background for as long as the lease can be kept: no
 * other process may present the refresh token we just spent.
 */
async function saveRefreshed(
  ctx: RefreshContext,
  userKey: string,
  grant: Grant,
  current: ReadGrant,
  spentRefreshToken: string,
  rotated: boolean,
  hold: { lease: Lease | undefined },
): Promise<AccessToken> {
  const entry: UnsavedGrant = { grant, spentRefreshToken }
  let version: number | undefined
  try {
    version = await ctx.repository.write(userKey, grant, current.version, hold.lease?.lock)
  } catch (err) {
    ctx.unsaved.set(userKey, entry)
    if (hold.lease !== undefined) {
      saveInBackground(ctx, userKey, entry, hold.lease, rotated)
      hold.lease = undefined // released by the background save
    }
    const error = isOngoingAccessError(err)
      ? err
      : new OngoingAccessError('ERR_STORE', 'The refreshed grant could not be saved', { cause: err })
    ctx.onRefreshError(userKey, error, undefined)
    throw error
  }
  if (version === undefined) {
    // Our lock expired and someone else wrote, or the store lost our lock: never overwrite.
    const seq = ctx.changeSeq()
    const after = await ctx.repository.read(userKey)
    if (after?.grant !== undefined && !sameLineage(after.grant, current.grant) && fresh(ctx, after.grant))
      return cached(ctx, userKey, { grant: after.grant, version: after.version, seq }, true)
    // Nobody wrote a newer grant in our place (a lost lock, a store refusing writes): keep ours for saving.
    if (after?.grant !== undefined && isSuccessor(after.grant, entry)) ctx.unsaved.set(userKey, entry)
    const error = new OngoingAccessError(
      'ERR_STORE',
      'The refreshed grant could not be saved: another writer changed it first',
    )
    ctx.onRefreshError(userKey, error, undefined)
    throw error
  }
  return savedToken(ctx, userKey, grant, rotated)
}

function savedToken(ctx: RefreshContext, userKey: string, grant: Grant, rotated: boolean): AccessToken {
  ctx.unsaved.delete(userKey)
  ctx.failures.delete(userKey)
  const token = accessTokenOf(grant, true)
  ctx.onRefresh(userKey, token, rotated)
  return token
}

/** Keeps trying to save a refreshed grant the store refused, holding the lock meanwhile. */
function saveInBackground(
  ctx: RefreshContext,
  userKey: string,
  entry: UnsavedGrant,
  lease: Lease,
  rotated: boolean,
): void {
  entry.saving = new BackgroundSave(
    ctx,
    userKey,
    {
      record: entry.grant,
      follows: (stored) => isSuccessor(stored, entry),
      wanted: () => ctx.unsaved.get(userKey) === entry,
      saved: () => {
        ctx.logger('info', 'ongoing: the refreshed grant was saved after the store recovered', { userKey })
        savedToken(ctx, userKey, entry.grant, rotated)
      },
      superseded: () => {
        if (ctx.unsaved.get(userKey) === entry) ctx.unsaved.delete(userKey)
      },
      stopped: () => {
        entry.saving = undefined
      },
    },
    lease,
  )
}

/**
 * Saves a grant whose earlier write failed, before any other token call: the old refresh token it
 * replaced must never be spent again (a strict server would revoke the grant). Returns the grant to
 * go on with, or a token when that grant is fresh.
 */
async function saveUnsaved(
  ctx: RefreshContext,
  userKey: string,
  current: ReadGrant,
  lease: Lease | undefined,
): Promise<ReadGrant | AccessToken> {
  const pending = ctx.unsaved.get(userKey)
  if (pending === undefined) return current
  if (!isSuccessor(current.grant, pending)) {
    ctx.unsaved.delete(userKey) // another writer moved the grant on: theirs is newer
    return current
  }
  const version = await ctx.repository.write(userKey, pending.grant, current.version, lease?.lock)
  if (version === undefined) {
    throw new OngoingAccessError(
      'ERR_STORE',
      'The token store does not accept the refreshed grant; not refreshing again',
    )
  }
  ctx.unsaved.delete(userKey)
  const saved = { grant: pending.grant, version, seq: current.seq }
  return fresh(ctx, pending.grant) ? accessTokenOf(pending.grant, true) : saved
}

/** Two records of one grant (the same consent, the same refresh token). */
function sameLineage(a: Grant, b: Grant): boolean {
  return a.grantId === b.grantId && a.refreshToken === b.refreshToken
}

/** Whether `entry` was refreshed from the record `stored` (which still holds the refresh token it spent). */
function isSuccessor(stored: Grant, entry: UnsavedGrant): boolean {
  return stored.grantId === entry.grant.grantId && stored.refreshToken === entry.spentRefreshToken
}

/**
 * Reads the grant; a missing or unreadable grant means consent is required. An unreadable record
 * is left as it is, and the warning says why it does not open here.
 */
async function readGrant(ctx: RefreshContext, userKey: string): Promise<ReadGrant> {
  const seq = ctx.changeSeq()
  const read = await ctx.repository.read(userKey)
  if (read === undefined) {
    if (await storedUnderOtherIssuerSpelling(ctx, userKey)) {
      ctx.onWarning(userKey, otherIssuerWarning(ctx.repository.otherIssuerSpelling, ctx.repository.issuer))
      throw consentRequired(ctx, userKey, 'unreadable')
    }
    throw consentRequired(ctx, userKey, 'no_grant')
  }
  if (read.consentRequired !== undefined) throw consentRequired(ctx, userKey, read.consentRequired)
  if (read.grant === undefined) {
    ctx.onWarning(userKey, unreadableGrantWarning())
    throw consentRequired(ctx, userKey, 'unreadable')
  }
  return { grant: withLocalFailure(ctx, userKey, read.grant), version: read.version, seq }
}

/** Only explains a missing grant: a store failure here leaves it a missing grant. */
async function storedUnderOtherIssuerSpelling(ctx: RefreshContext, userKey: string): Promise<boolean> {
  try {
    return await ctx.repository.storedUnderOtherIssuerSpelling(userKey)
  } catch {
    return false
  }
}

/** The grant as read, with a failure this process saw but the store did not record. */
function withLocalFailure(ctx: RefreshContext, userKey: string, grant: Grant): Grant {
  const local = ctx.failures.get(userKey)
  if (local === undefined) return grant
  if (local.accessToken !== grant.accessToken || Date.now() >= local.nextAttemptAt) {
    ctx.failures.delete(userKey)
    return grant
  }
  if ((grant.nextAttemptAt ?? 0) >= local.nextAttemptAt) return grant
  return {
    ...grant,
    failures: local.failures,
    nextAttemptAt: local.nextAttemptAt,
    lastError: local.lastError,
  }
}

function fresh(ctx: RefreshContext, grant: Grant): boolean {
  return Date.now() < refreshAtOf(grant, ctx.skewMs)
}

function cached(ctx: RefreshContext, userKey: string, read: ReadGrant, refreshed: boolean): AccessToken {
  ctx.remember(userKey, read.grant, read.seq)
  return accessTokenOf(read.grant, refreshed)
}

/** The error (and the `consentRequired` event) for a grant that needs the user back: a reason, or a dead grant's record. */
function consentRequired(
  ctx: RefreshContext,
  userKey: string,
  why: ConsentRequiredError['reason'] | ConsentRequiredRecord,
  cause?: OngoingAccessError,
): ConsentRequiredError {
  const { reason, status, oauthError } =
    typeof why === 'string' ? { reason: why, status: cause?.status, oauthError: cause?.oauthError } : why
  const error = new ConsentRequiredError(userKey, reason, {
    ...(cause === undefined ? {} : { cause }),
    ...(status === undefined ? {} : { status }),
    ...(oauthError === undefined ? {} : { oauthError }),
  })
  ctx.onConsentRequired(error)
  return error
}

function reasonOf(err: unknown): string {
  if (isOngoingAccessError(err)) return err.status === undefined ? err.code : `${err.code} ${err.status}`
  return err instanceof Error ? err.message : 'unknown'
}
