/**
 * The network between one instance and the model authorization server (and the API): the `fetch`
 * given to that instance's `OngoingAccess`. A call is a request step (the server receives and
 * processes it) and an answer step (the instance hears back); token-endpoint calls suffer the
 * run's faults (see {@link ASFault}) by their index in the run.
 */
import type { Interleaver } from './interleaver.js'
import {
  API_URL,
  describeToken,
  ENDPOINTS,
  METADATA_URLS,
  type ModelAnswer,
  type ModelAuthorizationServer,
} from './model-as.js'
import type { ASFault, DiscoveryFault } from './scenario.js'

export interface NetworkEnvironment {
  readonly interleaver: Interleaver
  readonly model: ModelAuthorizationServer
  /** The faults of the next token-endpoint call of the run (and counts the call). */
  nextASFaults(): ASFault[]
  /** The faults of the next discovery request of the run (and counts it). */
  nextDiscoveryFaults(): DiscoveryFault[]
  kill(instance: number, why: string): void
  /** Adds a line to the run's trace. */
  note(text: string): void
  now(): number
  seq(): number
  apiCalled(call: { op: number | undefined; instance: number; token: string; status: number }): void
}

const never = <T>(): Promise<T> => new Promise<T>(() => {})

/** Waits `ms` of (virtual) time. */
const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** A `fetch` failure as undici reports it: `TypeError('fetch failed')` with a coded cause. */
function networkFailure(code: 'ECONNREFUSED' | 'ECONNRESET'): TypeError {
  const cause = Object.assign(new Error(`${code === 'ECONNREFUSED' ? 'connect' : 'read'} ${code}`), {
    code,
  })
  return new TypeError('fetch failed', { cause })
}

/** Never answers; rejects like `fetch` when the caller's signal aborts. */
function unanswered(signal: AbortSignal | null | undefined): Promise<Response> {
  if (signal === null || signal === undefined) return never()
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason)
    signal.addEventListener('abort', () => reject(signal.reason), { once: true })
  })
}

function respond(answer: ModelAnswer): Response {
  return new Response(JSON.stringify(answer.body), {
    status: answer.status,
    headers: { 'content-type': 'application/json', ...answer.headers },
  })
}

export function networkFor(instance: number, env: NetworkEnvironment): typeof fetch {
  const { interleaver, model } = env
  const step = (label: string) => interleaver.step(`i${instance} ${label}`, instance)

  async function tokenEndpoint(
    form: URLSearchParams,
    signal: AbortSignal | null | undefined,
  ): Promise<Response> {
    const faults = env.nextASFaults()
    const slow = faults.includes('slow')
    const fault = faults.find((f) => f !== 'slow')
    const refresh = form.get('grant_type') === 'refresh_token'
    const what = refresh ? `refresh with ${describeToken(form.get('refresh_token') ?? '')}` : 'code exchange'
    const tag = faults.length === 0 ? '' : ` [${faults.join(', ')}]`
    const presentation = model.present(form, instance)
    const settle = (delivery: 'answered' | 'refused' | 'unknown' | 'died') => {
      if (presentation === undefined || presentation.delivery !== 'pending') return
      presentation.delivery = delivery
      presentation.settledSeq = env.seq()
      if (delivery === 'unknown' || delivery === 'refused') presentation.failedAt = env.now()
    }
    // The client gives up (its own timeout) before an answer: the outcome is unknown to it.
    signal?.addEventListener(
      'abort',
      () => {
        if (presentation?.delivery === 'pending')
          env.note(`i${instance} ✗ AS token: ${what}: no answer in time`)
        settle('unknown')
      },
      { once: true },
    )
    env.note(`i${instance} → AS token: ${what} sent${tag}`)
    if (fault === 'refused') {
      settle('refused')
      throw networkFailure('ECONNREFUSED')
    }
    if (slow) await delay(9_900)
    await step(`▸ AS token: ${what} arrives`)
    switch (fault) {
      case 'timeout-before':
        return unanswered(signal)
      case 'reset-before':
        await step(`◂ AS token: ${what}: connection reset`)
        settle('unknown')
        throw networkFailure('ECONNRESET')
      case 'unavailable':
        await step(`◂ AS token: ${what}: 503 Retry-After: 10`)
        if (signal?.aborted) return unanswered(signal)
        settle('refused')
        return respond({
          status: 503,
          body: { error: 'temporarily_unavailable' },
          headers: { 'retry-after': '10' },
        })
    }
    // The request reached the server: it processes it, whether or not the client still waits.
    const answer = model.token(form, presentation)
    const outcome =
      answer.status === 200 ? describeToken(String(answer.body.refresh_token)) : answer.body.error
    switch (fault) {
      case 'timeout-after':
        return unanswered(signal)
      case 'die-after':
        settle('died')
        env.kill(instance, `died as the AS answered ${outcome}`)
        return never()
      case 'reset-after':
        await step(`◂ AS token: ${what}: connection reset (the AS had answered ${outcome})`)
        settle('unknown')
        throw networkFailure('ECONNRESET')
      case 'bad-gateway-after':
        await step(`◂ AS token: ${what}: 502 (the AS had answered ${outcome})`)
        settle('unknown')
        return respond({ status: 502, body: {} })
    }
    await step(`◂ AS token: ${what}: ${outcome}`)
    if (signal?.aborted) return unanswered(signal)
    settle('answered')
    return respond(answer)
  }

  async function discovery(url: string, signal: AbortSignal | null | undefined): Promise<Response> {
    const faults = env.nextDiscoveryFaults()
    const name = url.slice(url.indexOf('/.well-known/'))
    const tag = faults.length === 0 ? '' : ` [${faults.join(', ')}]`
    if (faults.includes('refused')) {
      env.note(`i${instance} → AS ${name}: connection refused`)
      throw networkFailure('ECONNREFUSED')
    }
    if (faults.includes('slow')) await delay(9_900)
    await step(`▸ AS ${name}${tag}`)
    const notFound = faults.includes('not-found')
    await step(`◂ AS ${name}: ${notFound ? 404 : 200}`)
    if (signal?.aborted) return unanswered(signal)
    return respond(notFound ? { status: 404, body: {} } : model.metadata())
  }

  return async (input, init): Promise<Response> => {
    const request = new Request(input, init)
    const signal = init?.signal ?? request.signal
    const url = request.url
    if (url === ENDPOINTS.token) return tokenEndpoint(new URLSearchParams(await request.text()), signal)
    if (METADATA_URLS.includes(url)) return discovery(url, signal)
    if (url === ENDPOINTS.revocation) {
      const form = new URLSearchParams(await request.text())
      await step(`▸ AS revoke ${describeToken(form.get('token') ?? '')}`)
      const answer = model.revoke(form)
      await step('◂ AS revoke: 200')
      return respond(answer)
    }
    if (url === API_URL) {
      const token = (request.headers.get('authorization') ?? '').replace(/^Bearer /, '')
      const op = request.headers.get('x-op')
      await step(`▸ API with ${describeToken(token)}`)
      const answer = model.api(token)
      env.apiCalled({ op: op === null ? undefined : Number(op), instance, token, status: answer.status })
      await step(`◂ API: ${answer.status}`)
      return respond(answer)
    }
    throw networkFailure('ECONNREFUSED')
  }
}
