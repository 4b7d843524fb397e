import { type FinishConsentResult, isOngoingAccessError, type OngoingAccess } from '@ongoing/core'
import {
  OngoingRoutes,
  type OngoingRoutesOptions,
  setCookiesOf,
  type WebRequest,
} from '@ongoing/core/adapter'
import type { Request, Response } from 'express'
import { Strategy } from 'passport-strategy'
import { checkAccess, checkUserKey, httpErrorOf, toWebRequest, type UserKeyOf, writeHeaders } from './web.js'

/** What the verify callback answers: an error, or the user (`false` refuses the login). */
export type OngoingVerifyDone = (err: unknown, user?: Express.User | false, info?: object) => void

/** Finds or creates the app's user for a finished consent. `result.userKey` holds the grant. */
export type OngoingVerify = (result: FinishConsentResult, done: OngoingVerifyDone) => void

/** {@link OngoingVerify}, with the request first (`passReqToCallback: true`). */
export type OngoingVerifyWithRequest = (
  req: Request,
  result: FinishConsentResult,
  done: OngoingVerifyDone,
) => void

/** Options of {@link OngoingStrategy}. */
export interface OngoingStrategyOptions extends OngoingRoutesOptions {
  /** The strategy's name for `passport.authenticate(name)`. Default: `'ongoing'`. */
  name?: string
  /**
   * Whose grant a login creates, when the app already knows (for example, a signed-in user
   * connecting the account). Default: none, and the random user key the routes keep in a sealed
   * cookie. Either way `verify` receives it as `result.userKey`. Not used when the access keys
   * grants by the user at the server (`userKeyFromClaims`): the ID token says whose grant it is.
   */
  userKey?: UserKeyOf
  /** Call `verify(req, result, done)` instead of `verify(result, done)`. Default: false. */
  passReqToCallback?: boolean
}

/**
 * A Passport strategy for ongoing access: `passport.authenticate('ongoing')` on the login route
 * redirects to the authorization server (PKCE S256, `state`, sealed transaction cookie); on the
 * callback route (the path of `redirectUri`; it is told by `code`, `error` or `state` in the query)
 * it checks `state` and `iss`, exchanges the code through the core (so every client
 * authentication works, `private_key_jwt` included), stores the grant under the user key, and
 * calls `verify` to get the user. `info.returnTo` is the sanitized `?returnTo=` of the login
 * route. A refused consent fails with status 403; a missing or tampered transaction is an error
 * with status 400 (see `ongoingRouter` for how errors map).
 *
 * @param access - The app's `OngoingAccess`.
 * @param verify - `(result, done)`: `result` is `{ userKey, returnTo, token, claims }` (`claims`: the verified ID token's, with `openid`); call `done(null, user)`.
 * @param options - `name`, `userKey(req)`, `passReqToCallback`, `cookieName`, `defaultReturnTo`.
 * @throws {TypeError} at once, for a bad argument.
 * @example
 * ```ts
 * passport.use(new OngoingStrategy(access, (result, done) => done(null, { id: result.userKey })))
 * app.get('/auth/login', passport.authenticate('ongoing'))
 * app.get('/auth/callback', passport.authenticate('ongoing', { failureRedirect: '/' }), (req, res) =>
 *   res.redirect(303, (req.authInfo as { returnTo?: string }).returnTo ?? '/'),
 * )
 * app.get('/library', requireAccessToken(access, { userKey: (req) => req.user?.id }), handler)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1, https://www.rfc-editor.org/rfc/rfc9207#section-2.4
 */
export class OngoingStrategy extends Strategy {
  // No #private members: Passport calls `authenticate` on an object whose prototype is this one.
  /** The name Passport knows this strategy by. */
  readonly name: string
  private readonly routes: OngoingRoutes
  private readonly verify: OngoingVerify | OngoingVerifyWithRequest
  private readonly userKeyOf: UserKeyOf | undefined
  private readonly passReqToCallback: boolean

  constructor(
    access: OngoingAccess,
    verify: OngoingVerify,
    options?: OngoingStrategyOptions & { passReqToCallback?: false },
  )
  constructor(
    access: OngoingAccess,
    verify: OngoingVerifyWithRequest,
    options: OngoingStrategyOptions & { passReqToCallback: true },
  )
  constructor(
    access: OngoingAccess,
    verify: OngoingVerify | OngoingVerifyWithRequest,
    options: OngoingStrategyOptions = {},
  ) {
    super()
    checkAccess(access)
    if (typeof verify !== 'function')
      throw new TypeError('ongoing: OngoingStrategy requires a verify function')
    this.name = options.name ?? 'ongoing'
    this.routes = new OngoingRoutes(access, options)
    this.verify = verify
    this.userKeyOf = checkUserKey(options.userKey)
    this.passReqToCallback = options.passReqToCallback === true
  }

  /**
   * Called by Passport: starts the consent, or finishes it on the callback.
   *
   * @param req - The request; its `res` receives the cookies and headers.
   */
  override authenticate(req: Request): void {
    const request = toWebRequest(req)
    const query = new URL(req.originalUrl, 'http://request.invalid').searchParams
    if (query.has('code') || query.has('error') || query.has('state')) this.finish(req, request)
    else this.start(req, request)
  }

  private start(req: Request, request: WebRequest): void {
    Promise.resolve(this.userKeyOf?.(req))
      .then((userKey) => this.routes.consent(request, userKey))
      .then(
        (response) => {
          writeHeaders(req.res as Response, { ...response, headers: { 'cache-control': 'no-store' } })
          this.redirect(response.headers.location as string, response.status)
        },
        (err: unknown) => this.error(httpErrorOf(err) as Error),
      )
  }

  private finish(req: Request, request: WebRequest): void {
    this.routes.callback(request).then(
      ({ result, headers: { location: _, ...headers }, cookies, status }) => {
        writeHeaders(req.res as Response, { status, headers, cookies })
        const done: OngoingVerifyDone = (err, user, info) => {
          if (err) this.error(err as Error)
          else if (!user) this.fail(info ?? { message: 'The user was not accepted' }, 403)
          else this.success(user, { ...info, returnTo: result.returnTo ?? '/' })
        }
        try {
          if (this.passReqToCallback) (this.verify as OngoingVerifyWithRequest)(req, result, done)
          else (this.verify as OngoingVerify)(result, done)
        } catch (err) {
          this.error(err as Error)
        }
      },
      (err: unknown) => {
        // A failed callback still clears its transaction cookies; `fail` carries no headers.
        writeHeaders(req.res as Response, { status: 0, headers: {}, cookies: [...setCookiesOf(err)] })
        if (isOngoingAccessError(err) && err.code === 'ERR_CONSENT_DENIED')
          this.fail({ message: err.message }, 403)
        else this.error(httpErrorOf(err) as Error)
      },
    )
  }
}
