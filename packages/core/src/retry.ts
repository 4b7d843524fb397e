import { isOngoingAccessError } from './errors.js'

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
  /**
   * The server's grace period for a rotated refresh token: how long it still accepts the previous
   * one (Okta's grace period, Auth0's reuse interval). With more than 0, a refresh whose outcome is
   * unknown (a timeout after sending, a reset, a 5xx from a gateway) is retried at once. With 0, the
   * default, it is not: the refresh token it presented may already be spent, and a strict server
   * revokes a grant whose rotated refresh token comes back.
   *
   * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.14.2
   */
  refreshTokenReuseGraceSeconds?: number
}

export type ResolvedRetryOptions = Required<RetryOptions>

export function resolveRetryOptions(options: RetryOptions | undefined): ResolvedRetryOptions {
  const resolved = {
    attempts: 3,
    baseDelayMs: 200,
    maxDelayMs: 2_000,
    maxRetryAfterMs: 10_000,
    refreshTokenReuseGraceSeconds: 0,
    ...options,
  }
  if (!Number.isInteger(resolved.attempts) || resolved.attempts < 1 || resolved.attempts > 10) {
    throw new TypeError('ongoing: `retry.attempts` must be an integer from 1 to 10')
  }
  for (const name of [
    'baseDelayMs',
    'maxDelayMs',
    'maxRetryAfterMs',
    'refreshTokenReuseGraceSeconds',
  ] as const) {
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
 * @example
 * ```ts
 * parseRetryAfter(response.headers.get('retry-after')) // '120' → 120000; absent or malformed → undefined
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3
 */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/**
 * Whether an attempt's failure is worth another attempt, and after how long. Only a request that
 * certainly did not reach the server is sent again (a refused connection, a failed TLS handshake, a
 * 429, a 503 with `Retry-After`), unless the server tolerates a reused refresh token for a while.
 */
function retryDelay(err: unknown, attempt: number, options: ResolvedRetryOptions): number | undefined {
  if (!isOngoingAccessError(err)) return undefined
  if (err.code === 'ERR_TOKEN_ENDPOINT' && err.retryAfterMs !== undefined) {
    if (err.status !== 429 && err.status !== 503) return undefined
    return err.retryAfterMs <= options.maxRetryAfterMs ? err.retryAfterMs : undefined
  }
  const transient =
    err.code === 'ERR_NETWORK' ||
    (err.code === 'ERR_TOKEN_ENDPOINT' && (err.status === 429 || (err.status ?? 0) >= 500))
  if (!transient) return undefined
  if (err.outcomeUnknown && options.refreshTokenReuseGraceSeconds === 0) return undefined
  // Full jitter: a random wait up to the capped exponential step.
  const step = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (attempt - 1))
  return Math.random() * step
}

/**
 * Runs `attempt` until it succeeds, fails for good, or runs out of attempts. A request that
 * certainly did not reach the server is tried again; one whose outcome is unknown is not (see
 * {@link RetryOptions.refreshTokenReuseGraceSeconds}); a `Retry-After` is honoured up to
 * `maxRetryAfterMs`.
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
