import { OngoingAccessError } from './errors.js'
import { NetworkError } from './http.js'

/** How transient failures of the token endpoint are retried (refresh only, never a code exchange). */
export interface RetryOptions {
  /** Attempts in all, the first included. Default: 3. */
  attempts?: number
  /** The first backoff step. Default: 200 ms. */
  baseDelayMs?: number
  /** Backoff never waits longer than this. Default: 2,000 ms. */
  maxDelayMs?: number
  /** A `Retry-After` longer than this is not waited for: the call fails instead. Default: 10,000 ms. */
  maxRetryAfterMs?: number
}

export type ResolvedRetryOptions = Required<RetryOptions>

export function resolveRetryOptions(options: RetryOptions | undefined): ResolvedRetryOptions {
  const resolved = { attempts: 3, baseDelayMs: 200, maxDelayMs: 2_000, maxRetryAfterMs: 10_000, ...options }
  if (!Number.isInteger(resolved.attempts) || resolved.attempts < 1 || resolved.attempts > 10) {
    throw new TypeError('ongoing: `retry.attempts` must be an integer from 1 to 10')
  }
  for (const name of ['baseDelayMs', 'maxDelayMs', 'maxRetryAfterMs'] as const) {
    if (!Number.isFinite(resolved[name]) || resolved[name] < 0) {
      throw new TypeError(`ongoing: \`retry.${name}\` must be a non-negative number`)
    }
  }
  return resolved
}

/** The longest wait {@link withRetries} may spend between attempts, in all. */
export function maxTotalBackoffMs(options: ResolvedRetryOptions): number {
  return (options.attempts - 1) * Math.max(options.maxDelayMs, options.maxRetryAfterMs)
}

/**
 * Parses `Retry-After` (delta-seconds or an HTTP-date) into milliseconds from `now`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3
 */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/** What decides whether an attempt's failure is worth another attempt, and after how long. */
function retryDelay(err: unknown, attempt: number, options: ResolvedRetryOptions): number | undefined {
  let retryAfterMs: number | undefined
  if (err instanceof NetworkError) {
    // transient
  } else if (
    err instanceof OngoingAccessError &&
    err.code === 'ERR_TOKEN_ENDPOINT' &&
    err.status !== undefined
  ) {
    if (err.status === 429 || err.status === 503) retryAfterMs = err.retryAfterMs
    if (err.status !== 429 && err.status < 500) return undefined
    if (retryAfterMs !== undefined) return retryAfterMs <= options.maxRetryAfterMs ? retryAfterMs : undefined
  } else {
    return undefined
  }
  // Full jitter: a random wait up to the capped exponential step.
  const step = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (attempt - 1))
  return Math.random() * step
}

/**
 * Runs `attempt` until it succeeds, fails for good, or runs out of attempts. Network errors,
 * timeouts, 5xx and 429 are transient; a `Retry-After` is honoured up to `maxRetryAfterMs`.
 * `onRetry` is told of each retry (for logs; never token material).
 */
export async function withRetries<T>(
  attempt: () => Promise<T>,
  options: ResolvedRetryOptions,
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void,
): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt()
    } catch (err) {
      const delay = n < options.attempts ? retryDelay(err, n, options) : undefined
      if (delay === undefined) throw err
      onRetry?.({ attempt: n, delayMs: delay, error: err })
      await new Promise((resolve) => setTimeout(resolve, delay))
    }
  }
}
