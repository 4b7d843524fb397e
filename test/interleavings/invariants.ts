/**
 * The invariants a run's {@link History} must keep. Each check says what it found in words a
 * trace reader can follow; the tally counts what the invariants allow but want counted (the
 * deliberate re-presentation after an unknown outcome, losses a dead process explains, …).
 *
 * 1. A refresh token is presented once. Again only when every earlier presentation certainly
 *    never reached the server (connection refused, 503 with Retry-After), after the process that
 *    presented it died, or deliberately after an unknown outcome (timeout, reset, 5xx), no sooner
 *    than max(that failure + 5 s, the expiry of the access token issued with it); never while an
 *    earlier presentation is unanswered, never after the server answered one.
 * 2. No user gets another user's token (from getAccessToken, at the API, or in the store).
 * 3. Once a newer grant is stored (or the grant is revoked), nobody serves the older one after
 *    hearing of the change, nor past its refresh time (after a failed refresh, its next attempt,
 *    never past its expiry); the store never goes back to it.
 * 4. A grant is lost (revoked by the server for a reused refresh token, consent required while
 *    the server still has it, or a spent refresh token left in the store) only when a refresh the
 *    server processed never reached the store because its answer was lost, its process died, or
 *    its lock lapsed to an injected fault. (A call that began before the consent storing the grant
 *    returned, on an instance that had not heard of it, may be told there is no grant.)
 * 5. A forced refresh never returns a token that was there from the start or handed out before it was
 *    asked; `fetch` never retries with the token the API rejected.
 * 6. getAccessToken never returns an expired token.
 * 0. Every operation of a live instance finishes.
 */
import { EPOCH } from './clock.js'
import type { History, OpRecord, StoreChange } from './history.js'
import { describeToken, type Presentation, parseToken } from './model-as.js'
import { describeOp } from './scenario.js'

export interface Violation {
  invariant: string
  /** Which way it broke (a short slug): counterexamples are kept one per invariant and kind. */
  kind: string
  message: string
}

export interface Tally {
  presentations: number
  /** Presented again after the server certainly never saw the earlier ones. */
  afterRefusal: number
  /** Deliberate re-presentations after an unknown outcome (at the documented time). */
  deliberate: number
  /** Presented again after the process that presented it died. */
  afterDeath: number
  /** Presented again after the store took the presenter's lock away (an injected fault). */
  afterLapse: number
  /** Lost grants, by the cause that permits the loss. */
  losses: Record<string, number>
  /** Older grants served from a cache within the documented bound. */
  staleWithinBound: number
  /** Told to consent again while the store held the live grant (a read older than the grant). */
  consentWhileStored: number
  /** Told there is no grant by a call that began before the consent (or restore) that stored it returned. */
  noGrantDuringConsent: number
}

export function emptyTally(): Tally {
  return {
    presentations: 0,
    afterRefusal: 0,
    deliberate: 0,
    afterDeath: 0,
    afterLapse: 0,
    losses: {},
    staleWithinBound: 0,
    consentWhileStored: 0,
    noGrantDuringConsent: 0,
  }
}

export function addTally(into: Tally, from: Tally): void {
  into.presentations += from.presentations
  into.afterRefusal += from.afterRefusal
  into.deliberate += from.deliberate
  into.afterDeath += from.afterDeath
  into.afterLapse += from.afterLapse
  into.staleWithinBound += from.staleWithinBound
  into.consentWhileStored += from.consentWhileStored
  into.noGrantDuringConsent += from.noGrantDuringConsent
  for (const [cause, n] of Object.entries(from.losses)) into.losses[cause] = (into.losses[cause] ?? 0) + n
}

interface Served {
  what: string
  instance: number
  user: string
  token: string
  startSeq: number
  endSeq: number
  endAt: number
}

export function checkInvariants(h: History): { violations: Violation[]; tally: Tally } {
  const violations: Violation[] = []
  const tally = emptyTally()
  const fail = (invariant: string, kind: string, message: string) =>
    violations.push({ invariant, kind, message })
  const writes = h.store.filter((c): c is Extract<StoreChange, { kind: 'write' }> => c.kind === 'write')
  const grantOf = (token: string | undefined) => (token === undefined ? undefined : parseToken(token)?.grant)

  // When each grant first reached the store, and when the user revoked.
  const introduced = new Map<string, number>()
  for (const w of writes) {
    const key = `${w.user}#${grantOf(w.refreshToken ?? w.accessToken)}`
    if (!introduced.has(key)) introduced.set(key, w.seq)
  }
  const revokes = (user: string) =>
    h.store.filter((c) => c.kind === 'delete' && !c.conditional && c.user === user).map((c) => c.seq)
  /** The first moment a grant became old: a newer grant stored, or a revoke after it was stored. */
  const staleSince = (user: string, grant: number): number | undefined => {
    const since = introduced.get(`${user}#${grant}`) ?? -1
    const later = [...introduced.entries()]
      .filter(([key, seq]) => key.startsWith(`${user}#`) && key !== `${user}#${grant}` && seq > since)
      .map(([, seq]) => seq)
    for (const seq of revokes(user)) if (seq > since) later.push(seq)
    return later.length === 0 ? undefined : Math.min(...later)
  }

  const served: Served[] = []
  for (const op of h.ops) {
    if (op.outcome !== 'ok' || op.token === undefined || !('instance' in op.op) || !('user' in op.op))
      continue
    served.push({
      what: `op ${op.index + 1} (${describeOp(op.op)})`,
      instance: op.op.instance,
      user: op.op.user,
      token: op.token,
      startSeq: op.startSeq,
      endSeq: op.endSeq!,
      endAt: op.endAt!,
    })
  }
  for (const call of h.api) {
    const op = call.op === undefined ? undefined : h.ops[call.op]
    if (op === undefined || !('user' in op.op)) continue
    served.push({
      what: `op ${op.index + 1} (${describeOp(op.op)}) at the API`,
      instance: call.instance,
      user: op.op.user,
      token: call.token,
      startSeq: op.startSeq,
      endSeq: call.seq,
      endAt: call.at,
    })
  }

  // 0. Liveness.
  if (h.quiescent) {
    for (const op of h.ops) {
      if (op.outcome !== 'unfinished') continue
      if (
        'instance' in op.op &&
        h.deaths.some((d) => d.instance === (op.op as { instance: number }).instance)
      )
        continue
      fail(
        '0 liveness',
        'never finished',
        `op ${op.index + 1} (${describeOp(op.op)}) never finished on a live instance`,
      )
    }
  }

  // 1. Presentations.
  tally.presentations = h.model.presentations.length
  const byToken = new Map<string, Presentation[]>()
  for (const p of h.model.presentations) {
    const list = byToken.get(p.rt) ?? []
    list.push(p)
    byToken.set(p.rt, list)
  }
  for (const [rt, list] of byToken) {
    list.sort((a, b) => a.seq - b.seq)
    for (let k = 1; k < list.length; k++) {
      const p = list[k]!
      const earlier = list.slice(0, k)
      const name = `${describeToken(rt)} presented again by i${p.instance} at ${seconds(p.at)}`
      const inFlight = earlier.filter((e) => e.settledSeq === undefined || e.settledSeq > p.seq)
      if (inFlight.length > 0) {
        fail(
          '1 one presentation',
          'while another was in flight',
          `${name} while i${inFlight[0]!.instance}'s presentation (${seconds(inFlight[0]!.at)}) was still unanswered`,
        )
        continue
      }
      if (earlier.every((e) => e.delivery === 'refused')) {
        tally.afterRefusal++
        continue
      }
      const answered = earlier.find((e) => e.delivery === 'answered')
      // The process that got the answer died before saving what it got: the loss invariant 4 permits.
      const diedBeforeSaving =
        answered !== undefined &&
        answered.result === 'rotated' &&
        !h.store.some((c) => c.kind === 'write' && c.refreshToken === answered.issued) &&
        h.deaths.some((d) => d.instance === answered.instance && d.seq > (answered.settledSeq ?? 0))
      if (diedBeforeSaving) {
        tally.afterDeath++
        continue
      }
      // The store took its lock away (an injected fault): nothing tells the next holder the token is
      // spent. Invariant 4 counts the loss.
      if (answered !== undefined && injectedLapse(h, answered) !== undefined) {
        tally.afterLapse++
        continue
      }
      if (answered !== undefined) {
        fail(
          '1 one presentation',
          'after an answer',
          `${name}, after the server had answered i${answered.instance} (${answered.result})`,
        )
        continue
      }
      if (earlier.some((e) => e.delivery === 'died')) {
        tally.afterDeath++
        continue
      }
      // After unknown outcomes: a deliberate re-presentation, no sooner than max(the latest
      // failure + 5 s, the expiry of the access token issued with this refresh token).
      const u = earlier
        .filter((e) => e.delivery === 'unknown')
        .sort((a, b) => (a.settledSeq ?? 0) - (b.settledSeq ?? 0))
        .at(-1)!
      // The presenter could not keep what it knew: it died, or the store took its lock away.
      if (h.deaths.some((d) => d.instance === u.instance && d.seq > u.seq)) {
        tally.afterDeath++
        continue
      }
      if (injectedLapse(h, u) !== undefined) {
        tally.afterLapse++
        continue
      }
      const failedAt = u.failedAt ?? u.at
      const atExpiry = h.model.accessExpiresAt(`at.${u.user}.${u.grant}.${u.gen}`) ?? 0
      const notBefore = Math.max(failedAt + 5_000, atExpiry)
      if (p.at >= notBefore) {
        tally.deliberate++
        continue
      }
      fail(
        '1 one presentation',
        'soon after an unknown outcome',
        `${name}, ${span(p.at - failedAt)} after an unknown outcome (${u.result === 'rotated' ? 'the server had rotated it' : u.processed ? `the server had answered ${u.result}` : 'the server never got it'}); not before ${seconds(notBefore)}`,
      )
    }
  }

  // 2. Whose token.
  for (const s of served) {
    const owner = parseToken(s.token)?.user
    if (owner !== s.user)
      fail('2 own tokens', 'served', `${s.what} got ${describeToken(s.token)}, not ${s.user}'s`)
  }
  for (const w of writes) {
    for (const token of [w.accessToken, w.refreshToken]) {
      if (token === undefined) continue
      if (parseToken(token)?.user !== w.user)
        fail(
          '2 own tokens',
          'stored',
          `the store holds ${describeToken(token)} under ${w.user}'s key (seq ${w.seq})`,
        )
    }
  }

  // 3. Older grants.
  for (const w of writes) {
    const grant = grantOf(w.refreshToken ?? w.accessToken)!
    if (introduced.get(`${w.user}#${grant}`) === w.seq) continue
    const stale = staleSince(w.user, grant)
    if (stale !== undefined && stale < w.seq)
      fail(
        '3 newest grant',
        'store went back',
        `i${w.instance} wrote ${describeToken(w.refreshToken ?? w.accessToken)} over a newer grant (or a revoke) stored at seq ${stale}`,
      )
  }
  for (const s of served) {
    const grant = grantOf(s.token)!
    const stale = staleSince(s.user, grant)
    if (stale === undefined || stale >= s.startSeq) continue
    // The instance heard of the change: a notification, or it made the change itself (its own
    // consent, restore or revoke ended after changing the store at or after that point). Its own
    // write that was applied before the change tells it nothing of the change. The change must be
    // one that operation makes (a consent or restore writes, a revoke deletes): a restore whose
    // write was answered after a delete of its own instance's revoke has not heard of that delete,
    // and a call that starts before that revoke returns is concurrent with it (the revoke forgets
    // the cached grant again once its delete is done).
    const heard =
      h.deliveries.some(
        (d) => d.instance === s.instance && d.user === s.user && d.seq > stale && d.seq < s.startSeq,
      ) ||
      h.ops.some(
        (o) =>
          (o.op.kind === 'restore' || o.op.kind === 'consent' || o.op.kind === 'revoke') &&
          o.op.instance === s.instance &&
          o.op.user === s.user &&
          o.outcome === 'ok' &&
          o.endSeq! > stale &&
          o.endSeq! < s.startSeq &&
          h.store.some(
            (c) =>
              c.instance === s.instance &&
              c.user === s.user &&
              c.seq >= stale &&
              c.seq <= o.endSeq! &&
              (o.op.kind === 'revoke' ? c.kind === 'delete' && !c.conditional : c.kind === 'write'),
          ),
      )
    const firstWrite = writes.find((w) => w.accessToken === s.token)
    // After a failed refresh the still valid token is served until the next attempt is due (its
    // refresh time moves there, never past its expiry; SECURITY.md, "Refresh and rotation"): the
    // record of the failure, the last one of that token written before it was served, says when.
    const nextAttemptAt = writes
      .filter((w) => w.accessToken === s.token && w.seq < s.endSeq)
      .at(-1)?.nextAttemptAt
    const expiresAt = h.model.accessExpiresAt(s.token) ?? 0
    const bound =
      firstWrite === undefined
        ? expiresAt
        : refreshAtOf({ expiresAt, obtainedAt: firstWrite.at, nextAttemptAt }, h.skewMs)
    if (heard)
      fail(
        '3 newest grant',
        'served after the change was heard',
        `${s.what} served ${describeToken(s.token)} on i${s.instance}, which had heard of the newer state (seq ${stale})`,
      )
    else if (s.endAt >= bound)
      fail(
        '3 newest grant',
        'served past its refresh time',
        `${s.what} served ${describeToken(s.token)} at ${seconds(s.endAt)}, past its refresh time ${seconds(bound)}, after a newer state (seq ${stale})`,
      )
    else tally.staleWithinBound++
  }

  // 4. Lost grants.
  const lost = new Map<string, { seq: number; kind: string; why: string }>()
  const lose = (user: string, grant: number, seq: number, kind: string, why: string) => {
    const key = `${user}#${grant}`
    if (!lost.has(key)) lost.set(key, { seq, kind, why })
  }
  for (const [user, grants] of h.model.grants) {
    for (const g of grants)
      if (g.revokedBecause === 'reuse')
        lose(
          user,
          g.n,
          g.revokedAtSeq!,
          'revoked for reuse',
          'the server revoked it: a spent refresh token came back',
        )
  }
  for (const op of h.ops) {
    if (op.outcome !== 'error' || op.error?.code !== 'ERR_CONSENT_REQUIRED' || !('user' in op.op)) continue
    const user = op.op.user
    const current = [...introduced.entries()]
      .filter(([key, seq]) => key.startsWith(`${user}#`) && seq < op.startSeq)
      .sort((a, b) => b[1] - a[1])[0]
    if (current === undefined) continue
    if (revokes(user).some((seq) => seq > current[1] && seq < op.endSeq!)) continue
    const grant = Number(current[0].split('#')[1])
    const g = h.model.grant(user, grant)
    if (g === undefined) continue
    // Told to consent while the store still holds the grant's live refresh token (a read that
    // began before the grant was stored): not lost, the next call finds it.
    const end = op.endSeq!
    const aliveAtEnd = g.alive || (g.revokedAtSeq !== undefined && g.revokedAtSeq > end)
    const stored = [...h.store].reverse().find((c) => c.user === user && c.seq < end)
    const storedRt = stored?.kind === 'write' ? stored.refreshToken : undefined
    const spent = h.model.presentations.some(
      (p) => p.rt === storedRt && p.result === 'rotated' && (p.processedSeq ?? 0) < end,
    )
    if (storedRt !== undefined && parseToken(storedRt)?.grant === grant && aliveAtEnd && !spent) {
      tally.consentWhileStored++
      continue
    }
    // "No grant" to a call that began before the consent (or restore) that stored the grant
    // returned, on an instance that had not heard of its write: the call is concurrent with that
    // consent and may take effect before it, whatever the store holds when it ends.
    if (op.error?.reason === 'no_grant' && beganDuringConsent(h, op, user, current[1])) {
      tally.noGrantDuringConsent++
      continue
    }
    if (aliveAtEnd)
      lose(
        user,
        grant,
        op.endSeq!,
        'consent required',
        `op ${op.index + 1} was told to consent again while the server still had the grant`,
      )
  }
  if (h.quiescent) {
    for (const user of h.users) {
      const last = [...h.store].reverse().find((c) => c.user === user)
      if (last?.kind !== 'write' || last.refreshToken === undefined) continue
      const id = parseToken(last.refreshToken)
      const g = id === undefined ? undefined : h.model.grant(user, id.grant)
      if (id !== undefined && g?.alive && id.gen < g.gen)
        lose(
          user,
          id.grant,
          last.seq,
          'spent token stored',
          `the store ends with the spent ${describeToken(last.refreshToken)}`,
        )
    }
  }
  for (const [key, loss] of lost) {
    const [user, n] = key.split('#') as [string, string]
    const cause = lossCause(h, user, Number(n))
    if (cause === undefined)
      fail(
        '4 no lost grant',
        loss.kind,
        `${key} was lost (${loss.why}, seq ${loss.seq}) with no death or lost answer to explain it`,
      )
    else tally.losses[cause] = (tally.losses[cause] ?? 0) + 1
  }

  // 5. Forced refreshes and retries after 401.
  // Since when a token was known: there from the start (written during the setup), or handed out
  // (to a caller or to the API) by any instance. A forced refresh may return a token that was being
  // written when it was asked (by the refresh it joined, or a new consent): nobody could have had it.
  const firstKnown = new Map<string, number>()
  const know = (token: string, seq: number) => {
    if ((firstKnown.get(token) ?? Number.POSITIVE_INFINITY) > seq) firstKnown.set(token, seq)
  }
  for (const w of writes) if (w.seq < h.runStartSeq) know(w.accessToken, 0)
  for (const s of served) know(s.token, s.endSeq)
  for (const op of h.ops) {
    if (op.op.kind === 'force' && op.outcome === 'ok' && op.token !== undefined) {
      const known = firstKnown.get(op.token) ?? Number.POSITIVE_INFINITY
      if (known < op.startSeq)
        fail(
          '5 forced refresh',
          'an old token',
          `op ${op.index + 1} (${describeOp(op.op)}) returned ${describeToken(op.token)}, known since seq ${known}, before it was asked`,
        )
    }
    if (op.op.kind === 'fetch') {
      const calls = h.api.filter((c) => c.op === op.index).sort((a, b) => a.seq - b.seq)
      if (calls.length >= 2 && calls[0]!.status === 401 && calls[1]!.token === calls[0]!.token)
        fail(
          '5 forced refresh',
          'retried with the rejected token',
          `op ${op.index + 1} (${describeOp(op.op)}) retried with ${describeToken(calls[0]!.token)}, which the API had just rejected`,
        )
    }
  }

  // 6. Never an expired token.
  for (const s of served) {
    if (s.what.endsWith('at the API')) continue
    const expiresAt = h.model.accessExpiresAt(s.token)
    if (expiresAt !== undefined && s.endAt >= expiresAt)
      fail(
        '6 not expired',
        'expired',
        `${s.what} returned ${describeToken(s.token)}, expired at ${seconds(expiresAt)}`,
      )
  }

  return { violations, tally }
}

/**
 * Whether `op` began while the consent or restore whose write (at `writeSeq`) stored the user's
 * current grant had not returned, and before its instance heard of that write.
 */
function beganDuringConsent(h: History, op: OpRecord, user: string, writeSeq: number): boolean {
  const write = h.store.find((c) => c.seq === writeSeq)
  if (write?.kind !== 'write' || !('instance' in op.op)) return false
  const instance = op.op.instance
  const grant = parseToken(write.accessToken)?.grant
  const unanswered = h.ops.some(
    (o) =>
      (o.op.kind === 'consent' || o.op.kind === 'restore') &&
      o.op.instance === write.instance &&
      o.op.user === user &&
      o.startSeq < writeSeq &&
      (o.endSeq === undefined || o.endSeq > op.startSeq) &&
      // A consent that returned says which grant it stored.
      (o.token === undefined || parseToken(o.token)?.grant === grant),
  )
  const heard = h.deliveries.some(
    (d) => d.instance === instance && d.user === user && d.seq > writeSeq && d.seq < op.startSeq,
  )
  return unanswered && !heard
}

/**
 * Why a lost grant may be lost: a rotation the server made that never reached the store, or a
 * request the client had given up on that reached the server after its re-presentation (the
 * server then sees the refresh token twice; whether that re-presentation was allowed at that
 * moment is invariant 1's business).
 */
function lossCause(h: History, user: string, grant: number): string | undefined {
  const stored = new Set(h.store.map((c) => (c.kind === 'write' ? c.refreshToken : undefined)))
  for (const p of h.model.presentations) {
    if (
      p.user === user &&
      p.grant === grant &&
      p.result === 'reuse' &&
      p.delivery === 'unknown' &&
      (p.processedSeq ?? 0) > (p.settledSeq ?? 0)
    )
      return 'a request given up on reached the server after its re-presentation'
  }
  for (const p of h.model.presentations) {
    if (p.user !== user || p.grant !== grant || p.result !== 'rotated' || stored.has(p.issued)) continue
    if (p.delivery === 'unknown') return 'the answer of a processed refresh was lost'
    if (p.delivery === 'died') return 'the process died before the answer came'
    const death = h.deaths.find((d) => d.instance === p.instance)
    if (death !== undefined && death.seq > (p.settledSeq ?? 0)) return 'the process died before saving'
    const lapse = injectedLapse(h, p)
    if (lapse !== undefined) return `its lock lapsed (${lapse})`
  }
  return undefined
}

/**
 * Why the lock a presentation was made under was taken away by an injected fault or a stall (not
 * by its TTL running out, which the engine must prevent), or `undefined`.
 */
function injectedLapse(h: History, p: { instance: number; user: string; seq: number }): string | undefined {
  const lock = h.locks
    .filter((l) => l.instance === p.instance && l.user === p.user && l.takenSeq < p.seq)
    .sort((a, b) => b.takenSeq - a.takenSeq)[0]
  return lock?.lapse !== undefined && lock.lapse.cause !== 'ttl' ? lock.lapse.cause : undefined
}

/**
 * DESIGN.md: refresh `skew` before expiry, or at half its life for a token living less than that;
 * after a failed refresh, not before its next attempt is due, while the token is still valid.
 */
function refreshAtOf(
  token: { expiresAt: number; obtainedAt: number; nextAttemptAt?: number | undefined },
  skewMs: number,
): number {
  const refreshAt = token.expiresAt - Math.min(skewMs, Math.max(0, token.expiresAt - token.obtainedAt) / 2)
  const next = token.nextAttemptAt
  return next === undefined || next <= refreshAt ? refreshAt : Math.min(next, token.expiresAt)
}

/** A virtual instant, as the trace prints it. */
function seconds(at: number): string {
  return `+${((at - EPOCH) / 1000).toFixed(3)}s`
}

function span(ms: number): string {
  return `${(ms / 1000).toFixed(3)} s`
}
