import type { Profile } from '@ongoing/core'
import { DigiMeClient } from './digime-client.js'
import { type DigiMeOptions, resolveDigiMeOptions } from './options.js'

/**
 * The digi.me wire profile (API v1.7) for `OngoingAccess`: ongoing access to a user's digi.me data
 * with everything else of `@ongoing/core` — single-flight refresh in a process and across processes,
 * sealed consent transactions, tokens encrypted at rest, typed errors, the adapters.
 *
 * What it speaks: every request is authorized by a fresh JWT signed with the contract's key (PS512;
 * `client_id`, a fresh `nonce`, a `timestamp` in ms, and the call's parameters as claims); the
 * consent starts with a pushed pre-authorization (PKCE S256, state, redirect URI), then the user
 * goes to digi.me's consent web client; the callback reads `success`/`errorCode` (and the legacy
 * `result=SUCCESS|CANCEL|ERROR`); token answers are JWTs signed by digi.me, verified against the
 * pinned key set (never a `jku` that names another URL); their absolute `expires_on` expiries are
 * kept as given; a refresh answered `401 InvalidToken` means the grant is dead (consent again); a
 * data call (`access.fetch`) carries the access token inside a request JWT signed for that request,
 * and a `401 InvalidToken` answer refreshes once and retries once.
 *
 * The consent's digi.me scope object is given as JSON in `startConsent({ scope })` (or in the
 * `scope` option of `OngoingAccess`, as the default); leave it out to ask for the contract's
 * whole scope. digi.me has no token revocation: `access.revoke` forgets the grant locally.
 *
 * @param options - The contract (`applicationId`, `contractId`, `privateKey`) and, for another
 *   environment or a test server, `baseUrl`, `consentUrl`, `keySetUrl`.
 * @returns A profile for `new OngoingAccess({ profile })`; options are checked here, at once.
 * @throws {TypeError} for a bad option, naming it (and never quoting the key).
 * @example
 * ```ts
 * import { OngoingAccess } from '@ongoing/core'
 * import { digiMe } from '@ongoing/digime'
 *
 * const access = new OngoingAccess({
 *   profile: digiMe({
 *     applicationId: process.env.DIGIME_APPLICATION_ID!,
 *     contractId: process.env.DIGIME_CONTRACT_ID!,
 *     privateKey: process.env.DIGIME_PRIVATE_KEY!, // the contract's PEM
 *   }),
 *   redirectUri: 'https://app.example.com/auth/callback',
 *   secret: process.env.ONGOING_SECRET!,
 * })
 * const { url, transaction } = await access.startConsent({ userKey: 'user-42' })
 * // … the user consents at digi.me and comes back to the callback …
 * await access.finishConsent({ callbackUrl, transaction })
 * const res = await access.fetch('user-42', 'https://api.digi.me/v1.7/permission-access/trigger', {
 *   method: 'POST',
 *   headers: { 'content-type': 'application/json' },
 *   body: JSON.stringify({ agent: { sdk: { name: 'my-app', version: '1.0.0' } } }),
 * })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc7636 (PKCE), https://www.rfc-editor.org/rfc/rfc7523 (JWT client authentication), https://www.rfc-editor.org/rfc/rfc8725 (JWT best practices)
 */
export function digiMe(options: DigiMeOptions): Profile {
  const config = resolveDigiMeOptions(options)
  return {
    name: 'digime',
    create: (context) => new DigiMeClient(config, context),
  }
}
