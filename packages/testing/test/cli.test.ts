import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { importJWK, SignJWT } from 'jose'
import { afterEach, expect, it } from 'vitest'
import { builtPackagesProblem } from '../../../test/built-packages.js'
import { describeRequiring } from '../src/requirement.js'

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url))

function start(args: string[]): ChildProcess {
  return spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
}

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve)
    child.once('exit', (code) => reject(new Error(`exited with ${code}`)))
  })
}

function exitCode(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) {
      resolve(child.exitCode)
    } else {
      child.once('exit', resolve)
    }
  })
}

interface Printed {
  issuer: string
  clients: {
    confidential: { id: string; secret?: string }
    privateKeyJwt: { id: string; algorithms: string[]; keysFile?: string }
    public: object
  }
}

/** The token endpoint's `error` for a refresh with a made-up refresh token, authenticated with `secret`. */
async function refreshWithSecret(printed: Printed, secret: string): Promise<string> {
  const { id } = printed.clients.confidential
  const response = await fetch(new URL('/token', printed.issuer), {
    method: 'POST',
    headers: {
      authorization: `Basic ${btoa(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`)}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'not-a-refresh-token' }),
  })
  return ((await response.json()) as { error: string }).error
}

/** No member of a private JWK (`d`, `p`, `q`, `dp`, `dq`, `qi`) and no PEM in `text`. */
function expectNoPrivateKey(text: string): void {
  expect(text).not.toMatch(/"(d|p|q|dp|dq|qi)":/)
  expect(text).not.toContain('PRIVATE KEY')
}

// Runs the built command (`pnpm build` first); the root `pnpm test` builds before testing.
const problem = builtPackagesProblem(['testing'], 'cli.js')
describeRequiring('ongoing-test-as command', problem, () => {
  let running: ChildProcess | undefined
  afterEach(() => {
    running?.kill('SIGKILL')
  })

  it('prints { issuer, clients } as one JSON line, serves stats, and stops on SIGTERM', async () => {
    const child = start(['--access-ttl', '5', '--refresh-ttl', '3600', '--port', '0'])
    running = child
    const line = await firstLine(child)
    const printed = JSON.parse(line) as Printed
    expect(Object.keys(printed).sort()).toEqual(['clients', 'issuer'])
    expect(printed.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    // The made-up secret is the only way to learn it: printed, and the server takes it.
    expect(printed.clients.confidential.secret).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(await refreshWithSecret(printed, printed.clients.confidential.secret!)).toBe('invalid_grant')
    // No private key: ids and algorithms only.
    expect(printed.clients.privateKeyJwt).toEqual({
      id: expect.any(String),
      algorithms: ['RS256', 'PS256', 'PS512', 'ES256', 'EdDSA'],
    })
    expectNoPrivateKey(line)

    const stats = await fetch(new URL('/__ongoing/stats', printed.issuer))
    expect(await stats.json()).toMatchObject({ tokenCalls: { refresh_token: 1, total: 1 } }) // the refresh above

    child.kill('SIGTERM')
    expect(await exitCode(child)).toBe(0)
  })

  it("--client-secret fixes the confidential client's secret, and the command does not echo it", async () => {
    const secret = 'fixed secret: with spaces & symbols'
    const child = start(['--port', '0', '--client-secret', secret])
    running = child
    const line = await firstLine(child)
    const printed = JSON.parse(line) as Printed
    expect(printed.clients.confidential).toEqual({ id: expect.any(String) })
    expect(line).not.toContain('fixed secret')
    expect(await refreshWithSecret(printed, secret)).toBe('invalid_grant') // authenticated
    expect(await refreshWithSecret(printed, 'another secret')).toBe('invalid_client')
  })

  it('--keys-file writes the private_key_jwt keys to a file only the user can read; the server takes them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ongoing-test-as-'))
    try {
      const keysFile = join(dir, 'keys.json')
      const child = start(['--port', '0', '--keys-file', keysFile])
      running = child
      const line = await firstLine(child)
      const printed = JSON.parse(line) as Printed
      expect(printed.clients.privateKeyJwt.keysFile).toBe(keysFile)
      expectNoPrivateKey(line)
      expect(statSync(keysFile).mode & 0o777).toBe(0o600)
      const keys = JSON.parse(readFileSync(keysFile, 'utf8')) as Record<string, JsonWebKey & { kid: string }>
      expect(Object.keys(keys)).toEqual(['RS256', 'PS256', 'PS512', 'ES256', 'EdDSA'])
      expect(keys.ES256!.d).toEqual(expect.any(String))

      const tokenUrl = new URL('/token', printed.issuer).href
      const clientId = printed.clients.privateKeyJwt.id
      const assertion = await new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid: keys.ES256!.kid })
        .setIssuer(clientId)
        .setSubject(clientId)
        .setAudience(printed.issuer)
        .setJti(crypto.randomUUID())
        .setIssuedAt()
        .setExpirationTime('1m')
        .sign(await importJWK(keys.ES256!, 'ES256'))
      const response = await fetch(tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: 'not-a-refresh-token',
          client_id: clientId,
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: assertion,
        }),
      })
      expect(((await response.json()) as { error: string }).error).toBe('invalid_grant') // authenticated
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('exits with status 2 on an empty --client-secret', async () => {
    const child = start(['--client-secret', ''])
    running = child
    expect(await exitCode(child)).toBe(2)
  })

  it('exits with status 2 on a bad option', async () => {
    const child = start(['--access-ttl', 'soon'])
    running = child
    expect(await exitCode(child)).toBe(2)
  })
})
