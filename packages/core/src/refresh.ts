import { type AccessToken, accessTokenOf, type Grant, refreshAtOf } from './access-token.js'
import { ConsentRequiredError, isOngoingAccessError, OngoingAccessError } from './errors.js'
import type { GrantRepository, VersionedGrant } from './grant-repository.js'
import type { Logger } from './logger.js'
import { type ResolvedRetryOptions, withRetries } from './retry.js'
import { refreshTokenGrant, type TokenEndpointClient } from './token-endpoint.js'
import type { TokenStoreLock } from './token-store.js'

/** What the refresh algorithm needs from its owner. */
export interface RefreshContext {
  repository: GrantRepository
  tokenClient(): Promise<TokenEndpointClient>
  retry: ResolvedRetryOptions
  skewMs: number
  /** The refresh lock's TTL: longer than every token call and its retries together. */
  lockTtlMs: number
  /** Listens for changes of `userKey`'s grant (store notifications), with polling as the fallback. */
  watchChanges(userKey: string): ChangeWatch
  defaultExpiresInMs: number
  logger: Logger
  onRefresh(userKey: string, token: AccessToken, rotated: boolean): void
  onRefreshError(userKey: string, error: OngoingAccessError): void
  onConsentRequired(error: ConsentRequiredError): void
  /**
   * Grants refreshed at the server whose write to the store failed, by user key, with the version
   * they were read at. Saved before any further token call for that user.
   */
  unsaved: UnsavedGrants
  /** Keeps a usable token in the process-local cache. */
  remember(userKey: string, grant: Grant): void
}

/** A listener for one grant's changes: `wait(ms)` resolves at the next change (or one seen since the last wait), or after `ms`. */
export interface ChangeWatch {
  wait(ms: number): Promise<void>
  cancel(): void
}

/** A bounded map of grants whose write failed (see {@link RefreshContext.unsaved}). */
export class UnsavedGrants {
  readonly #grants = new Map<string, { grant: Grant; expectedVersion: number }>()
  constructor(private readonly max: number) {}
  get(userKey: string) {
    return this.#grants.get(userKey)
  }
  set(userKey: string, entry: { grant: Grant; expectedVersion: number }): void {
    this.#grants.delete(userKey)
    if (this.#grants.size >= this.max) this.#grants.delete(this.#grants.keys().next().value as string)
    this.#grants.set(userKey, entry)
  }
  delete(userKey: string): void {
    this.#grants.delete(userKey)
  }
}

/** What a caller asks of a refresh. */
export interface RefreshRequest {
  /** Refresh even if the stored token looks fresh (unless another caller refreshed meanwhile). */
  force: boolean
  /** A token the caller knows is rejected: any other fresh token satisfies the request. */
  rejectedValue: string | undefined
}

/**
 * The refresh algorithm (DESIGN.md, "the heart"), steps 3 to 7; steps 1 and 2 (the fresh cache and
 * the in-process single flight) live in `OngoingAccess`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.14.2 (refresh token rotation)
 */
export async function refreshGrant(
  ctx: RefreshContext,
  userKey: string,
  request: RefreshRequest,
): Promise<AccessToken> {
  const { repository } = ctx
  const first = await readGrant(ctx, userKey)
  if (usable(ctx, first, first, request)) return cached(ctx, userKey, first, false)

  // 3. Take the store's lock; when another process holds it, wait for its write.
  let lock: TokenStoreLock | undefined
  if (repository.store.acquireLock !== undefined) {
    const deadline = Date.now() + ctx.lockTtlMs + 1_000
    // Listen before asking for the lock: a change between a refused lock and the wait still wakes us.
    const watch = ctx.watchChanges(userKey)
    try {
      let pollMs = 10
      for (;;) {
        lock = await repository.acquireLock(userKey, ctx.lockTtlMs)
        if (lock !== undefined) break
        await watch.wait(pollMs)
        pollMs = Math.min(pollMs * 2, 250)
        const seen = await readGrant(ctx, userKey)
        if (usable(ctx, seen, first, request)) return cached(ctx, userKey, seen, true)
        if (Date.now() > deadline) {
          throw new OngoingAccessError(
            'ERR_STORE',
            'Timed out waiting for another process to finish refreshing this grant',
          )
        }
      }
    } finally {
      watch.cancel()
    }
  }

  try {
    // 4. Holding the lock, read again: another process may have refreshed already.
    let current = lock === undefined ? first : await readGrant(ctx, userKey)
    if (usable(ctx, current, first, request))
      return cached(ctx, userKey, current, current.version !== first.version)
    // A grant refreshed earlier but never saved holds the newest refresh token: save it first.
    const saved = await saveUnsaved(ctx, userKey, current, lock)
    if ('value' in saved) return saved
    current = saved
    const { refreshToken } = current.grant
    if (refreshToken === undefined) throw consentRequired(ctx, userKey, 'no_refresh_token')

    // 5. Call the token endpoint; transient failures are retried, invalid_grant is not.
    const client = await ctx.tokenClient()
    let response: Awaited<ReturnType<typeof refreshTokenGrant>>
    try {
      response = await withRetries(
        () => refreshTokenGrant(client, refreshToken),
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
      if (
        isOngoingAccessError(err) &&
        err.code === 'ERR_TOKEN_ENDPOINT' &&
        err.oauthError === 'invalid_grant'
      ) {
        // 7. Did another writer win a rotation race? Then its token is ours too.
        const after = await ctx.repository.read(userKey)
        // Versions may restart after a delete (a revoke, then a new consent): compare the refresh
        // token too, so a new grant is never taken for the dead one.
        const replaced =
          after?.grant !== undefined &&
          (after.version !== current.version || after.grant.refreshToken !== refreshToken)
        if (replaced) return cached(ctx, userKey, after as VersionedGrant, true)
        if (after !== undefined) await repository.remove(userKey, current.version)
        throw consentRequired(ctx, userKey, 'invalid_grant', err)
      }
      const error = isOngoingAccessError(err)
        ? err
        : new OngoingAccessError('ERR_TOKEN_ENDPOINT', `Token refresh failed: ${(err as Error).message}`, {
            cause: err,
          })
      ctx.onRefreshError(userKey, error)
      throw error
    }

    // 6. Save before anyone uses the new token; keep the old refresh token when none came back.
    const now = Date.now()
    const grant: Grant = {
      accessToken: response.accessToken,
      tokenType: response.tokenType,
      expiresAt:
        now + (response.expiresIn === undefined ? ctx.defaultExpiresInMs : response.expiresIn * 1000),
      obtainedAt: now,
      refreshToken: response.refreshToken ?? refreshToken,
      refreshExpiresAt:
        response.refreshExpiresIn !== undefined && response.refreshExpiresIn > 0
          ? now + response.refreshExpiresIn * 1000
          : response.refreshToken === undefined
            ? current.grant.refreshExpiresAt
            : undefined,
      scope: response.scope ?? current.grant.scope,
    }
    let version: number | undefined
    try {
      version = await repository.write(userKey, grant, current.version, lock)
    } catch (err) {
      // The server rotated the refresh token but the store did not take it: keep it in memory
      // and save it before any other token call (above). The new access token is not handed out.
      ctx.unsaved.set(userKey, { grant, expectedVersion: current.version })
      if (isOngoingAccessError(err)) ctx.onRefreshError(userKey, err)
      throw err
    }
    if (version === undefined) {
      // Our lock expired and someone else wrote, or the store lost our lock: never overwrite.
      const after = await ctx.repository.read(userKey)
      if (after?.grant !== undefined && fresh(ctx, after.grant))
        return cached(ctx, userKey, after as VersionedGrant, true)
      // Nobody wrote in our place (a lost lock, a store refusing writes): keep ours for saving.
      if (after?.version === current.version)
        ctx.unsaved.set(userKey, { grant, expectedVersion: current.version })
      const error = new OngoingAccessError(
        'ERR_STORE',
        'The refreshed grant could not be saved: another writer changed it first',
      )
      ctx.onRefreshError(userKey, error)
      throw error
    }
    ctx.remember(userKey, grant)
    const token = accessTokenOf(grant, true)
    ctx.onRefresh(
      userKey,
      token,
      response.refreshToken !== undefined && response.refreshToken !== refreshToken,
    )
    return token
  } finally {
    if (lock !== undefined) {
      await repository.release(lock).catch((err: unknown) => {
        ctx.logger('warn', 'ongoing: releasing the refresh lock failed; it expires by itself', {
          userKey,
          reason: reasonOf(err),
        })
      })
    }
  }
}

/**
 * Saves a grant whose earlier write failed, before any other token call: the old refresh token it
 * replaced must never be spent again (a strict server would revoke the grant). Returns the grant to
 * go on with, or a token when that grant is fresh.
 */
async function saveUnsaved(
  ctx: RefreshContext,
  userKey: string,
  current: VersionedGrant,
  lock: TokenStoreLock | undefined,
): Promise<VersionedGrant | AccessToken> {
  const pending = ctx.unsaved.get(userKey)
  if (pending === undefined) return current
  if (pending.expectedVersion !== current.version) {
    ctx.unsaved.delete(userKey) // another writer moved the grant on: theirs is newer
    return current
  }
  const version = await ctx.repository.write(userKey, pending.grant, current.version, lock)
  if (version !== undefined) {
    ctx.unsaved.delete(userKey)
    const saved = { grant: pending.grant, version }
    return fresh(ctx, pending.grant) ? cached(ctx, userKey, saved, true) : saved
  }
  const after = await ctx.repository.read(userKey)
  if (after?.version === current.version) {
    throw new OngoingAccessError(
      'ERR_STORE',
      'The token store does not accept the refreshed grant; not refreshing again',
    )
  }
  ctx.unsaved.delete(userKey)
  if (after?.grant === undefined) throw consentRequired(ctx, userKey, 'no_grant')
  const theirs = after as VersionedGrant
  return fresh(ctx, theirs.grant) ? cached(ctx, userKey, theirs, true) : theirs
}

/** Reads the grant; a missing or unreadable grant means consent is required. */
async function readGrant(ctx: RefreshContext, userKey: string): Promise<VersionedGrant> {
  const read = await ctx.repository.read(userKey)
  if (read === undefined) throw consentRequired(ctx, userKey, 'no_grant')
  if (read.grant === undefined) {
    ctx.logger(
      'warn',
      'ongoing: stored grant does not open (moved, tampered, or under a retired key); treated as no grant',
      { userKey },
    )
    throw consentRequired(ctx, userKey, 'no_grant')
  }
  return read as VersionedGrant
}

function fresh(ctx: RefreshContext, grant: Grant): boolean {
  return Date.now() < refreshAtOf(grant, ctx.skewMs)
}

/** Whether `seen` satisfies the request without a token call of ours. */
function usable(
  ctx: RefreshContext,
  seen: VersionedGrant,
  first: VersionedGrant,
  request: RefreshRequest,
): boolean {
  if (!fresh(ctx, seen.grant)) return false
  if (request.rejectedValue !== undefined) return seen.grant.accessToken !== request.rejectedValue
  if (request.force) return seen.version !== first.version
  return true
}

function cached(ctx: RefreshContext, userKey: string, read: VersionedGrant, refreshed: boolean): AccessToken {
  ctx.remember(userKey, read.grant)
  return accessTokenOf(read.grant, refreshed)
}

function consentRequired(
  ctx: RefreshContext,
  userKey: string,
  reason: ConsentRequiredError['reason'],
  cause?: OngoingAccessError,
): ConsentRequiredError {
  const error = new ConsentRequiredError(
    userKey,
    reason,
    cause === undefined ? {} : { cause, status: cause.status, oauthError: cause.oauthError },
  )
  ctx.onConsentRequired(error)
  return error
}

function reasonOf(err: unknown): string {
  if (isOngoingAccessError(err)) return err.status === undefined ? err.code : `${err.code} ${err.status}`
  return err instanceof Error ? err.message : 'unknown'
}
