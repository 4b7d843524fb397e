import { IncomingMessage } from 'node:http'
import { Socket } from 'node:net'
import { describe, expect, it } from 'vitest'
import { RequestProperty } from '../src/index.js'

interface State {
  accessToken: string
}

/** A request as Express leaves it: its own prototype per app, above a shared framework prototype. */
function frameworkRequests() {
  const frameworkRequest = Object.create(IncomingMessage.prototype) as object // like express.request
  const appRequest = Object.create(frameworkRequest) as object // like app.request
  const make = () => {
    const req = new IncomingMessage(new Socket())
    Object.setPrototypeOf(req, appRequest)
    return req as IncomingMessage & { [name: string]: unknown }
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
})
