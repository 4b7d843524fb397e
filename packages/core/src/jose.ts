// `jose` is loaded when a flow needs it, not with the package: only private_key_jwt client
// authentication and ID token verification use it, and an app that uses neither should not hold its
// code in memory (about 0.6 MB of heap on Node 20, which every major garbage collection walks again).
let loaded: Promise<typeof import('jose')> | undefined

/** The `jose` module, imported once, when the first assertion is signed or ID token verified. */
export function loadJose(): Promise<typeof import('jose')> {
  loaded ??= import('jose')
  return loaded
}

/**
 * Starts loading `jose` for an access that will need it (a private_key_jwt client, a consent that
 * asks for `openid`), so its first token call does not wait for the import (about 30 ms). A failure
 * surfaces where `jose` is used.
 */
export function preloadJose(): void {
  loadJose().catch(() => {})
}
