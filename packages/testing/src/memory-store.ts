import type { Adapter, AdapterFactory, AdapterPayload } from 'oidc-provider'
import { errors } from 'oidc-provider'

const GRANTABLE = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
])

// oidc-provider reports its own expiry errors ("refresh token is expired"), so entries are kept a
// little past their expiry instead of vanishing at the exact second.
const EXPIRY_GRACE_MS = 60_000
const SWEEP_EVERY_WRITES = 1_000

interface Entry {
  payload: AdapterPayload
  expiresAt: number
}

/** Called when the store revokes a grant by itself (a concurrent second use of a single-use token). */
export type GrantRevokedListener = (grantId: string) => void

/**
 * The authorization server's storage: every oidc-provider model in one process-local map.
 *
 * Unlike oidc-provider's development adapter it has no size limit (benchmarks create many
 * grants) and it can list the grants of an account. It also makes consuming a single-use token
 * atomic: oidc-provider reads a refresh token, checks `consumed`, then marks it, so two requests
 * that interleave between the read and the mark would both succeed. Here the second mark fails
 * with `invalid_grant` and revokes the grant, as a server with reuse detection does. (With this
 * in-memory store nothing awaits real I/O between the read and the mark, so oidc-provider's own
 * check already catches concurrent requests; this keeps it so if that changes.)
 */
export class MemoryStore {
  readonly #entries = new Map<string, Entry>()
  readonly #grantMembers = new Map<string, Set<string>>()
  readonly #sessionByUid = new Map<string, string>()
  readonly #byUserCode = new Map<string, string>()
  readonly #onGrantRevoked: GrantRevokedListener
  #writes = 0

  constructor(onGrantRevoked: GrantRevokedListener) {
    this.#onGrantRevoked = onGrantRevoked
  }

  /** The adapter factory to hand to oidc-provider's `adapter` configuration. */
  readonly adapterFactory: AdapterFactory = (model) => this.#adapterFor(model)

  /** Ids of every stored grant of `accountId`. */
  grantIdsOf(accountId: string): string[] {
    const ids: string[] = []
    const prefix = 'Grant:'
    for (const [key, entry] of this.#entries) {
      if (key.startsWith(prefix) && entry.payload.accountId === accountId && !this.#isStale(entry)) {
        ids.push(key.slice(prefix.length))
      }
    }
    return ids
  }

  /** Deletes a grant and every token issued under it. */
  revokeGrant(grantId: string): void {
    this.#revokeByGrantId(grantId)
    this.#delete('Grant', grantId)
  }

  #adapterFor(model: string): Adapter {
    return {
      upsert: async (id, payload, expiresIn) => this.#upsert(model, id, payload, expiresIn),
      find: async (id) => this.#find(model, id),
      findByUid: async (uid) => {
        const id = this.#sessionByUid.get(uid)
        return id === undefined ? undefined : this.#find(model, id)
      },
      findByUserCode: async (userCode) => {
        const id = this.#byUserCode.get(userCode)
        return id === undefined ? undefined : this.#find(model, id)
      },
      consume: async (id) => this.#consume(model, id),
      destroy: async (id) => this.#delete(model, id),
      revokeByGrantId: async (grantId) => this.#revokeByGrantId(grantId),
    }
  }

  #upsert(model: string, id: string, payload: AdapterPayload, expiresIn: number | undefined): void {
    const key = `${model}:${id}`
    const expiresAt =
      typeof expiresIn === 'number'
        ? Date.now() + expiresIn * 1000 + EXPIRY_GRACE_MS
        : Number.POSITIVE_INFINITY
    this.#entries.set(key, { payload: structuredClone(payload), expiresAt })

    if (model === 'Session' && typeof payload.uid === 'string') {
      this.#sessionByUid.set(payload.uid, id)
    }
    if (typeof payload.userCode === 'string') {
      this.#byUserCode.set(payload.userCode, id)
    }
    if (GRANTABLE.has(model) && typeof payload.grantId === 'string') {
      let members = this.#grantMembers.get(payload.grantId)
      if (!members) {
        members = new Set()
        this.#grantMembers.set(payload.grantId, members)
      }
      members.add(key)
    }

    if (++this.#writes % SWEEP_EVERY_WRITES === 0) {
      this.#sweep()
    }
  }

  #find(model: string, id: string): AdapterPayload | undefined {
    const key = `${model}:${id}`
    const entry = this.#entries.get(key)
    if (!entry) {
      return undefined
    }
    if (this.#isStale(entry)) {
      this.#delete(model, id)
      return undefined
    }
    return structuredClone(entry.payload)
  }

  #consume(model: string, id: string): void {
    const entry = this.#entries.get(`${model}:${id}`)
    if (!entry) {
      return
    }
    if (entry.payload.consumed !== undefined && (model === 'RefreshToken' || model === 'AuthorizationCode')) {
      const { grantId } = entry.payload
      if (typeof grantId === 'string') {
        this.revokeGrant(grantId)
        this.#onGrantRevoked(grantId)
      }
      // Same detail text as oidc-provider's own (sequential) reuse detection.
      throw new errors.InvalidGrant(
        model === 'RefreshToken' ? 'refresh token already used' : 'authorization code already consumed',
      )
    }
    entry.payload.consumed = Math.floor(Date.now() / 1000)
  }

  #delete(model: string, id: string): void {
    const key = `${model}:${id}`
    const entry = this.#entries.get(key)
    if (!entry) {
      return
    }
    this.#entries.delete(key)
    this.#removeIndexes(key, entry.payload)
  }

  #revokeByGrantId(grantId: string): void {
    const members = this.#grantMembers.get(grantId)
    if (!members) {
      return
    }
    this.#grantMembers.delete(grantId)
    for (const key of members) {
      const entry = this.#entries.get(key)
      if (entry) {
        this.#entries.delete(key)
        this.#removeIndexes(key, entry.payload)
      }
    }
  }

  #removeIndexes(key: string, payload: AdapterPayload): void {
    if (typeof payload.uid === 'string' && key.startsWith('Session:')) {
      this.#sessionByUid.delete(payload.uid)
    }
    if (typeof payload.userCode === 'string') {
      this.#byUserCode.delete(payload.userCode)
    }
    if (typeof payload.grantId === 'string') {
      const members = this.#grantMembers.get(payload.grantId)
      members?.delete(key)
      if (members?.size === 0) {
        this.#grantMembers.delete(payload.grantId)
      }
    }
  }

  #isStale(entry: Entry): boolean {
    return entry.expiresAt <= Date.now()
  }

  #sweep(): void {
    for (const [key, entry] of this.#entries) {
      if (this.#isStale(entry)) {
        this.#entries.delete(key)
        this.#removeIndexes(key, entry.payload)
      }
    }
  }
}
