import type { ClientAuthenticator } from './client-auth.js'
import type { AuthorizationServerMetadata } from './discovery.js'
import { OngoingAccessError } from './errors.js'

/** What the client asks of the server besides its authentication (the standard profile's options). */
export interface ClientRequirements {
  /** `pushedAuthorizationRequests`: every consent is pushed (RFC 9126). */
  pushedAuthorizationRequests: boolean
}

/**
 * Refuses a client the authorization server says it cannot serve, before any user is sent to
 * consent: the client's authentication method against `token_endpoint_auth_methods_supported`,
 * a `private_key_jwt` algorithm against `token_endpoint_auth_signing_alg_values_supported`,
 * PKCE `S256` against `code_challenge_methods_supported`, and `pushedAuthorizationRequests`
 * against `pushed_authorization_request_endpoint` (or `endpoints.pushedAuthorizationRequest`). A
 * list the metadata leaves out is not checked (discovery has already put in the RFC 8414 default
 * of the auth methods).
 *
 * @throws {OngoingAccessError} `ERR_CONFIGURATION`, naming what the client uses and what the server lists.
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-2, https://www.rfc-editor.org/rfc/rfc9126#section-5
 */
export async function checkServerSupport(
  metadata: AuthorizationServerMetadata,
  auth: ClientAuthenticator,
  requirements: ClientRequirements = { pushedAuthorizationRequests: false },
): Promise<void> {
  const { tokenEndpointAuthMethods: methods, tokenEndpointAuthSigningAlgs: algs } = metadata
  if (methods !== undefined && !methods.includes(auth.method)) {
    throw refused(
      `the client authenticates with ${auth.method} (\`client.authMethod\`), but the server lists ` +
        `token_endpoint_auth_methods_supported: ${list(methods)}`,
    )
  }
  if (auth.signingAlgorithm !== undefined && algs !== undefined) {
    const alg = await auth.signingAlgorithm()
    if (!algs.includes(alg)) {
      throw refused(
        `the client signs private_key_jwt assertions with ${alg} (\`client.alg\`), but the server lists ` +
          `token_endpoint_auth_signing_alg_values_supported: ${list(algs)}`,
      )
    }
  }
  const challenge = metadata.codeChallengeMethods
  if (challenge !== undefined && !challenge.includes('S256')) {
    throw refused(
      `the client uses PKCE with S256, but the server lists code_challenge_methods_supported: ${list(challenge)}`,
    )
  }
  if (requirements.pushedAuthorizationRequests && metadata.pushedAuthorizationRequest === undefined) {
    throw refused(
      'the client pushes its authorization requests (`pushedAuthorizationRequests: true`, RFC 9126), but the ' +
        'server names no pushed_authorization_request_endpoint (with explicit `endpoints`, give ' +
        '`endpoints.pushedAuthorizationRequest`)',
    )
  }
}

function refused(problem: string): OngoingAccessError {
  return new OngoingAccessError(
    'ERR_CONFIGURATION',
    `Authorization server does not support this client: ${problem}`,
  )
}

function list(values: string[]): string {
  // The server's own words: bounded.
  const shown = values.slice(0, 20).map((value) => value.slice(0, 60))
  return shown.length === 0 ? '(none)' : shown.join(', ')
}
