import { IncomingMessage } from 'node:http'

interface Accessor {
  readonly values: WeakMap<object, unknown>
  readonly get: (this: object) => unknown
  readonly set: (this: object, value: unknown) => void
}

// One accessor per name in this module, so two adapters (Express and NestJS in one app) share it.
const accessors = new Map<string, Accessor>()

function accessorFor(name: string): Accessor {
  let accessor = accessors.get(name)
  if (accessor === undefined) {
    const values = new WeakMap<object, unknown>()
    accessor = {
      values,
      get(this: object) {
        return values.get(this)
      },
      set(this: object, value: unknown) {
        values.set(this, value)
      },
    }
    accessors.set(name, accessor)
  }
  return accessor
}

/**
 * A per-request value under a property name, such as `req.ongoing`, that costs the hot path no
 * property added to the request.
 *
 * Express (and NestJS on it) gives every request a new prototype (`Object.setPrototypeOf(req,
 * app.request)`), and V8 then stores each property added to the request afterwards on a slow path:
 * about a microsecond each on a 2-core machine, more than the rest of our middleware. So, where the
 * request's prototype chain runs through a framework's request prototype just above Node's
 * `IncomingMessage.prototype` (Express's `express.request`, which Express documents as the object
 * for extending requests), `name` becomes an accessor there, defined once, and the values live in a
 * `WeakMap` keyed by the request.
 *
 * Reading and assigning `req[name]` work as before; the property is not the request's own
 * (`Object.hasOwn(req, name)` is false, and `name in req` is true for every request of that
 * framework, reading `undefined` where nothing was set). A plain Node request (prototype
 * `IncomingMessage.prototype`, which is left alone) gets an ordinary own property, as does a
 * request whose framework prototype already has a property of that name.
 *
 * Not from an RFC: an implementation detail of the adapters, exported for them.
 *
 * @example
 * ```ts
 * const ongoing = new RequestProperty<{ accessToken: string }>('ongoing')
 * ongoing.set(req, { accessToken })
 * req.ongoing.accessToken // what was set
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

  /** Sets `req[name]` to `value`. */
  set(req: object, value: T): void {
    const prototype = Object.getPrototypeOf(req) as object | null
    if (prototype !== this.#lastPrototype) {
      this.#viaAccessor = this.#defineOn(prototype)
      this.#lastPrototype = prototype
    }
    // Straight into the WeakMap: assigning through the setter would take V8's slow path again
    // (a store to a dictionary-mode object that finds an accessor on its prototype chain). An own
    // property (set before the accessor existed) shadows the accessor: that one is kept current.
    if (this.#viaAccessor && !Object.hasOwn(req, this.name)) this.#accessor.values.set(req, value)
    else (req as Record<string, unknown>)[this.name] = value
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
