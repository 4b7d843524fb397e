/**
 * What one run does: the operations the app asks of its instances (in this order, each started
 * by the scheduler), the faults the network, the store and the processes suffer, and the path
 * the scheduler follows. Everything a run does is a function of its scenario.
 */
import fc from 'fast-check'
import { type Choice, TIME_CHOICE } from './interleaver.js'

export const USERS = ['alice', 'bob'] as const
export type User = (typeof USERS)[number]

export type Op =
  /** `getAccessToken(user)` */
  | { kind: 'get'; instance: number; user: User }
  /** `getAccessToken(user, { forceRefresh: true })` */
  | { kind: 'force'; instance: number; user: User }
  /** `fetch(user, API)`: the API answers 401 invalid_token to a token it does not accept. */
  | { kind: 'fetch'; instance: number; user: User }
  | { kind: 'revoke'; instance: number; user: User }
  /** `startConsent`, the user consents at the model server, `finishConsent`. */
  | { kind: 'consent'; instance: number; user: User }
  /** `restore(user, tokens)` with a new grant the model server minted (tokens from elsewhere). */
  | { kind: 'restore'; instance: number; user: User }
  /** The clock moves on by `ms` (everything in flight stalls meanwhile). */
  | { kind: 'advance'; ms: number }
  /** The instance stops for good, whatever it was doing. */
  | { kind: 'kill'; instance: number }
  /** The API will reject the user's current access token from now on (revoked at the resource). */
  | { kind: 'reject'; user: User }

/** Faults of calls to the authorization server's token endpoint. */
export type ASFault =
  /** Connection refused: the server never saw it, and the client can tell. */
  | 'refused'
  /** 503 with Retry-After: 10 (the longest the client waits by default): not processed, and said so. */
  | 'unavailable'
  /** No answer within the client's timeout; the server never got it. */
  | 'timeout-before'
  /** No answer within the client's timeout; the server processed it (rotated). */
  | 'timeout-after'
  /** Connection reset before the server got it. */
  | 'reset-before'
  /** Connection reset after the server processed it. */
  | 'reset-after'
  /** A 502 from a proxy after the server processed it. */
  | 'bad-gateway-after'
  /** The server processed it; the calling process dies as the answer arrives. */
  | 'die-after'
  /** The request takes 9.9 s to reach the server (just under the client's 10 s timeout). */
  | 'slow'

export const AS_FAULTS: readonly ASFault[] = [
  'refused',
  'unavailable',
  'timeout-before',
  'timeout-after',
  'reset-before',
  'reset-after',
  'bad-gateway-after',
  'die-after',
  'slow',
]

/** Faults of store calls. */
export type StoreFault =
  /** The call fails and changes nothing. */
  | 'fail-before'
  /** The call is applied, then fails (the caller never learns it was applied). */
  | 'fail-after'
  /** The call never answers (and is not applied); the caller's own bound ends it. */
  | 'hang'
  /** The calling process dies at this call (before it is applied). */
  | 'die'
  /** A lock taken by this call expires at once (on the next tick of the clock). */
  | 'short-lock'
  /** The call takes 0.99 s (just under the client's 1 s bound). */
  | 'slow'

export type StoreMethod = 'get' | 'set' | 'delete' | 'lock' | 'unlock'
export const STORE_METHODS: readonly StoreMethod[] = ['get', 'set', 'delete', 'lock', 'unlock']

export const STORE_FAULTS: readonly StoreFault[] = [
  'fail-before',
  'fail-after',
  'hang',
  'die',
  'short-lock',
  'slow',
]

/** Faults of metadata discovery (RFC 8414, then OpenID discovery), when the scenario discovers. */
export type DiscoveryFault =
  /** The document takes 9.9 s to come. */
  | 'slow'
  /** 404 (the client then tries the next well-known URL). */
  | 'not-found'
  /** Connection refused. */
  | 'refused'

export const DISCOVERY_FAULTS: readonly DiscoveryFault[] = ['slow', 'not-found', 'refused']

export const OP_KINDS: readonly Op['kind'][] = [
  'get',
  'force',
  'fetch',
  'revoke',
  'consent',
  'restore',
  'advance',
  'kill',
  'reject',
]

export interface Scenario {
  /** Seeds `Math.random` (the retry jitter). */
  seed: number
  /** Each user's grant at the start: fresh, due for refresh (inside the skew), or none. */
  initial: Record<User, 'fresh' | 'due' | 'none'>
  ops: Op[]
  /**
   * Faults by the index of the token-endpoint call they hit (0 = the first call of the run).
   * Several may hit one call: `slow` delays it, the first other one decides its outcome.
   */
  asFaults: Array<{ call: number; fault: ASFault }>
  /** The instances discover the server's metadata (instead of configured endpoints). */
  discovery?: boolean
  /** Faults by the index of the discovery request they hit (several may hit one request). */
  discoveryFaults?: Array<{ call: number; fault: DiscoveryFault }>
  /** Faults by the store method and the index of its call they hit (`nth` 0 = its first call). */
  storeFaults: Array<{ method: StoreMethod; nth: number; fault: StoreFault }>
  /** Change notifications (by index) delivered only after the clock next moves. */
  lateNotifications: number[]
  /** The scheduler's path. */
  path: Choice[]
  /** Each operation starts only after the previous one ended (written scenarios use it). */
  sequential?: boolean
}

export interface ScenarioShape {
  instances: number
  maxOps: number
  maxPath: number
  /** The faults and operations to draw from (default: all). */
  asFaults?: readonly ASFault[]
  storeFaults?: readonly StoreFault[]
  opKinds?: readonly Op['kind'][]
  /** The users operations are about (default: all). */
  users?: readonly User[]
  /** The instances discover the server's metadata, which may be slow or fail. */
  discovery?: boolean
  /** Each scenario draws the subset of operation kinds and faults it uses. */
  swarm?: boolean
}

/**
 * Scenarios of `shape`. With `swarm`, each scenario first draws a subset of the operation kinds
 * and faults it may use (swarm testing): a run that only gets, restores and revokes reaches
 * orderings that a run drowned in every kind of fault rarely does.
 */
export function scenarioArbitrary(shape: ScenarioShape): fc.Arbitrary<Scenario> {
  if (!shape.swarm) return scenarios(shape)
  const some = <T>(all: readonly T[], minLength: number) =>
    all.length === 0 ? fc.constant([] as T[]) : fc.subarray([...all], { minLength })
  return fc
    .record({
      opKinds: some(shape.opKinds ?? OP_KINDS, 1),
      asFaults: some(shape.asFaults ?? AS_FAULTS, 0),
      storeFaults: some(shape.storeFaults ?? STORE_FAULTS, 0),
    })
    .chain((subset) => scenarios({ ...shape, ...subset }))
}

/**
 * The one empty fault list: `fc.constant` shrinks a value it did not generate only when it is
 * the very same object, and explore.ts shrinks found scenarios with a second arbitrary.
 */
const NONE: never[] = []

function scenarios(shape: ScenarioShape): fc.Arbitrary<Scenario> {
  const instance = fc.integer({ min: 0, max: shape.instances - 1 })
  const user = fc.constantFrom(...(shape.users ?? USERS))
  const userOp = (kind: 'get' | 'force' | 'fetch' | 'revoke' | 'consent' | 'restore') =>
    fc.record({ kind: fc.constant(kind), instance, user })
  const arbitraries: Record<Op['kind'], { arbitrary: fc.Arbitrary<Op>; weight: number }> = {
    get: { arbitrary: userOp('get'), weight: 6 },
    force: { arbitrary: userOp('force'), weight: 3 },
    fetch: { arbitrary: userOp('fetch'), weight: 3 },
    revoke: { arbitrary: userOp('revoke'), weight: 1 },
    consent: { arbitrary: userOp('consent'), weight: 1 },
    restore: { arbitrary: userOp('restore'), weight: 1 },
    advance: {
      arbitrary: fc.record({
        kind: fc.constant('advance' as const),
        ms: fc.constantFrom(1_000, 15_000, 60_000, 600_000),
      }),
      weight: 3,
    },
    kill: { arbitrary: fc.record({ kind: fc.constant('kill' as const), instance }), weight: 1 },
    reject: { arbitrary: fc.record({ kind: fc.constant('reject' as const), user }), weight: 1 },
  }
  const op = fc.oneof(...(shape.opKinds ?? OP_KINDS).map((kind) => arbitraries[kind]))
  const asFaults = shape.asFaults ?? AS_FAULTS
  const storeFaults = shape.storeFaults ?? STORE_FAULTS
  return fc.record({
    seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    initial: fc.record({
      alice: fc.constantFrom('fresh' as const, 'due' as const, 'none' as const),
      bob: fc.constantFrom('fresh' as const, 'due' as const, 'none' as const),
    }),
    ops: fc.array(op, { minLength: 1, maxLength: shape.maxOps }),
    asFaults:
      asFaults.length === 0
        ? fc.constant(NONE)
        : fc.array(fc.record({ call: fc.integer({ min: 0, max: 6 }), fault: fc.constantFrom(...asFaults) }), {
            maxLength: 3,
          }),
    storeFaults:
      storeFaults.length === 0
        ? fc.constant(NONE)
        : fc.array(
            fc.record({
              method: fc.constantFrom(...STORE_METHODS),
              nth: fc.integer({ min: 0, max: 4 }),
              fault: fc.constantFrom(...storeFaults),
            }),
            { maxLength: 3 },
          ),
    lateNotifications: fc.array(fc.integer({ min: 0, max: 8 }), { maxLength: 2 }),
    ...(shape.discovery
      ? {
          discovery: fc.constant(true),
          discoveryFaults: fc.array(
            fc.record({ call: fc.integer({ min: 0, max: 3 }), fault: fc.constantFrom(...DISCOVERY_FAULTS) }),
            { maxLength: 3 },
          ),
        }
      : {}),
    path: fc.array(fc.nat({ max: TIME_CHOICE }), { maxLength: shape.maxPath, size: 'max' }),
  })
}

export function describeOp(op: Op): string {
  switch (op.kind) {
    case 'advance':
      return `clock +${op.ms / 1000}s`
    case 'kill':
      return `i${op.instance} dies`
    case 'reject':
      return `API rejects ${op.user}'s current access token`
    case 'force':
      return `i${op.instance} getAccessToken(${op.user}, forceRefresh)`
    case 'get':
      return `i${op.instance} getAccessToken(${op.user})`
    default:
      return `i${op.instance} ${op.kind}(${op.user})`
  }
}

/** The scenario as a TypeScript literal, to paste into a counterexample test. */
export function scenarioLiteral(scenario: Scenario): string {
  return JSON.stringify(scenario)
}
