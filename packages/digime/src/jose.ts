// `jose` is loaded when the first signed answer is verified, not with the package: data calls with a
// cached token never need it, and an app holds its code in memory only once it talks to digi.me.
let loaded: Promise<typeof import('jose')> | undefined

/** The `jose` module, imported once. */
export function loadJose(): Promise<typeof import('jose')> {
  loaded ??= import('jose')
  return loaded
}

/** Starts loading `jose` ahead of the first verification; a failure surfaces where it is used. */
export function preloadJose(): void {
  loadJose().catch(() => {})
}
