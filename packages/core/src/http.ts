import { OngoingAccessError } from './errors.js'

/** What a call to the authorization server answered, read in full (bounded). */
export interface ASResponse {
  readonly status: number
  readonly headers: Headers
  readonly body: string
}

/** Limits of one call to the authorization server. */
export interface ASRequestLimits {
  /** Abort the call after this long. */
  timeoutMs: number
  /** Refuse a body larger than this. */
  maxBodyBytes: number
}

/** A failure to get any answer (network error, reset, timeout). Transient: may be retried where that is safe. */
export class NetworkError extends Error {
  constructor(
    message: string,
    readonly timedOut: boolean,
    options?: ErrorOptions,
  ) {
    super(message, options)
    this.name = 'NetworkError'
  }
}

/**
 * Calls the authorization server: never follows a redirect (a token endpoint that redirects is
 * misconfigured or hostile), aborts after `timeoutMs`, and stops reading past `maxBodyBytes`.
 * `what` names the endpoint in error messages; URLs with secrets are never put in messages.
 */
export async function requestAS(
  fetchImpl: typeof fetch,
  url: string,
  init: RequestInit,
  limits: ASRequestLimits,
  what: string,
): Promise<ASResponse> {
  const signal = AbortSignal.timeout(limits.timeoutMs)
  let response: Response
  try {
    // Race the abort too: a custom fetch may ignore the signal.
    response = await Promise.race([
      fetchImpl(url, { ...init, redirect: 'manual', signal }),
      rejectOnAbort(signal),
    ])
  } catch (err) {
    const timedOut = signal.aborted
    throw new NetworkError(
      timedOut
        ? `${what}: no answer within ${limits.timeoutMs} ms`
        : `${what}: request failed (${describe(err)})`,
      timedOut,
      { cause: err },
    )
  }
  if (response.status >= 300 && response.status < 400) {
    await response.body?.cancel().catch(() => {})
    throw new OngoingAccessError(
      'ERR_INVALID_RESPONSE',
      `${what} answered with a redirect (${response.status}); redirects are not followed`,
      {
        status: response.status,
      },
    )
  }
  let body: string
  try {
    body = await readBounded(response, limits.maxBodyBytes, what)
  } catch (err) {
    if (err instanceof OngoingAccessError) throw err
    throw new NetworkError(
      signal.aborted
        ? `${what}: body not received within ${limits.timeoutMs} ms`
        : `${what}: reading the answer failed`,
      signal.aborted,
      { cause: err },
    )
  }
  return { status: response.status, headers: response.headers, body }
}

function rejectOnAbort(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    signal.addEventListener('abort', () => reject(signal.reason), { once: true })
  })
}

async function readBounded(response: Response, maxBytes: number, what: string): Promise<string> {
  const declared = Number(response.headers.get('content-length'))
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel().catch(() => {})
    throw tooLarge(what, maxBytes, response.status)
  }
  if (response.body === null) return ''
  const reader = response.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > maxBytes) {
      await reader.cancel().catch(() => {})
      throw tooLarge(what, maxBytes, response.status)
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks, size).toString('utf8')
}

function tooLarge(what: string, maxBytes: number, status: number): OngoingAccessError {
  return new OngoingAccessError(
    'ERR_INVALID_RESPONSE',
    `${what} answered with a body over ${maxBytes} bytes`,
    { status },
  )
}

function describe(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown } } | undefined)?.cause
  if (cause && typeof cause.code === 'string') return cause.code
  return err instanceof Error ? err.name : 'unknown error'
}

/** Parses a JSON body into a plain object, or `undefined` when it is not one. */
export function parseJSONObject(body: string): Record<string, unknown> | undefined {
  let value: unknown
  try {
    value = JSON.parse(body)
  } catch {
    return undefined
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined
}
