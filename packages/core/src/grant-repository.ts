import { createHash } from 'node:crypto'
import type { Grant, RefreshFailure } from './access-token.js'
import { type DPoPKeyMaterial, isDPoPKeyMaterial } from './dpop.js'
import { OngoingAccessError } from './errors.js'
import type { ConsentRequiredRecord } from './grant-info.js'
import { OwnWrites } from './own-writes.js'
import type { Sealer } from './sealing.js'
import type { TokenStore, TokenStoreLock } from './token-store.js'

/** A grant as read from the store, with the version to compare-and-set against. */
export interface VersionedGrant {
  grant: Grant
  version: number
  consentRequired?: undefined
}

/** A read whose record exists but does not open (moved, tampered, or under a retired key). */
export interface UnreadableGrant {
  grant: undefined
  version: number
  consentRequired?: undefined
}

/** A read of a dead grant's record: no tokens, only why and since when consent is required. */
export interface ConsentRequiredGrant {
  grant: undefined
  version: number
  consentRequired: ConsentRequiredRecord
  /** What the dead grant granted, and when its last access token expired(d). */
  scope?: string | undefined
  expiresAt?: number | undefined
}

/** What reading a user's record finds. */
export type GrantRead = VersionedGrant | UnreadableGrant | ConsentRequiredGrant

interface RecordShape {
  v: 1
  at: string
  tt: string
  ex: number
  ob: number
  rt?: string
  rx?: number
  sc?: string
  gi?: string
  fa?: number
  na?: number
  le?: RefreshFailure
  /** The DPoP key: in a sealed record as is; in a clear one (`encryptTokens: false`), sealed on its own. */
  dk?: DPoPKeyMaterial | string
}

/** A dead grant's record: why and since when (`cr`), and what it granted. */
interface ConsentRequiredShape {
  v: 1
  cr: ConsentRequiredRecord
  ex?: number
  sc?: string
}

/**
 * Everything `OngoingAccess` does with its store: keys per grant (issuer + client + user), records
 * sealed and bound to their key, every call bounded in time and mapped to `ERR_STORE`.
 */
export class GrantRepository {
  readonly #prefix: string
  readonly #otherSpellingPrefix: string

  /** This process's writes under way, and the change notifications each heard (see {@link OwnWrites}). */
  readonly ownWrites = new OwnWrites()

  /**
   * @param onWritten - Called after every write that changed the store; `alone` when no other
   *   writer's change of that grant was heard meanwhile (then `grant` is the newest).
   */
  constructor(
    readonly store: TokenStore,
    private readonly sealer: Sealer | undefined,
    /** The configured issuer, exactly as given: part of every key. */
    readonly issuer: string,
    clientId: string,
    private readonly timeoutMs: number,
    private readonly onWritten: (
      userKey: string,
      grant: Grant | undefined,
      alone: boolean,
    ) => void = () => {},
    /**
     * Seals a grant's DPoP private key when the record itself is not sealed (`encryptTokens:
     * false`): the key is never stored in clear.
     */
    private readonly keySealer: Sealer | undefined = sealer,
  ) {
    this.#prefix = keyPrefixOf(issuer, clientId)
    this.otherIssuerSpelling = otherIssuerSpelling(issuer)
    this.#otherSpellingPrefix = keyPrefixOf(this.otherIssuerSpelling, clientId)
  }

  /** The configured issuer spelled the other way: without its trailing slash(es), or with one. */
  readonly otherIssuerSpelling: string

  keyOf(userKey: string): string {
    return this.#prefix + userKey
  }

  /** The user key of a store key of ours, or `undefined` for another grant family. */
  userKeyOf(storeKey: string): string | undefined {
    return storeKey.startsWith(this.#prefix) ? storeKey.slice(this.#prefix.length) : undefined
  }

  async read(userKey: string): Promise<GrantRead | undefined> {
    const key = this.keyOf(userKey)
    const entry = await this.#bounded(this.store.get(key), 'read')
    if (entry === undefined) return undefined
    const record = this.#decode(key, entry.value)
    if (record !== undefined && 'cr' in record) {
      const { cr, ex, sc } = record
      return { grant: undefined, version: entry.version, consentRequired: cr, scope: sc, expiresAt: ex }
    }
    return { grant: record, version: entry.version } as VersionedGrant | UnreadableGrant
  }

  /** Whether the store can list its keys (`TokenStore.list`). */
  get lists(): boolean {
    return typeof this.store.list === 'function'
  }

  /**
   * One page of the user keys of this grant family (issuer + client).
   *
   * @throws {OngoingAccessError} `ERR_CONFIGURATION` when the store cannot list; `ERR_STORE`.
   */
  async list(
    cursor: string | undefined,
    limit: number,
  ): Promise<{ userKeys: string[]; cursor: string | undefined }> {
    if (this.store.list === undefined) {
      throw new OngoingAccessError(
        'ERR_CONFIGURATION',
        'The token store cannot list its grants (it has no `list` method, see TokenStore): `grants()` and `keepFresh()` need one. MemoryTokenStore and RedisTokenStore have it',
      )
    }
    const page = await this.#bounded(this.store.list(this.#prefix, { cursor, limit }), 'list')
    const userKeys: string[] = []
    for (const key of page.keys) {
      const userKey = this.userKeyOf(key)
      if (userKey !== undefined && userKey !== '') userKeys.push(userKey)
    }
    return { userKeys, cursor: page.cursor }
  }

  /**
   * Replaces the grant by the record of its death (compare-and-set on `expectedVersion`), so that
   * every instance sees why consent is required, until a new consent or a revoke.
   */
  async markConsentRequired(
    userKey: string,
    dead: ConsentRequiredRecord,
    previous: Grant | undefined,
    expectedVersion: number,
  ): Promise<number | undefined> {
    const key = this.keyOf(userKey)
    const record: ConsentRequiredShape = { v: 1, cr: dead }
    if (previous !== undefined) record.ex = previous.expiresAt
    if (previous?.scope !== undefined) record.sc = previous.scope
    const value = this.#seal(key, record)
    const own = this.ownWrites.start(userKey)
    let version: number | undefined
    try {
      version = await this.#bounded(this.store.set(key, value, { expectedVersion }), 'write')
      return version
    } finally {
      const alone = this.ownWrites.end(userKey, own, version !== undefined, this.store.subscribe ? 1 : 0)
      if (version !== undefined) this.onWritten(userKey, undefined, alone)
    }
  }

  /**
   * Whether a record of `userKey` is stored under {@link GrantRepository.otherIssuerSpelling}'s key
   * (the same client): one store read, for explaining a missing grant. The record is not opened.
   */
  async storedUnderOtherIssuerSpelling(userKey: string): Promise<boolean> {
    const entry = await this.#bounded(this.store.get(this.#otherSpellingPrefix + userKey), 'read')
    return entry !== undefined
  }

  /** Compare-and-set write. Returns the new version, or `undefined` when the write lost. */
  async write(
    userKey: string,
    grant: Grant,
    expectedVersion: number,
    lock?: TokenStoreLock,
  ): Promise<number | undefined> {
    const key = this.keyOf(userKey)
    const ttlMs =
      grant.refreshExpiresAt === undefined ? undefined : Math.max(1000, grant.refreshExpiresAt - Date.now())
    const own = this.ownWrites.start(userKey)
    let version: number | undefined
    try {
      version = await this.#bounded(
        this.store.set(key, this.#encode(key, grant), { expectedVersion, lock, ttlMs }),
        'write',
      )
      return version
    } finally {
      const alone = this.ownWrites.end(userKey, own, version !== undefined, this.store.subscribe ? 1 : 0)
      if (version !== undefined) this.onWritten(userKey, grant, alone)
    }
  }

  async remove(userKey: string, expectedVersion?: number): Promise<boolean> {
    return this.#bounded(this.store.delete(this.keyOf(userKey), expectedVersion), 'delete')
  }

  async acquireLock(userKey: string, ttlMs: number): Promise<TokenStoreLock | undefined> {
    if (this.store.acquireLock === undefined) return undefined
    return this.#bounded(this.store.acquireLock(this.keyOf(userKey), ttlMs), 'lock')
  }

  async extendLock(lock: TokenStoreLock, ttlMs: number): Promise<boolean> {
    if (lock.extend === undefined) return false
    return this.#bounded(lock.extend(ttlMs), 'lock extension')
  }

  async release(lock: TokenStoreLock): Promise<void> {
    await this.#bounded(lock.release(), 'unlock')
  }

  async claimOnce(id: string, ttlMs: number): Promise<boolean | undefined> {
    if (this.store.claimOnce === undefined) return undefined
    return this.#bounded(this.store.claimOnce(`tx:${id}`, ttlMs), 'claim')
  }

  #encode(key: string, grant: Grant): string {
    const record: RecordShape = {
      v: 1,
      at: grant.accessToken,
      tt: grant.tokenType,
      ex: grant.expiresAt,
      ob: grant.obtainedAt,
    }
    if (grant.refreshToken !== undefined) record.rt = grant.refreshToken
    if (grant.refreshExpiresAt !== undefined) record.rx = grant.refreshExpiresAt
    if (grant.scope !== undefined) record.sc = grant.scope
    if (grant.grantId !== undefined) record.gi = grant.grantId
    if (grant.failures) record.fa = grant.failures
    if (grant.nextAttemptAt !== undefined) record.na = grant.nextAttemptAt
    if (grant.lastError !== undefined) record.le = grant.lastError
    if (grant.dpopKey !== undefined) record.dk = this.#sealKey(key, grant.dpopKey)
    return this.#seal(key, record)
  }

  #seal(key: string, record: RecordShape | ConsentRequiredShape): string {
    const json = JSON.stringify(record)
    // The record is bound to its key: copied under another user's key, it does not open.
    return this.sealer === undefined ? json : this.sealer.seal('token-store', json, key)
  }

  #sealKey(key: string, dpopKey: DPoPKeyMaterial): DPoPKeyMaterial | string {
    if (this.sealer !== undefined) return dpopKey
    if (this.keySealer === undefined)
      throw new OngoingAccessError(
        'ERR_CONFIGURATION',
        'ongoing: a DPoP key cannot be stored without a sealer',
      )
    return this.keySealer.seal('token-store', JSON.stringify(dpopKey), `dpop-key:${key}`)
  }

  #openKey(key: string, dk: unknown): DPoPKeyMaterial | undefined | false {
    if (dk === undefined) return undefined
    let material: unknown = dk
    if (typeof dk === 'string') {
      const json = this.keySealer?.open('token-store', dk, `dpop-key:${key}`)
      if (json === undefined) return false
      try {
        material = JSON.parse(json)
      } catch {
        return false
      }
    } else if (this.sealer === undefined) return false
    return isDPoPKeyMaterial(material) ? material : false
  }

  #decode(key: string, value: string): Grant | ConsentRequiredShape | undefined {
    const json = this.sealer === undefined ? value : this.sealer.open('token-store', value, key)
    if (json === undefined) return undefined
    let r: RecordShape | ConsentRequiredShape
    try {
      r = JSON.parse(json) as RecordShape | ConsentRequiredShape
    } catch {
      return undefined
    }
    if (r?.v === 1 && 'cr' in r) return consentRequiredShapeOf(r)
    const grant = grantOf(r as RecordShape)
    if (grant === undefined) return undefined
    // A key that does not open (or one stored in clear) makes the record unreadable, not keyless.
    const dpopKey = this.#openKey(key, (r as RecordShape).dk)
    if (dpopKey === false) return undefined
    if (dpopKey !== undefined) grant.dpopKey = dpopKey
    return grant
  }

  #bounded<T>(operation: Promise<T>, what: string): Promise<T> {
    return boundStoreCall(operation, this.timeoutMs, what)
  }
}

/** A grant record as read, or `undefined` when it is malformed (then it does not open). */
function grantOf(r: RecordShape): Grant | undefined {
  if (r?.v !== 1 || typeof r.at !== 'string' || typeof r.ex !== 'number') return undefined
  return {
    accessToken: r.at,
    tokenType: r.tt,
    expiresAt: r.ex,
    obtainedAt: r.ob,
    refreshToken: r.rt,
    refreshExpiresAt: r.rx,
    scope: r.sc,
    grantId: typeof r.gi === 'string' ? r.gi : undefined,
    failures: typeof r.fa === 'number' ? r.fa : undefined,
    nextAttemptAt: typeof r.na === 'number' ? r.na : undefined,
    lastError: typeof r.le === 'object' && r.le !== null ? r.le : undefined,
  }
}

/** A dead grant's record as read, or `undefined` when it is malformed (then it does not open). */
function consentRequiredShapeOf(r: ConsentRequiredShape): ConsentRequiredShape | undefined {
  const { cr } = r
  if (typeof cr !== 'object' || cr === null || typeof cr.reason !== 'string' || typeof cr.at !== 'number')
    return undefined
  const record: ConsentRequiredRecord = { reason: cr.reason, at: cr.at }
  if (typeof cr.oauthError === 'string') record.oauthError = cr.oauthError
  if (typeof cr.status === 'number') record.status = cr.status
  const shape: ConsentRequiredShape = { v: 1, cr: record }
  if (typeof r.ex === 'number') shape.ex = r.ex
  if (typeof r.sc === 'string') shape.sc = r.sc
  return shape
}

/**
 * The store key prefix of one grant family (issuer + client). Stored grants keep their keys: this
 * derivation never changes, and the issuer is taken exactly as configured (RFC 8414 §3.3).
 */
function keyPrefixOf(issuer: string, clientId: string): string {
  const family = createHash('sha256').update(`${issuer}\n${clientId}`).digest('base64url').slice(0, 16)
  return `grant:${family}:`
}

/** `issuer` without its trailing slash(es), or with one when it has none. */
function otherIssuerSpelling(issuer: string): string {
  const bare = issuer.replace(/\/+$/, '')
  return bare === issuer ? `${issuer}/` : bare
}

/** Bounds a store call in time; a failure or a timeout becomes `ERR_STORE`. */
export function boundStoreCall<T>(operation: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new OngoingAccessError('ERR_STORE', `Token store ${what} did not finish within ${timeoutMs} ms`))
    }, timeoutMs)
    operation.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (err: unknown) => {
        clearTimeout(timer)
        reject(
          err instanceof OngoingAccessError && err.code === 'ERR_STORE'
            ? err
            : new OngoingAccessError('ERR_STORE', `Token store ${what} failed`, { cause: err }),
        )
      },
    )
  })
}
