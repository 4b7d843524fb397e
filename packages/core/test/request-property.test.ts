import { IncomingMessage } from 'node:http'
import { Socket } from 'node:net'
import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import { RequestProperty } from '../src/adapter.js'

interface State {
  accessToken: string
}

type FrameworkRequest = IncomingMessage & { [name: string]: unknown; res?: { locals?: object } }

/**
 * A request as Express leaves it: its own prototype per app, above a shared framework prototype,
 * and `req.res.locals` (a null-prototype object per response), unless `locals` is false.
 */
function frameworkRequests({ locals = true } = {}) {
  const frameworkRequest = Object.create(IncomingMessage.prototype) as object // like express.request
  const appRequest = Object.create(frameworkRequest) as object // like app.request
  const make = () => {
    const req = new IncomingMessage(new Socket()) as FrameworkRequest
    Object.setPrototypeOf(req, appRequest)
    if (locals) req.res = { locals: Object.create(null) as object }
    return req
  }
  return { frameworkRequest, appRequest, make }
}

describe('RequestProperty', () => {
  it('keeps the value off the request, behind an accessor on the framework prototype', () => {
    const { frameworkRequest, make } = frameworkRequests()
    const property = new RequestProperty<State>('ongoingTest1')
    const a = make()
    const b = make()
    property.set(a, { accessToken: 'a' })
    property.set(b, { accessToken: 'b' })
    expect(a.ongoingTest1).toEqual({ accessToken: 'a' })
    expect(b.ongoingTest1).toEqual({ accessToken: 'b' })
    expect(Object.hasOwn(a, 'ongoingTest1')).toBe(false)
    expect(Object.hasOwn(frameworkRequest, 'ongoingTest1')).toBe(true)
    expect(Object.keys(a)).not.toContain('ongoingTest1')
    // Node's own prototype is left alone.
    expect(Object.hasOwn(IncomingMessage.prototype, 'ongoingTest1')).toBe(false)
    // A request nothing was set for reads undefined.
    expect(make().ongoingTest1).toBeUndefined()
  })

  it('is readable from another app of the same framework (a mounted sub-app restores its prototype)', () => {
    const { frameworkRequest, make } = frameworkRequests()
    const property = new RequestProperty<State>('ongoingTest2')
    const req = make()
    property.set(req, { accessToken: 'x' })
    Object.setPrototypeOf(req, Object.create(frameworkRequest)) // the parent app's request prototype
    expect(req.ongoingTest2).toEqual({ accessToken: 'x' })
  })

  it('lets the app assign and overwrite it as a plain property', () => {
    const { make } = frameworkRequests()
    const property = new RequestProperty<State>('ongoingTest3')
    const req = make()
    property.set(req, { accessToken: 'first' })
    req.ongoingTest3 = { accessToken: 'by the app' }
    expect(req.ongoingTest3).toEqual({ accessToken: 'by the app' })
    property.set(req, { accessToken: 'again' })
    expect(req.ongoingTest3).toEqual({ accessToken: 'again' })
  })

  it('shares the value between two instances of one name (Express and NestJS adapters in one app)', () => {
    const { make } = frameworkRequests()
    const one = new RequestProperty<State>('ongoingTest4')
    const two = new RequestProperty<State>('ongoingTest4')
    const req = make()
    one.set(req, { accessToken: 'x' })
    expect(req.ongoingTest4).toEqual({ accessToken: 'x' })
    two.set(req, { accessToken: 'y' })
    expect(req.ongoingTest4).toEqual({ accessToken: 'y' })
    // Both went through the one accessor: no own property on the request.
    expect(Object.hasOwn(req, 'ongoingTest4')).toBe(false)
  })

  it('updates an own property set before the accessor existed', () => {
    const { make } = frameworkRequests()
    const req = make()
    req.ongoingTest5 = { accessToken: 'old' }
    const property = new RequestProperty<State>('ongoingTest5')
    property.set(req, { accessToken: 'new' })
    expect(req.ongoingTest5).toEqual({ accessToken: 'new' })
  })

  it('uses an own property on a plain Node request and where the framework prototype has the name', () => {
    const plain = new IncomingMessage(new Socket()) as IncomingMessage & { ongoingTest6?: State }
    const property = new RequestProperty<State>('ongoingTest6')
    property.set(plain, { accessToken: 'p' })
    expect(Object.hasOwn(plain, 'ongoingTest6')).toBe(true)
    expect(plain.ongoingTest6).toEqual({ accessToken: 'p' })

    const { frameworkRequest, make } = frameworkRequests()
    Object.defineProperty(frameworkRequest, 'ongoingTest7', {
      value: null,
      writable: true,
      configurable: true,
    })
    const taken = new RequestProperty<State>('ongoingTest7')
    const req = make()
    taken.set(req, { accessToken: 't' })
    expect(Object.hasOwn(req, 'ongoingTest7')).toBe(true)
    expect(req.ongoingTest7).toEqual({ accessToken: 't' })
    expect(make().ongoingTest7).toBeNull()
  })

  it('works on a plain object that is not a request at all', () => {
    const property = new RequestProperty<State>('ongoingTest8')
    const fake: { ongoingTest8?: State } = {}
    property.set(fake, { accessToken: 'f' })
    expect(fake.ongoingTest8).toEqual({ accessToken: 'f' })
  })

  it('keeps the value in res.locals, where logging or copying res.locals shows no value', () => {
    const { make } = frameworkRequests()
    const property = new RequestProperty<State>('ongoingTest9')
    const req = make()
    property.set(req, { accessToken: 'secret-at-9' })
    const locals = req.res?.locals as Record<string | symbol, unknown>
    // Nothing under a string key: templates, for…in and JSON see nothing.
    expect(Object.keys(locals)).toEqual([])
    expect(JSON.stringify(locals)).toBe('{}')
    // One symbol key, whose value shows nothing of the token when logged.
    expect(Object.getOwnPropertySymbols(locals)).toHaveLength(1)
    expect(inspect(locals, { depth: 5, showHidden: true, getters: true })).not.toContain('secret-at-9')
    expect(inspect(req, { depth: 3 })).not.toContain('secret-at-9')
    // res.render's options are a spread of res.locals: the holder is copied, not the token.
    const renderOptions = { ...locals }
    expect(inspect(renderOptions, { depth: 5, showHidden: true })).not.toContain('secret-at-9')
    // Assigning through the accessor updates the same holder.
    req.ongoingTest9 = { accessToken: 'secret-at-9b' }
    expect(req.ongoingTest9).toEqual({ accessToken: 'secret-at-9b' })
    expect(Object.getOwnPropertySymbols(locals)).toHaveLength(1)
  })

  it('keeps the value in the res.locals of the response it is given, the same as req.res', () => {
    const { make } = frameworkRequests()
    const property = new RequestProperty<State>('ongoingTest13')
    const req = make()
    const res = req.res as { locals: Record<symbol, unknown> }
    property.set(req, { accessToken: 'given-res' }, res)
    expect(req.ongoingTest13).toEqual({ accessToken: 'given-res' })
    expect(Object.getOwnPropertySymbols(res.locals)).toHaveLength(1)
    // Set again with or without it: the same holder, updated.
    property.set(req, { accessToken: 'given-res-2' })
    expect(req.ongoingTest13).toEqual({ accessToken: 'given-res-2' })
    property.set(req, { accessToken: 'given-res-3' }, res)
    expect(req.ongoingTest13).toEqual({ accessToken: 'given-res-3' })
    expect(Object.getOwnPropertySymbols(res.locals)).toHaveLength(1)
    expect(Object.hasOwn(req, 'ongoingTest13')).toBe(false)
  })

  it('survives res.locals replaced by a spread or Object.assign of itself', () => {
    const { make } = frameworkRequests()
    const property = new RequestProperty<State>('ongoingTest10')
    const req = make()
    const res = req.res as { locals: object }
    property.set(req, { accessToken: 'a' })
    res.locals = { ...res.locals, user: 'u' }
    expect(req.ongoingTest10).toEqual({ accessToken: 'a' })
    res.locals = Object.assign(Object.create(null) as object, res.locals, { title: 't' })
    expect(req.ongoingTest10).toEqual({ accessToken: 'a' })
    // Replaced by an object that does not carry it over: gone, as documented.
    res.locals = { user: 'u' }
    expect(req.ongoingTest10).toBeUndefined()
  })

  it("never reads another request's value, even when two responses share one locals object", () => {
    const { make } = frameworkRequests()
    const property = new RequestProperty<State>('ongoingTest11')
    const shared = Object.create(null) as object
    const alice = make()
    const bob = make()
    ;(alice.res as { locals: object }).locals = shared
    ;(bob.res as { locals: object }).locals = shared
    property.set(alice, { accessToken: 'alice-at' })
    expect(bob.ongoingTest11).toBeUndefined()
    property.set(bob, { accessToken: 'bob-at' })
    expect(alice.ongoingTest11).toEqual({ accessToken: 'alice-at' })
    expect(bob.ongoingTest11).toEqual({ accessToken: 'bob-at' })
    bob.ongoingTest11 = { accessToken: 'bob-at-2' }
    expect(alice.ongoingTest11).toEqual({ accessToken: 'alice-at' })
    expect(bob.ongoingTest11).toEqual({ accessToken: 'bob-at-2' })
    // A holder-shaped object put there by someone else is not taken for ours.
    const forged = make()
    const symbol = Object.getOwnPropertySymbols(shared)[0] as symbol
    const locals = Object.create(null) as Record<symbol, unknown>
    locals[symbol] = { value: { accessToken: 'forged' } }
    ;(forged.res as { locals: object }).locals = locals
    expect(forged.ongoingTest11).toBeUndefined()
    property.set(forged, { accessToken: 'real' })
    expect(forged.ongoingTest11).toEqual({ accessToken: 'real' })
  })

  it('keeps the value of a request without res.locals, or with a frozen one, off the request too', () => {
    const { make } = frameworkRequests({ locals: false })
    const property = new RequestProperty<State>('ongoingTest12')
    const a = make()
    const b = make()
    b.res = { locals: Object.freeze({}) }
    property.set(a, { accessToken: 'a' })
    property.set(b, { accessToken: 'b' })
    expect(a.ongoingTest12).toEqual({ accessToken: 'a' })
    expect(b.ongoingTest12).toEqual({ accessToken: 'b' })
    expect(Object.hasOwn(a, 'ongoingTest12')).toBe(false)
    a.ongoingTest12 = { accessToken: 'a2' }
    expect(a.ongoingTest12).toEqual({ accessToken: 'a2' })
  })

  it('get(req, res) reads what req[name] reads, with or without the response, in every case above', () => {
    const property = new RequestProperty<State>('ongoingTest14')
    const agrees = (req: FrameworkRequest | { ongoingTest14?: State }, res?: object) => {
      const read = (req as { ongoingTest14?: State }).ongoingTest14
      expect(property.get(req, res)).toBe(read)
      expect(property.get(req)).toBe(read)
      return read
    }
    const { make } = frameworkRequests()
    // Behind the accessor, in res.locals; given its own response or another one.
    const req = make()
    expect(agrees(req, req.res)).toBeUndefined()
    property.set(req, { accessToken: 'kept' }, req.res)
    expect(agrees(req, req.res)).toEqual({ accessToken: 'kept' })
    expect(property.get(req, make().res)).toEqual({ accessToken: 'kept' })
    // Assigned by the app, through the accessor.
    req.ongoingTest14 = { accessToken: 'by the app' }
    expect(agrees(req, req.res)).toEqual({ accessToken: 'by the app' })
    // Two responses sharing one locals object: each request reads its own, never the other's.
    const shared = Object.create(null) as object
    const [alice, bob] = [make(), make()]
    ;(alice.res as { locals: object }).locals = shared
    ;(bob.res as { locals: object }).locals = shared
    property.set(alice, { accessToken: 'alice-at' }, alice.res)
    expect(agrees(bob, bob.res)).toBeUndefined()
    property.set(bob, { accessToken: 'bob-at' }, bob.res)
    expect(agrees(alice, alice.res)).toEqual({ accessToken: 'alice-at' })
    expect(agrees(bob, bob.res)).toEqual({ accessToken: 'bob-at' })
    // No res.locals, or a frozen one: kept aside, read from there.
    const noLocals = frameworkRequests({ locals: false }).make()
    property.set(noLocals, { accessToken: 'aside' })
    expect(agrees(noLocals)).toEqual({ accessToken: 'aside' })
    const frozen = make()
    frozen.res = { locals: Object.freeze({}) }
    property.set(frozen, { accessToken: 'frozen' }, frozen.res)
    expect(agrees(frozen, frozen.res)).toEqual({ accessToken: 'frozen' })
    // An own property set before the accessor existed, a plain Node request, a plain object.
    const early = make()
    const earlyName = new RequestProperty<State>('ongoingTest15')
    early.ongoingTest15 = { accessToken: 'old' }
    expect(earlyName.get(early, early.res)).toEqual({ accessToken: 'old' })
    earlyName.set(early, { accessToken: 'new' }, early.res)
    expect(earlyName.get(early, early.res)).toEqual({ accessToken: 'new' })
    expect(earlyName.get(make(), undefined)).toBeUndefined()
    const plain = new IncomingMessage(new Socket()) as FrameworkRequest
    property.set(plain, { accessToken: 'plain' })
    expect(agrees(plain)).toEqual({ accessToken: 'plain' })
    const fake: { ongoingTest14?: State } = {}
    expect(agrees(fake)).toBeUndefined()
    property.set(fake, { accessToken: 'fake' })
    expect(agrees(fake)).toEqual({ accessToken: 'fake' })
  })
})
