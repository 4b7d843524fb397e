import { IncomingMessage } from 'node:http'

/**
 * What is kept under the accessor's symbol in `res.locals`: the value, and the request it belongs
 * to. Its fields are private, so logging `res.locals`, or copying it (`res.render` spreads it into
 * a template's options), shows an empty `RequestValue {}` and never the value (nor with
 * `showHidden`: it has no accessors).
 */
class RequestValue {
  readonly #owner: object
  #value: unknown

  constructor(owner: object, value: unknown) {
    this.#owner = owner
    this.#value = value
  }

  /** The value `held` keeps for `owner`, or `NOT_HELD` if `held` is not a `RequestValue` of `owner`. */
  static read(held: unknown, owner: object): unknown {
    return typeof held === 'object' && held !== null && #owner in held && held.#owner === owner
      ? held.#value
      : NOT_HELD
  }

  /** Replaces the value if `held` is a `RequestValue` of `owner`; whether it was. */
  static write(held: unknown, owner: object, value: unknown): boolean {
    if (typeof held !== 'object' || held === null || !(#owner in held) || held.#owner !== owner) return false
    held.#value = value
    return true
  }
}

const NOT_HELD = Symbol('not held')

interface Accessor {
  readonly get: (this: object) => unknown
  readonly set: (this: object, value: unknown) => void
  /** The value kept for `req` (`res`, when given, is `req.res`), or `NOT_HELD` if none is. */
  readonly held: (req: object, res?: object) => unknown
  /** Keeps `value` for `req`, where the accessor reads it. */
  readonly keep: (req: object, value: unknown, res?: object) => void
}

/** `req.res.locals`, when it is an object: Express's per-request storage (also under NestJS). */
function localsOf(req: object, res = (req as { res?: object }).res): Record<symbol, unknown> | undefined {
  const locals = (res as { locals?: unknown } | undefined)?.locals
  return typeof locals === 'object' && locals !== null ? (locals as Record<symbol, unknown>) : undefined
}

// One accessor per name in this module, so two adapters (Express and NestJS in one app) share it.
const accessors = new Map<string, Accessor>()

function accessorFor(name: string): Accessor {
  let accessor = accessors.get(name)
  if (accessor !== undefined) return accessor
  const key = Symbol(`ongoing.request.${name}`)
  // Requests without res.locals, or whose res.locals is frozen or holds another request's value (an
  // app that shares one locals object between responses): the value is kept here instead.
  const others = new WeakMap<object, unknown>()
  const keep = (req: object, value: unknown, res?: object): void => {
    const locals = localsOf(req, res)
    if (locals !== undefined) {
      const held = locals[key]
      if (held === undefined) {
        if (Object.isExtensible(locals)) {
          locals[key] = new RequestValue(req, value)
          return
        }
      } else if (RequestValue.write(held, req, value)) return
    }
    others.set(req, value)
  }
  const held = (req: object, res?: object): unknown => {
    const locals = localsOf(req, res)
    if (locals !== undefined) {
      const value = RequestValue.read(locals[key], req)
      if (value !== NOT_HELD) return value
    }
    return others.has(req) ? others.get(req) : NOT_HELD
  }
  accessor = {
    keep,
    held,
    get(this: object) {
      const value = held(this)
      return value === NOT_HELD ? undefined : value
    },
    set(this: object, value: unknown) {
      keep(this, value)
    },
  }
  accessors.set(name, accessor)
  return accessor
}

/**
 * A per-request value under a property name, such as `req.ongoing`, that costs the hot path no
 * property added to the request.
 *
 * Express (and NestJS on it) gives every request a new prototype (`Object.setPrototypeOf(req,
 * app.request)`), and after that V8 gives every property added to the request a hidden class of
 * its own: no two requests share one, so each addition takes the slow path (about a microsecond
 * on a 2-core machine, more than the rest of our middleware). So, where the request's prototype
 * chain runs through a framework's request prototype just above Node's `IncomingMessage.prototype`
 * (Express's `express.request`, which Express documents as the object for extending requests),
 * `name` becomes an accessor there, defined once. Its values live in the request's `res.locals`
 * (Express's documented per-request storage, a dictionary object, so adding to it is cheap) under
 * a symbol, inside an object whose fields are private: logging or copying `res.locals` (as
 * `res.render` does) shows `RequestValue {}`, never the value. A request without `res.locals`, or
 * whose `res.locals` is frozen or holds another request's value, keeps it in a `WeakMap` instead.
 *
 * Reading and assigning `req[name]` work as before; the property is not the request's own
 * (`Object.hasOwn(req, name)` is false, and `name in req` is true for every request of that
 * framework, reading `undefined` where nothing was set). Replacing `res.locals` after the value was
 * set loses it unless the new object carries the old one's symbol keys over (a spread or
 * `Object.assign` of the old one does); assigning to `res.locals.x` is what Express documents. A
 * plain Node request (prototype `IncomingMessage.prototype`, which is left alone) gets an ordinary
 * own property, as does a request whose framework prototype already has a property of that name.
 *
 * Not from an RFC: an implementation detail of the adapters, exported for them.
 *
 * @example
 * ```ts
 * const ongoing = new RequestProperty<{ accessToken: string }>('ongoing')
 * ongoing.set(req, { accessToken })
 * req.ongoing.accessToken // what was set
 * ongoing.get(req, res)?.accessToken // the same, read without the lookups on req
 * ```
 */
export class RequestProperty<T> {
  /** The property name. */
  readonly name: string
  readonly #accessor: Accessor
  #lastPrototype: object | null | undefined
  #viaAccessor = false

  constructor(name: string) {
    this.name = name
    this.#accessor = accessorFor(name)
  }

  /**
   * Sets `req[name]` to `value`.
   *
   * @param res - The request's response (`req.res`), when the caller has it at hand: it saves a
   *   lookup on `req`, which V8 cannot cache on Express's requests (each has a hidden class of its own).
   */
  set(req: object, value: T, res?: object): void {
    const prototype = Object.getPrototypeOf(req) as object | null
    if (prototype !== this.#lastPrototype) {
      this.#viaAccessor = this.#defineOn(prototype)
      this.#lastPrototype = prototype
    }
    // Kept directly, not through the setter: assigning through it would take V8's slow path again
    // (a store to an object with a hidden class of its own that finds an accessor on its prototype
    // chain). An own property (set before the accessor existed) shadows the accessor: that one is
    // kept current.
    if (this.#viaAccessor && !Object.hasOwn(req, this.name)) this.#accessor.keep(req, value, res)
    else (req as Record<string, unknown>)[this.name] = value
  }

  /**
   * Reads `req[name]`: what {@link RequestProperty.set} (or an assignment) left there, `undefined` if
   * nothing was.
   *
   * @param res - The request's response (`req.res`), when the caller has it at hand. With it, a
   *   value kept behind the accessor is read without looking `name` or `res` up on `req` (lookups
   *   V8 cannot cache on Express's requests). A value kept there is what `set` (or an assignment)
   *   left last: only `Object.defineProperty(req, name, …)` after that could make `req[name]`
   *   read otherwise.
   */
  get(req: object, res?: object): T | undefined {
    const value = this.#accessor.held(req, res)
    return (value === NOT_HELD ? (req as Record<string, unknown>)[this.name] : value) as T | undefined
  }

  /**
   * Defines the accessor on the framework's request prototype (the one just above Node's) unless it
   * is there; whether `req[name]` on requests of this prototype is this module's accessor.
   */
  #defineOn(prototype: object | null): boolean {
    let base = prototype
    while (base !== null && Object.getPrototypeOf(base) !== IncomingMessage.prototype)
      base = Object.getPrototypeOf(base) as object | null
    if (base === null) return false // a plain Node request, or not an IncomingMessage at all
    const { get, set } = this.#accessor
    const existing = Object.getOwnPropertyDescriptor(base, this.name)
    if (existing !== undefined) return existing.get === get
    Object.defineProperty(base, this.name, { configurable: true, enumerable: false, get, set })
    return true
  }
}
