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

/**
 * Error codes of a connection that never carried the request: refused, no such host, no route, a
 * connect timeout, a failed TLS handshake. A request that failed this way certainly did not reach
 * the authorization server, so it is safe to send again.
 */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_NONAME',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
  'EPROTO',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
])

/** Whether a failed `fetch` certainly never sent the request (see {@link NOT_SENT_CODES}). */
export function certainlyNotSent(err: unknown): boolean {
  const cause = (err as { cause?: unknown } | undefined)?.cause ?? err
  const errors = (cause as { errors?: unknown } | undefined)?.errors
  // Happy eyeballs: every address tried, each refused.
  if (Array.isArray(errors) && errors.length > 0) return errors.every((e) => certainlyNotSent({ cause: e }))
  const code = (cause as { code?: unknown } | undefined)?.code
  return typeof code === 'string' && NOT_SENT_CODES.has(code)
}

/**
 * No answer from the authorization server (`ERR_NETWORK`), wherever it strikes: discovery, code
 * exchange, refresh, revocation. `outcomeUnknown` unless the request certainly was not sent.
 */
function networkError(message: string, outcomeUnknown: boolean, cause: unknown): OngoingAccessError {
  return new OngoingAccessError('ERR_NETWORK', message, { outcomeUnknown, cause })
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
    if (signal.aborted) throw networkError(`${what}: no answer within ${limits.timeoutMs} ms`, true, err)
    throw networkError(`${what}: request failed (${describe(err)})`, !certainlyNotSent(err), err)
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
    throw networkError(
      signal.aborted
        ? `${what}: body not received within ${limits.timeoutMs} ms`
        : `${what}: reading the answer failed`,
      true,
      err,
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
