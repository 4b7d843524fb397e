import { createHash, randomBytes } from 'node:crypto'
import { driveConsent } from './consent-driver.js'

/** Options of {@link authorizeAsNativeApp}. */
export interface AuthorizeAsNativeAppOptions {
  /** The client id the app sends (the swap server's client). */
  clientId: string
  /** The app's redirect URI (loopback on the test server). */
  redirectUri: string
  /** Who signs in. Default: `alice`. */
  login?: string
  /** Default: `offline_access api:read`. */
  scope?: string
}

/**
 * Does what a native app does before it calls a token swap server: makes a PKCE verifier, sends the
 * user through the authorization server's login and consent pages, and returns the code from the
 * redirect with the verifier — ready for `POST /swap`.
 *
 * @example
 * ```ts
 * const { code, codeVerifier } = await authorizeAsNativeApp(as.issuer, {
 *   clientId: as.clients.confidential.id,
 *   redirectUri: 'http://127.0.0.1:7777/callback',
 * })
 * await fetch(`${swapServer}/swap`, { method: 'POST', body: new URLSearchParams({ code, code_verifier: codeVerifier }) })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc8252 (native apps), https://www.rfc-editor.org/rfc/rfc7636 (PKCE)
 */
export async function authorizeAsNativeApp(
  issuer: string,
  options: AuthorizeAsNativeAppOptions,
): Promise<{ code: string; codeVerifier: string }> {
  const codeVerifier = randomBytes(32).toString('base64url')
  const url = new URL('/auth', issuer)
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: options.clientId,
    redirect_uri: options.redirectUri,
    scope: options.scope ?? 'offline_access api:read',
    state: randomBytes(8).toString('hex'),
    code_challenge: createHash('sha256').update(codeVerifier).digest('base64url'),
    code_challenge_method: 'S256',
  }).toString()
  const callback = await driveConsent(url, {
    redirectUriPrefix: options.redirectUri,
    login: options.login ?? 'alice',
  })
  const code = callback.searchParams.get('code')
  if (code === null)
    throw new Error(
      `the authorization server answered without a code (${callback.searchParams.get('error') ?? 'no error'})`,
    )
  return { code, codeVerifier }
}
