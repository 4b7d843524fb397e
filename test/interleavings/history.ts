/**
 * What a run observed, in one totally ordered sequence (`seq`): what each operation returned,
 * what the store applied, which instance heard which change, who died, what the API saw, which
 * locks lapsed, and the model server's own log. The invariants read only this.
 */
import type { ModelAuthorizationServer } from './model-as.js'
import type { Op, User } from './scenario.js'

export interface OpRecord {
  index: number
  op: Op
  startSeq: number
  startAt: number
  endSeq?: number
  endAt?: number
  /** `skipped`: its instance was dead when it started; `unfinished`: never settled. */
  outcome: 'ok' | 'error' | 'skipped' | 'unfinished'
  /** The access token a get/force returned. */
  token?: string
  refreshed?: boolean
  error?: { code: string; reason?: string; message: string }
}

export type StoreChange =
  | {
      kind: 'write'
      seq: number
      at: number
      instance: number
      user: string
      version: number
      accessToken: string
      refreshToken?: string
      /** A failed refresh's record: no token call before then (ms since epoch), as the engine wrote it. */
      nextAttemptAt?: number
    }
  | { kind: 'delete'; seq: number; at: number; instance: number; user: string; conditional: boolean }

export interface Delivery {
  seq: number
  instance: number
  user: string
}

export interface Death {
  seq: number
  instance: number
  why: string
}

export interface ApiCall {
  seq: number
  at: number
  op: number | undefined
  instance: number
  token: string
  status: number
}

/** A lock an instance took; `lapse` when it ran out before its holder let go, and why. */
export interface LockRecord {
  takenSeq: number
  instance: number
  user: string
  lapse?: {
    seq: number
    /** `injected`: a short-lock fault; `stall`: during a clock jump; `ttl`: time the engine itself spent. */
    cause: 'injected' | 'stall' | 'ttl'
  }
}

export interface History {
  users: readonly User[]
  instances: number
  skewMs: number
  ops: OpRecord[]
  store: StoreChange[]
  deliveries: Delivery[]
  deaths: Death[]
  api: ApiCall[]
  locks: LockRecord[]
  model: ModelAuthorizationServer
  /** True when the run ended because nothing more could happen (not because of the step budget). */
  quiescent: boolean
  /** The seq at which the scenario's operations began (after the setup). */
  runStartSeq: number
}
