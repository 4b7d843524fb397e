import { isOngoingAccessError, OngoingAccessError, type ProfileContext } from '@ongoing/core'
import type { createRemoteJWKSet } from 'jose'
import { loadJose } from './jose.js'

const MAX_TOKEN_LENGTH = 64 * 1024
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

/**
 * Verifies the JWS digi.me answers with (`{"token": "<JWS>"}`) against the pinned key set only:
 * PS512 only, the key chosen by `kid` from the key set at `keySetUrl`, which is cached and fetched
 * again once when a `kid` is not in it. A `jku` naming any other URL is refused, and never
 * fetched; so is an `x5u`. Messages quote nothing of the answer.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8725#section-3.10 (do not follow `jku` blindly)
 */
export class SignedResponseVerifier {
  readonly #keySetUrl: URL
  readonly #context: ProfileContext
  // Made on the first verification (`jose` is loaded then), and kept: it caches the key set.
  #keySet: ReturnType<typeof createRemoteJWKSet> | undefined

  constructor(keySetUrl: URL, context: ProfileContext) {
    this.#keySetUrl = keySetUrl
    this.#context = context
  }

  /**
   * The verified payload of `token`.
   *
   * @param what - Names the call in messages (`'token endpoint'`).
   * @param outcomeUnknown - Whether the server has acted on the request already (a refresh token it
   *   rotated is spent): then every error says `outcomeUnknown`.
   * @throws {OngoingAccessError} `ERR_INVALID_RESPONSE` when the token does not verify;
   *   `ERR_NETWORK` when the key set cannot be fetched.
   */
  async verify(token: unknown, what: string, outcomeUnknown: boolean): Promise<Record<string, unknown>> {
    const invalid = (problem: string, cause?: unknown) =>
      new OngoingAccessError('ERR_INVALID_RESPONSE', `digi.me ${what} answered with ${problem}`, {
        status: 200,
        outcomeUnknown,
        ...(cause === undefined ? {} : { cause }),
      })
    if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH || !COMPACT_JWS.test(token))
      throw invalid('no signed JWT in `token`')
    const jose = await loadJose()
    let header: Record<string, unknown>
    try {
      header = jose.decodeProtectedHeader(token) as Record<string, unknown>
    } catch {
      throw invalid('a JWT whose header is malformed')
    }
    if (header.alg !== 'PS512') throw invalid('a JWT not signed with PS512')
    // Checked before anything is fetched: the key set comes from the pinned URL, whatever the token says.
    if (header.jku !== undefined && !this.#isKeySetUrl(header.jku))
      throw invalid('a JWT whose `jku` names a key set other than the pinned `keySetUrl` (not fetched)')
    if (header.x5u !== undefined) throw invalid('a JWT that names a certificate URL (`x5u`, not fetched)')
    this.#keySet ??= jose.createRemoteJWKSet(this.#keySetUrl, {
      timeoutDuration: this.#context.requestTimeoutMs,
      // No cooldown: an unknown `kid` fetches the pinned key set again at once (concurrent misses
      // share one fetch). Failing to verify a refresh answer would cost the grant: its refresh
      // token is spent at the server.
      cooldownDuration: 0,
      [jose.customFetch]: (url: string) => this.#fetchKeySet(url),
    })
    try {
      const { payload } = await jose.jwtVerify(token, this.#keySet, {
        algorithms: ['PS512'],
        clockTolerance: 30,
      })
      return payload as Record<string, unknown>
    } catch (err) {
      if (isOngoingAccessError(err))
        throw new OngoingAccessError(err.code, `${err.message}, verifying the ${what}'s answer`, {
          ...(err.status === undefined ? {} : { status: err.status }),
          outcomeUnknown: outcomeUnknown || err.outcomeUnknown,
          cause: err,
        })
      const code = (err as { code?: unknown }).code
      throw invalid(
        `a JWT that does not verify against the pinned key set (${typeof code === 'string' ? code : 'ERR_JWT_INVALID'})`,
        err,
      )
    }
  }

  #isKeySetUrl(jku: unknown): boolean {
    if (typeof jku !== 'string' || !URL.canParse(jku)) return false
    return new URL(jku).href === this.#keySetUrl.href
  }

  /** The key set, through the access's bounded requests; only ever from the pinned URL. */
  async #fetchKeySet(url: string): Promise<Response> {
    if (url !== this.#keySetUrl.href)
      throw new OngoingAccessError(
        'ERR_INVALID_RESPONSE',
        'digi.me: refusing to fetch a key set that is not pinned',
      )
    const response = await this.#context.request(
      url,
      { method: 'GET', headers: { accept: 'application/json' } },
      'digi.me key set',
    )
    if (response.status !== 200)
      throw new OngoingAccessError('ERR_INVALID_RESPONSE', `digi.me key set answered ${response.status}`, {
        status: response.status,
      })
    return new Response(response.body, { status: 200, headers: { 'content-type': 'application/json' } })
  }
}
