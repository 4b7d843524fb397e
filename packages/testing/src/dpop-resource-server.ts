import { createHash, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { calculateJwkThumbprint, decodeProtectedHeader, importJWK, type JWK, jwtVerify } from 'jose'

/** What introspection (or a JWT access token) says of a token: whether it is active, and its key binding. */
export interface DPoPTokenInfo {
  active: boolean
  /** RFC 9449 §6.1: the thumbprint of the key the token is bound to. */
  cnf?: { jkt?: string } | undefined
  sub?: string | undefined
}

/** Options of {@link startDPoPResourceServer}. */
export interface DPoPResourceServerOptions {
  /** Reads a token's binding, e.g. by RFC 7662 introspection at the test authorization server. */
  introspect(token: string): Promise<DPoPTokenInfo>
  /**
   * Require a server nonce in every proof (RFC 9449 §9): a proof without the current one gets
   * `401` with `WWW-Authenticate: DPoP error="use_dpop_nonce"` and a `DPoP-Nonce` header. Default `false`.
   */
  requireNonce?: boolean
  /** How far a proof's `iat` may be from now, in seconds. Default `60`. */
  iatWindowSeconds?: number
}

/** Counters of a {@link DPoPResourceServer}. */
export interface DPoPResourceServerStats {
  /** Every request received. */
  requests: number
  /** Requests accepted (200). */
  accepted: number
  /** Nonce challenges answered (`use_dpop_nonce`). */
  nonceChallenges: number
  /** Refusals by reason (`replay`, `ath`, `htu`, `binding`, …). */
  refused: Record<string, number>
}

/** A running resource server that accepts only DPoP-bound tokens with valid proofs. */
export interface DPoPResourceServer {
  /** Its base URL, e.g. `http://127.0.0.1:54321`; any path answers. */
  url: string
  stats(): DPoPResourceServerStats
  /** The nonce a proof must carry now (with `requireNonce`). */
  currentNonce(): string
  /** Replaces the nonce, as a server does from time to time: the next proof gets a challenge. */
  rotateNonce(): void
  close(): Promise<void>
}

const ALGORITHMS = ['ES256', 'ES384', 'EdDSA', 'Ed25519', 'PS256', 'RS256']
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']

/**
 * Starts a resource server on 127.0.0.1 that checks DPoP proofs as RFC 9449 §7.1 and §4.3 say:
 * one `DPoP` header, `typ: dpop+jwt`, an allowed asymmetric `alg`, a public `jwk` that verifies the
 * signature, `htm` and `htu` matching the request (query and fragment left out), `iat` within the
 * window, a `jti` never seen before (replay cache), `ath` the hash of the token, the token's
 * `cnf.jkt` the proof key's thumbprint, and (optionally) the current nonce. A valid request gets
 * `200` with `{ ok: true, sub, path }`; any other `401` with a `WWW-Authenticate: DPoP` challenge.
 *
 * @example
 * ```ts
 * const rs = await startDPoPResourceServer({ introspect: (token) => introspectAt(as, token) })
 * const res = await access.fetch(userKey, `${rs.url}/me`)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
 */
export async function startDPoPResourceServer(
  options: DPoPResourceServerOptions,
): Promise<DPoPResourceServer> {
  const windowSeconds = options.iatWindowSeconds ?? 60
  const seen = new Map<string, number>()
  let nonce = randomBytes(16).toString('base64url')
  const stats: DPoPResourceServerStats = { requests: 0, accepted: 0, nonceChallenges: 0, refused: {} }

  const refuse = (res: ServerResponse, reason: string, error = 'invalid_dpop_proof') => {
    stats.refused[reason] = (stats.refused[reason] ?? 0) + 1
    res.statusCode = 401
    res.setHeader('www-authenticate', `DPoP error="${error}", algs="${ALGORITHMS.join(' ')}"`)
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ error, reason }))
  }

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    stats.requests++
    const base = `http://${req.headers.host}`
    const url = new URL(req.url ?? '/', base)
    const authorization = req.headers.authorization ?? ''
    const match = /^DPoP ([\w\-.~+/]+=*)$/.exec(authorization)
    if (match?.[1] === undefined) return refuse(res, 'scheme', 'invalid_token')
    const token = match[1]
    const header = req.headersDistinct.dpop
    if (header?.length !== 1 || header[0] === undefined) return refuse(res, 'header')
    const proof = header[0]
    let jwk: JWK
    let payload: Record<string, unknown>
    try {
      const protectedHeader = decodeProtectedHeader(proof)
      if (protectedHeader.typ !== 'dpop+jwt') return refuse(res, 'typ')
      if (typeof protectedHeader.alg !== 'string' || !ALGORITHMS.includes(protectedHeader.alg))
        return refuse(res, 'alg')
      jwk = protectedHeader.jwk as JWK
      if (typeof jwk !== 'object' || jwk === null || PRIVATE_MEMBERS.some((name) => name in jwk))
        return refuse(res, 'jwk')
      const key = await importJWK(jwk, protectedHeader.alg)
      ;({ payload } = await jwtVerify(proof, key, { typ: 'dpop+jwt', algorithms: ALGORITHMS }))
    } catch {
      return refuse(res, 'signature')
    }
    if (payload.htm !== req.method) return refuse(res, 'htm')
    const htu = new URL(url)
    htu.search = ''
    htu.hash = ''
    if (typeof payload.htu !== 'string' || normalize(payload.htu) !== htu.href) return refuse(res, 'htu')
    const now = Math.floor(Date.now() / 1000)
    if (typeof payload.iat !== 'number' || Math.abs(payload.iat - now) > windowSeconds)
      return refuse(res, 'iat')
    if (typeof payload.jti !== 'string' || payload.jti.length < 16) return refuse(res, 'jti')
    if (payload.ath !== createHash('sha256').update(token).digest('base64url')) return refuse(res, 'ath')
    if (options.requireNonce === true && payload.nonce !== nonce) {
      stats.nonceChallenges++
      res.statusCode = 401
      res.setHeader(
        'www-authenticate',
        'DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"',
      )
      res.setHeader('dpop-nonce', nonce)
      res.end()
      return
    }
    // Only a proof that passed every other check takes its jti: a challenged one may come again.
    for (const [jti, expiresAt] of seen) if (expiresAt < now) seen.delete(jti)
    if (seen.has(payload.jti)) return refuse(res, 'replay')
    seen.set(payload.jti, now + windowSeconds * 2)
    const info = await options.introspect(token)
    if (!info.active) return refuse(res, 'inactive', 'invalid_token')
    if (info.cnf?.jkt === undefined || info.cnf.jkt !== (await calculateJwkThumbprint(jwk, 'sha256')))
      return refuse(res, 'binding', 'invalid_token')
    stats.accepted++
    res.setHeader('content-type', 'application/json')
    if (options.requireNonce === true) res.setHeader('dpop-nonce', nonce)
    res.end(JSON.stringify({ ok: true, sub: info.sub, path: url.pathname }))
  }

  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      handle(req, res).catch(() => {
        if (!res.headersSent) res.statusCode = 500
        res.end()
      })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    stats: () => structuredClone(stats),
    currentNonce: () => nonce,
    rotateNonce: () => {
      nonce = randomBytes(16).toString('base64url')
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections()
        server.close((err) => (err ? reject(err) : resolve()))
      }),
  }
}

function normalize(uri: string): string | undefined {
  try {
    return new URL(uri).href
  } catch {
    return undefined
  }
}
