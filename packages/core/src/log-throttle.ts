/**
 * Lets one log line per cause through per window, and counts the ones it holds back, so that a
 * job meeting the same problem for thousands of users logs it once a minute, not thousands of
 * times. Memory grows with the number of distinct causes, which callers keep small (codes).
 */
export class LogThrottle {
  readonly #causes = new Map<string, { loggedAt: number; suppressed: number }>()

  constructor(private readonly windowMs: number) {}

  /**
   * Whether a line for `cause` may be logged now: `undefined` when not (it is counted), otherwise
   * how many lines of that cause were held back since the last one logged.
   */
  admit(cause: string, now = Date.now()): number | undefined {
    const last = this.#causes.get(cause)
    if (last !== undefined && now - last.loggedAt < this.windowMs) {
      last.suppressed++
      return undefined
    }
    this.#causes.set(cause, { loggedAt: now, suppressed: 0 })
    return last?.suppressed ?? 0
  }
}
