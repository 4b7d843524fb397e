// The runtime names of each entry, pinned: an export added or dropped by accident fails here.
// `@ongoing/core` is what an app uses; `@ongoing/core/adapter` what adapters and profiles are built from.
import { describe, expect, it } from 'vitest'
import * as adapter from '../src/adapter.js'
import * as main from '../src/index.js'

const MAIN_EXPORTS = [
  'ConsentRequiredError',
  'MemoryTokenStore',
  'OngoingAccess',
  'OngoingAccessError',
  'createMemoryRateLimiter',
  'isOngoingAccessError',
]

const ADAPTER_EXPORTS = [
  'CONSENT_REQUIRED_CHALLENGE',
  'OngoingRoutes',
  'RequestProperty',
  'Sealer',
  'TokenSwapService',
  'calculatePKCECodeChallenge',
  'clearCookie',
  'cookieHeaderOf',
  'deadGrantPolicy',
  'discoverAuthorizationServer',
  'generateCodeVerifier',
  'generateRandomToken',
  'httpHeadersOf',
  'httpStatusOf',
  'isBrowserNavigation',
  'isPromiseLike',
  'isSameOriginRequest',
  'parseCallbackParameters',
  'parseRetryAfter',
  'readCookie',
  'readSwapRequestBody',
  'sanitizeReturnTo',
  'serializeCookie',
  'setCookiesOf',
  'toHttpError',
]

const sorted = (names: Iterable<string>) => [...names].sort()

describe('the entries of @ongoing/core', () => {
  it('the main entry exports what an app uses, and nothing else', () => {
    expect(sorted(Object.keys(main))).toEqual(sorted(MAIN_EXPORTS))
  })

  it('@ongoing/core/adapter exports the adapters’ and profiles’ parts, and nothing else', () => {
    expect(sorted(Object.keys(adapter))).toEqual(sorted(ADAPTER_EXPORTS))
  })

  it('no name is exported by both', () => {
    expect(Object.keys(main).filter((name) => name in adapter)).toEqual([])
  })

  it('the names of the design contract are in the main entry', () => {
    for (const name of ['OngoingAccess', 'MemoryTokenStore', 'OngoingAccessError', 'ConsentRequiredError'])
      expect(main).toHaveProperty(name)
  })
})
