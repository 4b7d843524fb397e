/**
 * Whether `value` is a promise or any thenable: what the adapters check so that a synchronous
 * answer (a cached token, a `userKey` function that returns a string) goes on without a promise.
 *
 * Not from an RFC: a helper of the adapters' hot path.
 *
 * @example
 * ```ts
 * const state = routes.requestState(userKey)
 * if (isPromiseLike(state)) state.then(attach, fail)
 * else attach(state)
 * ```
 */
export function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as PromiseLike<T> | undefined)?.then === 'function'
}
