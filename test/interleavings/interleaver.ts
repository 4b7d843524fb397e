/**
 * The scheduler of a run. Every store call, every call to the authorization server or the API,
 * every change notification and every operation's start is a *step*: it waits here until the
 * driver releases it. At each decision the candidates are the pending steps, oldest first, and
 * "time passes" (to the next timer) when a timer is pending; the run's *path* says which one.
 *
 * The path is a list of choices. A number `n` picks pending step `n % steps` (0 is the oldest,
 * so a path of zeros, or an exhausted path, is first-come first-served), except that
 * {@link TIME_CHOICE} lets time pass instead (time also passes when no step is pending): time
 * passing while a call is in flight makes it slow, and a slow call times out, so it is one
 * choice among sixteen rather than one candidate among a few. A string waits for a step whose
 * label contains it, or for time to be able to pass when it is {@link TIME_PASSES}
 * (first-come first-served until then). Numbers shrink toward 0, so a shrunk counterexample
 * differs from first-come first-served only where it must.
 */

export type Choice = number | string

export const TIME_PASSES = 'time passes'

/** The number that lets time pass in a path (the largest a generated path holds). */
export const TIME_CHOICE = 15

export interface Step {
  readonly id: number
  readonly label: string
  /** The instance whose step it is; a dead instance's steps are never released. */
  readonly owner: number | undefined
  release(): void
}

export class Interleaver {
  readonly #pending: Step[] = []
  readonly #dead = new Set<number>()
  #nextId = 1
  #position = 0
  /** Decisions taken, in order: what the trace prints. */
  readonly decisions: string[] = []

  constructor(private readonly choices: readonly Choice[]) {}

  /** Waits until the driver releases this step; never resolves once `owner` died. */
  step(label: string, owner?: number): Promise<void> {
    if (owner !== undefined && this.#dead.has(owner)) return new Promise<void>(() => {})
    return new Promise<void>((resolve) => {
      this.#pending.push({ id: this.#nextId++, label, owner, release: resolve })
    })
  }

  /** `owner` died: its pending steps are dropped and its future steps never resolve. */
  kill(owner: number): void {
    this.#dead.add(owner)
    for (let i = this.#pending.length - 1; i >= 0; i--)
      if (this.#pending[i]!.owner === owner) this.#pending.splice(i, 1)
  }

  isDead(owner: number): boolean {
    return this.#dead.has(owner)
  }

  get pending(): readonly Step[] {
    return this.#pending
  }

  /**
   * Takes the next decision among the pending steps (and "time passes" when `timeCanPass`).
   * Returns the released step, `'time'`, or `undefined` when nothing can happen.
   */
  next(timeCanPass: boolean): Step | 'time' | undefined {
    const candidates: Array<Step | 'time'> = [...this.#pending]
    if (timeCanPass) candidates.push('time')
    if (candidates.length === 0) return undefined
    let index = 0
    const choice = this.choices[this.#position]
    const steps = this.#pending.length
    if (typeof choice === 'number') {
      index = steps === 0 || (choice === TIME_CHOICE && timeCanPass) ? steps : choice % steps
      this.#position++
    } else if (typeof choice === 'string') {
      const found = candidates.findIndex((c) =>
        c === 'time' ? choice === TIME_PASSES : c.label.includes(choice),
      )
      if (found >= 0) {
        index = found
        this.#position++
      }
    }
    const picked = candidates[index]!
    if (picked !== 'time') {
      this.#pending.splice(this.#pending.indexOf(picked), 1)
      picked.release()
    }
    return picked
  }
}
