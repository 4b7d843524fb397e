// What the `typecheck` fragments of the READMEs take as given: the names a fragment uses without
// defining them, declared with their real types, so that a fragment that drifts from the API fails
// to compile. A fragment that defines or imports a name uses its own. Add a name here when a new
// fragment needs one, with the type the reader would have.

// From the packages: the access most fragments talk to, its class and its options.
declare const access: import('@ongoing/core').OngoingAccess
declare const OngoingAccess: typeof import('@ongoing/core').OngoingAccess
declare const options: import('@ongoing/core').OngoingAccessOptions
declare const store: import('@ongoing/core').TokenStore
// A secret being rotated in: `secret: [newSecret, oldSecret]`.
declare const newSecret: string

// The consent in progress: the callback URL the browser came back to, and the sealed transaction.
declare const callbackUrl: URL
declare const fullCallbackUrl: URL
declare const transaction: string
declare const userKey: string

// The app around the fragment.
declare const app: import('express').Express
declare const handler: import('express').RequestHandler
declare const router: import('@koa/router').default
declare class AppModule {}
declare const log: {
  debug(fields: object, message: string): void
  info(fields: object, message: string): void
  warn(fields: object, message: string): void
}
declare const metrics: { increment(name: string): void }
declare function notifyUser(userKey: string): void
declare function listHistory(accessToken: string): Promise<unknown>
declare function saveHistory(userKey: string, history: unknown): Promise<void>
declare function showBanner(text: string): void
declare function mailOnce(userKey: string, since: number): Promise<void>

// digi.me: the contract, the data API's base URL, and tokens an app already holds.
declare const applicationId: string
declare const contractId: string
declare const privateKey: string
declare const api: string
declare const accessToken: string
declare const refreshToken: string
declare const accessTokenExpiresOn: number
declare const refreshTokenExpiresOn: number

// A signed-in user, as the Passport fragment declares it.
declare namespace Express {
  interface User {
    id: string
  }
}
