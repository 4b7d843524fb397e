/** A warning about a stored grant this process cannot use, without the user key it is about. */
export interface UnreadableGrantWarning {
  code: 'grant_unreadable' | 'grant_under_other_issuer'
  message: string
}

/**
 * A record is stored under this process's key for the user but does not open: sealed under a
 * `secret` this process does not list, written with `encryptTokens` set otherwise, or altered in
 * the store. (The issuer and the client are part of the key, so they are not the cause here.)
 */
export function unreadableGrantWarning(): UnreadableGrantWarning {
  return {
    code: 'grant_unreadable',
    message:
      'a grant is stored for this user but does not open with this configuration: it was sealed under a `secret` this process does not list, written with `encryptTokens` set otherwise, or altered in the store. Give every process that shares the store the same `secret` (when rotating, the new one first and the old one kept: `secret: [new, old]`) and the same `encryptTokens`; the record is left as it is',
  }
}

/**
 * No record is stored under this process's key for the user, but one is under the key of the
 * other spelling of the issuer (with or without a trailing slash): two processes configured with
 * issuers that differ by a slash. Both spellings are named; neither is a secret.
 *
 * @param stored - The issuer spelling the record is stored under.
 * @param configured - This process's `issuer`.
 */
export function otherIssuerWarning(stored: string, configured: string): UnreadableGrantWarning {
  return {
    code: 'grant_under_other_issuer',
    message: `a grant for this user is stored under issuer ${JSON.stringify(stored)} but this process is configured with ${JSON.stringify(configured)}: configure the same issuer string everywhere (it must match the \`issuer\` of the server's metadata exactly); the record is left as it is`,
  }
}
