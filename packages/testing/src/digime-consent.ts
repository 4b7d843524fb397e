/** Options of {@link driveDigiMeConsent}. */
export interface DriveDigiMeConsentOptions {
  /**
   * The user who consents, sent to the test server as the `userId` query parameter; its data is
   * per user. Ignored for a re-authorization (`user-reauth`), which is for the user of the old
   * access token. Default: the server's `defaultUserId` (`'alice'`).
   */
  userId?: string
  /** The fetch to use. Default `globalThis.fetch`. */
  fetch?: typeof fetch
}

const MAX_STEPS = 10

/**
 * Plays the user's browser through the digi.me test server's consent web client, without a
 * browser, and returns the callback URL it redirects to.
 *
 * The consent outcome is the server's (see `consentOutcome` and `setConsentOutcome`); this only
 * follows redirects inside the consent web client and stops at the first one that leaves it,
 * without requesting it.
 *
 * @param consentUrl - The consent URL the client under test built:
 *   `{consent}/authorize?code=<preauthorization_code>&sourceType=pull`, or
 *   `{consent}/user-reauth?code=<reference_code>`.
 * @param options - The consenting user, and fetch.
 * @returns The callback URL: `success=true&state=…&code=…`, `success=false&errorCode=…&state=…`
 *   or, in the legacy forms, `result=SUCCESS|CANCEL|ERROR&state=…[&code=…]`.
 * @throws Error when the consent web client answers with anything but a redirect (an unknown
 *   code, for example), or after too many redirects.
 * @throws TypeError when `userId` is not a non-empty string.
 * @example
 * ```ts
 * const callback = await driveDigiMeConsent(consentUrl, { userId: 'bob' })
 * callback.searchParams.get('success') // 'true'
 * callback.searchParams.get('code')
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2 Authorization response
 */
export async function driveDigiMeConsent(
  consentUrl: URL | string,
  options: DriveDigiMeConsentOptions = {},
): Promise<URL> {
  const { userId, fetch: fetchImpl = globalThis.fetch } = options
  if (userId !== undefined && (typeof userId !== 'string' || userId === '')) {
    throw new TypeError('userId must be a non-empty string')
  }
  let url = new URL(consentUrl)
  if (userId !== undefined) url.searchParams.set('userId', userId)
  const origin = url.origin
  const consentPath = url.pathname.slice(0, url.pathname.lastIndexOf('/') + 1)

  for (let step = 0; step < MAX_STEPS; step++) {
    const response = await fetchImpl(url, { redirect: 'manual' })
    const location = response.headers.get('location')
    if (response.status >= 300 && response.status < 400 && location) {
      await response.body?.cancel()
      const next = new URL(location, url)
      if (next.origin !== origin || !next.pathname.startsWith(consentPath)) return next
      url = next
      continue
    }
    throw new Error(
      `the consent web client answered ${response.status} at ${url.pathname}: ${describeError(await response.text())}`,
    )
  }
  throw new Error(`no redirect out of the consent web client after ${MAX_STEPS} steps`)
}

function describeError(body: string): string {
  try {
    const { error } = JSON.parse(body) as { error?: { code?: unknown; message?: unknown } }
    if (typeof error?.code === 'string') {
      return typeof error.message === 'string' ? `${error.code}: ${error.message}` : error.code
    }
  } catch {
    // not JSON
  }
  return 'unexpected response'
}
