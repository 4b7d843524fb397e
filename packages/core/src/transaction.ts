import { type DPoPKeyMaterial, isDPoPKeyMaterial } from './dpop.js'
import { OngoingAccessError } from './errors.js'
import type { Sealer } from './sealing.js'

/** What a consent transaction remembers between the redirect to the AS and the callback. */
export interface ConsentTransaction {
  /** A random id, used to make the transaction single use. */
  id: string
  state: string
  codeVerifier: string
  issuer: string
  /** Whose grant the consent creates; `''` when the ID token's claims will say (`userKeyFromClaims`). */
  userKey: string
  returnTo: string | undefined
  scope: string
  /** The OpenID Connect `nonce` sent with the request, when `openid` is in the scope. */
  nonce?: string | undefined
  /** The grant's DPoP key, made at consent (only ever sealed). */
  dpopKey?: DPoPKeyMaterial | undefined
  /** ms since epoch. */
  expiresAt: number
}

interface SealedShape {
  v: 1
  id: string
  st: string
  cv: string
  is: string
  uk: string
  rt?: string
  sc: string
  nc?: string
  dk?: DPoPKeyMaterial
  ex: number
}

/** Seals a transaction (AES-256-GCM under the `transaction` key derived from `secret`). */
export function sealTransaction(sealer: Sealer, tx: ConsentTransaction): string {
  const shape: SealedShape = {
    v: 1,
    id: tx.id,
    st: tx.state,
    cv: tx.codeVerifier,
    is: tx.issuer,
    uk: tx.userKey,
    sc: tx.scope,
    ex: tx.expiresAt,
  }
  if (tx.returnTo !== undefined) shape.rt = tx.returnTo
  if (tx.nonce !== undefined) shape.nc = tx.nonce
  if (tx.dpopKey !== undefined) shape.dk = tx.dpopKey
  return sealer.seal('transaction', JSON.stringify(shape))
}

/**
 * Opens a sealed transaction.
 *
 * @throws {OngoingAccessError} `ERR_TRANSACTION` when it is missing, tampered, truncated, sealed
 *   under an unknown key, expired, or for another issuer.
 */
export function openTransaction(
  sealer: Sealer,
  sealed: unknown,
  issuer: string,
  now = Date.now(),
): ConsentTransaction {
  if (sealed === undefined || sealed === null || sealed === '') {
    throw new OngoingAccessError(
      'ERR_TRANSACTION',
      'Consent transaction is missing (was the consent started in this browser?)',
    )
  }
  const json = sealer.open('transaction', sealed)
  if (json === undefined)
    throw new OngoingAccessError('ERR_TRANSACTION', 'Consent transaction is invalid or was tampered with')
  const s = JSON.parse(json) as SealedShape
  if (s.v !== 1) throw new OngoingAccessError('ERR_TRANSACTION', 'Consent transaction has an unknown format')
  if (s.ex <= now)
    throw new OngoingAccessError('ERR_TRANSACTION', 'Consent transaction expired; start consent again')
  if (s.is !== issuer)
    throw new OngoingAccessError(
      'ERR_TRANSACTION',
      'Consent transaction belongs to another authorization server',
    )
  return {
    id: s.id,
    state: s.st,
    codeVerifier: s.cv,
    issuer: s.is,
    userKey: s.uk,
    returnTo: s.rt,
    scope: s.sc,
    nonce: s.nc,
    dpopKey: isDPoPKeyMaterial(s.dk) ? s.dk : undefined,
    expiresAt: s.ex,
  }
}
