// A worker that shares the web app's store but not its configuration (another `secret`, another
// `encryptTokens`, the issuer spelled with or without a trailing slash) finds records it cannot
// use. It must say so, as reason `unreadable` with a `warning` that names the cause and reaches the
// console by default, not as `no_grant`, which looks like a user who never consented; and it must
// leave the record alone, so the web app keeps its token.
import {
  ConsentRequiredError,
  type LogLevel,
  MemoryTokenStore,
  type OngoingAccess,
  type OngoingAccessEvents,
  type TokenStoreEntry,
  type TokenStoreSetOptions,
} from '@ongoing/core'
import { startTestAuthorizationServer, type TestAuthorizationServer } from '@ongoing/testing'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { APP_SECRET, accessFor, advanceClock, consentAs, recordTokenTraffic } from './real-as.js'

type Warning = OngoingAccessEvents['warning'][0]
type Reason = OngoingAccessEvents['consentRequired'][0]['reason']

const OTHER_SECRET = 'another-secret-another-secret-another-secret'

interface LogLine {
  level: LogLevel
  message: string
  fields: Record<string, unknown>
}

/** A MemoryTokenStore that counts its reads and remembers the keys written. */
class ObservedStore extends MemoryTokenStore {
  reads = 0
  readonly written: string[] = []
  override async get(key: string): Promise<TokenStoreEntry | undefined> {
    this.reads++
    return super.get(key)
  }
  override async set(key: string, value: string, options: TokenStoreSetOptions): Promise<number | undefined> {
    const version = await super.set(key, value, options)
    if (version !== undefined && !this.written.includes(key)) this.written.push(key)
    return version
  }
}

/** What an instance reports: `warning` and `consentRequired` events, and its log lines. */
function observe(access: OngoingAccess, logs?: LogLine[]) {
  const warnings: Warning[] = []
  const reasons: Reason[] = []
  access.on('warning', (warning) => {
    warnings.push(warning)
  })
  access.on('consentRequired', ({ reason }) => {
    reasons.push(reason)
  })
  return { warnings, reasons, logs: logs ?? [] }
}

function recordingLogger(logs: LogLine[]) {
  return (level: LogLevel, message: string, fields: Record<string, unknown>) => {
    logs.push({ level, message, fields })
  }
}

async function consentRequiredOf(promise: Promise<unknown>): Promise<ConsentRequiredError> {
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err,
  )
  expect(error).toBeInstanceOf(ConsentRequiredError)
  return error as ConsentRequiredError
}

describe('regression: a grant stored by a differently configured process is `unreadable`, with a warning, not `no_grant`', () => {
  let as: TestAuthorizationServer
  const opened: OngoingAccess[] = []
  const open = (access: OngoingAccess) => {
    opened.push(access)
    return access
  }

  beforeAll(async () => {
    as = await startTestAuthorizationServer({ accessTokenTTLSeconds: 3_600 })
  })
  afterEach(() => {
    for (const access of opened.splice(0)) access.close()
    vi.restoreAllMocks()
  })
  afterAll(async () => {
    await as?.close()
  })

  /** Everything that must never appear in an error, a warning or a log line. */
  function secretsOf(...values: (string | undefined)[]): string[] {
    return [APP_SECRET, OTHER_SECRET, as.clients.confidential.secret, ...values].filter(
      (value): value is string => value !== undefined && value !== '',
    )
  }

  function expectNoSecrets(said: unknown, secrets: string[]) {
    const text = JSON.stringify(said, (_key, value: unknown) =>
      value instanceof Error ? { message: value.message, name: value.name } : value,
    )
    for (const secret of secrets) expect(text).not.toContain(secret)
  }

  it('a worker with another `secret`: reason unreadable, a warning event, a console warning by default; the record is untouched and the web app keeps its token', async () => {
    const store = new ObservedStore()
    const traffic = recordTokenTraffic(as)
    const webApp = open(accessFor(as, { store, logger: false, fetch: traffic.fetch }))
    const { token } = await consentAs(webApp, 'ada')
    const [key] = store.written
    const before = await store.get(key!)

    const consoleWarn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const consoleError = vi.spyOn(console, 'error').mockImplementation(() => {})
    // No `logger` option: the default one.
    const worker = open(accessFor(as, { store, secret: OTHER_SECRET }))
    const seen = observe(worker)
    as.resetStats()

    const error = await consentRequiredOf(worker.getAccessToken('ada'))
    expect(error).toMatchObject({ code: 'ERR_CONSENT_REQUIRED', reason: 'unreadable', userKey: 'ada' })
    expect(error.message).toBe(
      'Consent required: a grant is stored for this user but does not open here (written with another `secret`, `encryptTokens` setting or issuer spelling, or altered)',
    )
    expect(seen.reasons).toEqual(['unreadable'])
    expect(seen.warnings).toEqual([
      {
        userKey: 'ada',
        code: 'grant_unreadable',
        message: expect.stringContaining('`secret: [new, old]`'),
      },
    ])
    expect(seen.warnings[0]?.message).toContain('`encryptTokens`')
    expect(consoleWarn).toHaveBeenCalledTimes(1)
    const [logged, fields] = consoleWarn.mock.calls[0]!
    expect(logged).toBe(`ongoing: ${seen.warnings[0]?.message}`)
    expect(fields).toEqual({ userKey: 'ada', code: 'grant_unreadable' })
    expect(consoleError).not.toHaveBeenCalled()
    expect(as.stats().tokenCalls.total).toBe(0)

    // Untouched: the same value and version, and the web app (a fresh instance too) gets its token.
    expect(await store.get(key!)).toEqual(before)
    expect((await webApp.getAccessToken('ada')).value).toBe(token.value)
    const restarted = open(accessFor(as, { store, logger: false }))
    expect(await restarted.getAccessToken('ada')).toMatchObject({ value: token.value, refreshed: false })

    expect(traffic.refreshTokensReceived).toHaveLength(1)
    expectNoSecrets(
      [error, error.message, seen.warnings, consoleWarn.mock.calls],
      secretsOf(token.value, ...traffic.refreshTokensReceived),
    )
  })

  it('`encryptTokens` set differently, either way round: unreadable, with the same warning', async () => {
    for (const [writer, reader] of [
      [{ encryptTokens: false }, {}],
      [{}, { encryptTokens: false }],
    ] as const) {
      const store = new MemoryTokenStore()
      const webApp = open(accessFor(as, { store, logger: false, ...writer }))
      const { token } = await consentAs(webApp, 'bea')
      const logs: LogLine[] = []
      const worker = open(accessFor(as, { store, logger: recordingLogger(logs), ...reader }))
      const seen = observe(worker, logs)

      const error = await consentRequiredOf(worker.getAccessToken('bea'))
      expect(error.reason).toBe('unreadable')
      expect(seen.warnings.map((w) => w.code)).toEqual(['grant_unreadable'])
      expect(logs.filter((line) => line.level === 'warn')).toHaveLength(1)
      expect((await webApp.getAccessToken('bea')).value).toBe(token.value)
      expectNoSecrets([error, seen.warnings, logs], secretsOf(token.value))
    }
  })

  it('a worker configured with the issuer plus a trailing slash: unreadable, and the warning names both spellings', async () => {
    const store = new MemoryTokenStore()
    const webApp = open(accessFor(as, { store, logger: false }))
    const { token } = await consentAs(webApp, 'cai')
    const logs: LogLine[] = []
    const worker = open(accessFor(as, { store, issuer: `${as.issuer}/`, logger: recordingLogger(logs) }))
    const seen = observe(worker, logs)

    const error = await consentRequiredOf(worker.getAccessToken('cai'))
    expect(error).toMatchObject({ code: 'ERR_CONSENT_REQUIRED', reason: 'unreadable' })
    expect(seen.warnings).toEqual([
      {
        userKey: 'cai',
        code: 'grant_under_other_issuer',
        message: `a grant for this user is stored under issuer "${as.issuer}" but this process is configured with "${as.issuer}/": configure the same issuer string everywhere (it must match the \`issuer\` of the server's metadata exactly); the record is left as it is`,
      },
    ])
    const warned = logs.filter((line) => line.level === 'warn')
    expect(warned).toEqual([
      {
        level: 'warn',
        message: `ongoing: ${seen.warnings[0]?.message}`,
        fields: { userKey: 'cai', code: 'grant_under_other_issuer' },
      },
    ])
    expect((await webApp.getAccessToken('cai')).value).toBe(token.value)
    expectNoSecrets([error, seen.warnings, logs], secretsOf(token.value))
  })

  it('the reverse: a grant stored under the issuer with a trailing slash, read by a worker without it', async () => {
    // The server's issuer has no slash, so an instance configured with one cannot finish a consent
    // here: it stores the tokens of a real consent with `restore`, as a migration would.
    const { token } = await consentAs(open(accessFor(as, { logger: false })), 'dan')
    const store = new MemoryTokenStore()
    const slashed = { store, issuer: `${as.issuer}/`, logger: false } as const
    await open(accessFor(as, slashed)).restore('dan', {
      accessToken: token.value,
      expiresAt: token.expiresAt,
    })
    const logs: LogLine[] = []
    const worker = open(accessFor(as, { store, logger: recordingLogger(logs) }))
    const seen = observe(worker, logs)

    const error = await consentRequiredOf(worker.getAccessToken('dan'))
    expect(error.reason).toBe('unreadable')
    expect(seen.warnings).toEqual([
      {
        userKey: 'dan',
        code: 'grant_under_other_issuer',
        message: expect.stringContaining(
          `stored under issuer "${as.issuer}/" but this process is configured with "${as.issuer}"`,
        ),
      },
    ])
    expect(logs.filter((line) => line.level === 'warn')).toHaveLength(1)
    // Read with the spelling it was stored under, it is there.
    expect((await open(accessFor(as, slashed)).getAccessToken('dan')).value).toBe(token.value)
    expectNoSecrets([error, seen.warnings, logs], secretsOf(token.value))
  })

  it('no grant anywhere is still no_grant, without a warning: by default nothing reaches the console', async () => {
    const store = new MemoryTokenStore()
    const webApp = open(accessFor(as, { store, logger: false }))
    await consentAs(webApp, 'eve')
    const consoleWarn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    for (const issuer of [as.issuer, `${as.issuer}/`]) {
      const worker = open(accessFor(as, { store, issuer }))
      const seen = observe(worker)
      const error = await consentRequiredOf(worker.getAccessToken('nobody'))
      expect(error.reason).toBe('no_grant')
      expect(seen.reasons).toEqual(['no_grant'])
      expect(seen.warnings).toEqual([])
    }
    expect(consoleWarn).not.toHaveBeenCalled()
  })

  it('a missing grant costs one extra store read (the other spelling); a fresh cached token none', async () => {
    const store = new ObservedStore()
    const webApp = open(accessFor(as, { store, logger: false }))
    await consentAs(webApp, 'fay')

    store.reads = 0
    await consentRequiredOf(webApp.getAccessToken('nobody'))
    expect(store.reads).toBe(2)

    store.reads = 0
    for (let i = 0; i < 100; i++) await webApp.getAccessToken('fay')
    expect(webApp.getCachedAccessToken('fay')).toBeDefined()
    expect(store.reads).toBe(0)
  })

  it('key rotation: a worker with `secret: [new, old]` reads what the old secret sealed, without a warning', async () => {
    const store = new MemoryTokenStore()
    const webApp = open(accessFor(as, { store, logger: false }))
    const { token } = await consentAs(webApp, 'gus')
    const logs: LogLine[] = []
    const worker = open(
      accessFor(as, { store, secret: [OTHER_SECRET, APP_SECRET], logger: recordingLogger(logs) }),
    )
    const seen = observe(worker, logs)

    expect(await worker.getAccessToken('gus')).toMatchObject({ value: token.value, refreshed: false })
    expect(seen.warnings).toEqual([])
    expect(seen.reasons).toEqual([])
    expect(logs.filter((line) => line.level === 'warn')).toEqual([])
  })

  it('log flood: 100 unreadable grants give 100 warning events and one log line a minute per cause, which says how many it held back', async () => {
    const store = new MemoryTokenStore()
    // One real consent; its tokens stored for 100 users, as a web app with many users would have them.
    const { token } = await consentAs(open(accessFor(as, { logger: false })), 'source')
    const webApp = open(accessFor(as, { store, logger: false }))
    const users = Array.from({ length: 100 }, (_, i) => `user-${i}`)
    for (const user of users) {
      await webApp.restore(user, { accessToken: token.value, expiresAt: token.expiresAt })
    }
    const consoleWarn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const worker = open(accessFor(as, { store, secret: OTHER_SECRET }))
    const seen = observe(worker)

    for (const user of users) {
      expect((await consentRequiredOf(worker.getAccessToken(user))).reason).toBe('unreadable')
    }
    expect(seen.warnings).toHaveLength(100)
    expect(seen.warnings.map((w) => w.userKey)).toEqual(users)
    expect(new Set(seen.warnings.map((w) => w.code))).toEqual(new Set(['grant_unreadable']))
    expect(consoleWarn).toHaveBeenCalledTimes(1)
    expect(consoleWarn.mock.calls[0]?.[1]).toEqual({ userKey: 'user-0', code: 'grant_unreadable' })

    // Another cause has its own minute: a grant stored under the other issuer spelling.
    await open(accessFor(as, { store, issuer: `${as.issuer}/`, logger: false })).restore('slashed', {
      accessToken: token.value,
      expiresAt: token.expiresAt,
    })
    const slashedWorker = open(accessFor(as, { store }))
    await consentRequiredOf(slashedWorker.getAccessToken('slashed'))
    await consentRequiredOf(slashedWorker.getAccessToken('slashed'))
    expect(consoleWarn).toHaveBeenCalledTimes(2)
    expect(consoleWarn.mock.calls[1]?.[1]).toEqual({ userKey: 'slashed', code: 'grant_under_other_issuer' })

    // A minute later, the next one is logged, with the count of those held back.
    const restoreClock = advanceClock(61_000)
    try {
      await consentRequiredOf(worker.getAccessToken('user-0'))
    } finally {
      restoreClock()
    }
    expect(seen.warnings).toHaveLength(101)
    expect(consoleWarn).toHaveBeenCalledTimes(3)
    const [message, fields] = consoleWarn.mock.calls[2]!
    expect(fields).toEqual({ userKey: 'user-0', code: 'grant_unreadable', suppressed: 99 })
    expect(message).toContain('(99 more like it since the last such line were not logged')
    expectNoSecrets([seen.warnings, consoleWarn.mock.calls], secretsOf(token.value))
  })
})
