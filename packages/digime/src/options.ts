import type { KeyObject } from 'node:crypto'
import { type DigiMePrivateKey, toContractKey } from './contract-key.js'

/**
 * Options of {@link digiMe}: the contract, and where digi.me is (the defaults are digi.me's
 * production API v1.7). Checked once, when `digiMe` is called.
 *
 * @example
 * ```ts
 * const options: DigiMeOptions = {
 *   applicationId: process.env.DIGIME_APPLICATION_ID!,
 *   contractId: process.env.DIGIME_CONTRACT_ID!,
 *   privateKey: readFileSync('contract.key', 'utf8'), // PKCS#1 or PKCS#8 PEM
 * }
 * const access = new OngoingAccess({ profile: digiMe(options), redirectUri, secret })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-2.2 (a JWT as client authentication)
 */
export interface DigiMeOptions {
  /** Your application id at digi.me (the developer console's "application ID"). */
  applicationId: string
  /** The contract id. `client_id` is `${applicationId}_${contractId}`. */
  contractId: string
  /**
   * The contract's RSA private key (2048 bits or more), which signs every request: a PEM string
   * (PKCS#1 `-----BEGIN RSA PRIVATE KEY-----` or PKCS#8 `-----BEGIN PRIVATE KEY-----`), a private
   * JWK, or a private `KeyObject`. Never sent anywhere; never quoted in errors.
   */
  privateKey: DigiMePrivateKey
  /**
   * The API's base URL: every call's path is relative to it, and it is the grants' issuer (grants
   * of two digi.me environments never mix). A missing trailing `/` is added. Default
   * `'https://api.digi.me/v1.7/'`.
   */
  baseUrl?: string
  /**
   * The consent web client, where the user is sent (`{consentUrl}authorize?code=…&sourceType=pull`).
   * A missing trailing `/` is added. Default `'https://api.digi.me/apps/saas/'`.
   */
  consentUrl?: string
  /**
   * The key set digi.me's signed answers verify with: pinned. An answer whose `jku` names another
   * URL is refused, and that URL is never fetched. Default `${baseUrl}jwks/oauth`.
   */
  keySetUrl?: string
}

/** The options, checked and resolved. */
export interface DigiMeConfig {
  clientId: string
  key: KeyObject
  baseUrl: URL
  consentUrl: URL
  keySetUrl: URL
}

export const DEFAULT_BASE_URL = 'https://api.digi.me/v1.7/'
export const DEFAULT_CONSENT_URL = 'https://api.digi.me/apps/saas/'

const KNOWN_OPTIONS = new Set([
  'applicationId',
  'contractId',
  'privateKey',
  'baseUrl',
  'consentUrl',
  'keySetUrl',
])
const ID = /^[A-Za-z0-9._~-]{1,200}$/

/**
 * Checks every option, once.
 *
 * @throws {TypeError} naming the option.
 */
export function resolveDigiMeOptions(options: DigiMeOptions): DigiMeConfig {
  if (typeof options !== 'object' || options === null)
    throw new TypeError('ongoing: digiMe() needs options: { applicationId, contractId, privateKey }')
  for (const name of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(name))
      throw new TypeError(
        `ongoing: digiMe() has no option \`${name.slice(0, 40)}\` (it takes applicationId, contractId, privateKey, baseUrl, consentUrl, keySetUrl)`,
      )
  }
  const applicationId = id(options.applicationId, 'applicationId')
  const contractId = id(options.contractId, 'contractId')
  const key = toContractKey(options.privateKey)
  const baseUrl = directoryURL(options.baseUrl ?? DEFAULT_BASE_URL, 'baseUrl')
  const consentUrl = directoryURL(options.consentUrl ?? DEFAULT_CONSENT_URL, 'consentUrl')
  const keySetUrl =
    options.keySetUrl === undefined
      ? new URL('jwks/oauth', baseUrl)
      : httpsURL(options.keySetUrl, 'keySetUrl')
  return { clientId: `${applicationId}_${contractId}`, key, baseUrl, consentUrl, keySetUrl }
}

function id(value: unknown, name: string): string {
  if (typeof value !== 'string' || !ID.test(value))
    throw new TypeError(
      `ongoing: \`${name}\` must be digi.me's ${name === 'applicationId' ? 'application' : 'contract'} id: a non-empty string of letters, digits, '.', '_', '~' or '-'`,
    )
  return value
}

/** An https URL (plain http on loopback only, for a local test server), without credentials or fragment. */
function httpsURL(value: unknown, name: string): URL {
  let url: URL | undefined
  if (typeof value === 'string' && URL.canParse(value)) url = new URL(value)
  if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:'))
    throw new TypeError(`ongoing: \`${name}\` must be an absolute https URL`)
  if (url.protocol === 'http:' && !isLoopback(url))
    throw new TypeError(`ongoing: \`${name}\` uses plain http off loopback; digi.me is spoken to over https`)
  if (url.username !== '' || url.password !== '' || url.hash !== '')
    throw new TypeError(`ongoing: \`${name}\` must not hold credentials or a fragment`)
  return url
}

/** A URL that paths are resolved against: no query, and a trailing `/` (added when missing). */
function directoryURL(value: unknown, name: string): URL {
  const url = httpsURL(value, name)
  if (url.search !== '') throw new TypeError(`ongoing: \`${name}\` must not have a query`)
  if (!url.pathname.endsWith('/')) url.pathname = `${url.pathname}/`
  return url
}

function isLoopback(url: URL): boolean {
  const host = url.hostname
  return (
    host === 'localhost' ||
    host.endsWith('.localhost') ||
    host === '[::1]' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
  )
}
