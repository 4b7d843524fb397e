/** The longest user key: it is part of every store key. */
export const MAX_USER_KEY_LENGTH = 512

/**
 * Checks a user key: a non-empty string of at most {@link MAX_USER_KEY_LENGTH} characters.
 *
 * @throws {TypeError} naming the rule.
 */
export function checkUserKey(userKey: unknown): string {
  if (typeof userKey !== 'string' || userKey.length === 0 || userKey.length > MAX_USER_KEY_LENGTH) {
    throw new TypeError(
      `ongoing: \`userKey\` must be a non-empty string of at most ${MAX_USER_KEY_LENGTH} characters`,
    )
  }
  return userKey
}
