import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
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
    const printed = JSON.parse(await firstLine(child)) as {
      issuer: string
      clients: {
        confidential: { id: string; secret: string }
        privateKeyJwt: { keys: object }
        public: object
      }
    }
    expect(Object.keys(printed).sort()).toEqual(['clients', 'issuer'])
    expect(printed.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(printed.clients.confidential.secret).toEqual(expect.any(String))
    expect(Object.keys(printed.clients.privateKeyJwt.keys).sort()).toEqual([
      'ES256',
      'EdDSA',
      'PS256',
      'PS512',
      'RS256',
    ])

    const stats = await fetch(new URL('/__ongoing/stats', printed.issuer))
    expect(await stats.json()).toMatchObject({ tokenCalls: { total: 0 } })

    child.kill('SIGTERM')
    expect(await exitCode(child)).toBe(0)
  })

  it('exits with status 2 on a bad option', async () => {
    const child = start(['--access-ttl', 'soon'])
    running = child
    expect(await exitCode(child)).toBe(2)
  })
})
