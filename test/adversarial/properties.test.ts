import { OngoingAccessError } from '@ongoing/core'
import { parseCallbackParameters, Sealer, sanitizeReturnTo } from '@ongoing/core/adapter'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

const SECRET = 'property-tests-secret-property-tests-secret'
const NAMES = ['state', 'code', 'iss', 'error', 'error_description', 'result', 'access_token', 'other']

describe('properties: the callback parser', () => {
  it('either returns each parameter exactly as sent once, or throws ERR_AUTHORIZATION; never anything else', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(...NAMES), fc.string({ maxLength: 60 })), { maxLength: 8 }),
        (pairs) => {
          const url = new URL('https://app.test/auth/callback')
          for (const [name, value] of pairs) url.searchParams.append(name, value)
          let result: ReturnType<typeof parseCallbackParameters>
          try {
            result = parseCallbackParameters(url)
          } catch (err) {
            expect(err).toBeInstanceOf(OngoingAccessError)
            expect((err as OngoingAccessError).code).toBe('ERR_AUTHORIZATION')
            const counts = new Map<string, number>()
            for (const [name] of pairs) counts.set(name, (counts.get(name) ?? 0) + 1)
            const repeated = ['state', 'code', 'iss', 'error', 'error_description', 'result'].some(
              (n) => (counts.get(n) ?? 0) > 1,
            )
            expect(repeated || counts.has('access_token')).toBe(true)
            return
          }
          const sent = (name: string) => pairs.find(([n]) => n === name)?.[1]
          expect(result.state).toBe(sent('state'))
          expect(result.code).toBe(sent('code'))
          expect(result.iss).toBe(sent('iss'))
          expect(result.error).toBe(sent('error'))
        },
      ),
      { numRuns: 2_000 },
    )
  })

  it('never throws anything but ERR_AUTHORIZATION on arbitrary query strings', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (query) => {
        try {
          parseCallbackParameters(`https://app.test/cb?${query}`)
        } catch (err) {
          expect((err as OngoingAccessError).code).toBe('ERR_AUTHORIZATION')
        }
      }),
      { numRuns: 2_000 },
    )
  })
})

describe('properties: returnTo', () => {
  it('is always a same-origin path, whatever the input', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.webUrl(),
          fc.webPath(),
          fc.string({
            unit: fc.constantFrom(
              '/',
              '\\',
              '%',
              '2',
              'f',
              'F',
              '5',
              'c',
              '@',
              ':',
              '.',
              '\t',
              '\n',
              'e',
              'h',
            ),
          }),
        ),
        (input) => {
          const out = sanitizeReturnTo(input)
          expect(out.startsWith('/')).toBe(true)
          expect(out.startsWith('//')).toBe(false)
          expect(out).not.toMatch(/[\\\t\n\r]/)
          expect(new URL(out, 'https://app.test').origin).toBe('https://app.test')
        },
      ),
      { numRuns: 5_000 },
    )
  })
})

describe('properties: the sealing format', () => {
  const sealer = new Sealer([SECRET])

  it('round-trips any text with any associated data', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 2_000 }), fc.string({ maxLength: 100 }), (plain, aad) => {
        expect(sealer.open('token-store', sealer.seal('token-store', plain, aad), aad)).toBe(plain)
      }),
      { numRuns: 500 },
    )
  })

  it('any change to a sealed value — a flipped bit, a cut, an extension — makes it not open', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 200 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        fc.constantFrom('flip', 'cut', 'extend'),
        (plain, at, mask, how) => {
          const sealed = Buffer.from(sealer.seal('transaction', plain), 'base64url')
          let changed: Buffer
          if (how === 'flip') {
            changed = Buffer.from(sealed)
            const i = at % changed.length
            changed[i] = changed[i]! ^ mask
          } else if (how === 'cut') {
            changed = sealed.subarray(0, at % sealed.length)
          } else {
            changed = Buffer.concat([sealed, Buffer.from([mask])])
          }
          expect(sealer.open('transaction', changed.toString('base64url'))).toBeUndefined()
        },
      ),
      { numRuns: 2_000 },
    )
  })

  it('arbitrary strings never open and never throw', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 500 }), (junk) => {
        expect(sealer.open('transaction', junk)).toBeUndefined()
      }),
      { numRuns: 2_000 },
    )
  })

  it('a value sealed for one purpose or one user never opens as another', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), (plain, userA, userB) => {
        fc.pre(userA !== userB)
        const sealed = sealer.seal('token-store', plain, userA)
        expect(sealer.open('token-store', sealed, userB)).toBeUndefined()
        expect(sealer.open('swap-handle', sealed, userA)).toBeUndefined()
      }),
      { numRuns: 500 },
    )
  })
})
