// The mobile-swap example as its README walks it: the provider and the swap server started as a
// user would (`node server.mjs` on the built packages), the app's PKCE sign-in through the
// provider's pages, then /swap and /refresh, and the reuse of a retired handle.
import { type ChildProcess, spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { driveConsent } from '@ongoing/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const root = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url))
const APP_REDIRECT = 'http://127.0.0.1:7777/callback'

interface Started {
  child: ChildProcess
  output: () => string
}

const children: ChildProcess[] = []

/**
 * Runs `script` with `env` and waits (30 s at most: a start takes under a second alone, but a
 * loaded 2-core CI machine once took over 10 s) for a line matching `ready`.
 */
async function start(script: string, env: Record<string, string>, ready: RegExp) {
  const child = spawn(process.execPath, [root(script)], {
    cwd: root(script.slice(0, script.lastIndexOf('/'))),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  let output = ''
  const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${script} did not print ${ready} in 30 s:\n${output}`)),
      30_000,
    )
    const onData = (chunk: string) => {
      output += chunk
      const found = output.match(ready)
      if (found) {
        clearTimeout(timer)
        resolve(found)
      }
    }
    child.stdout?.setEncoding('utf8').on('data', onData)
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk
    })
    child.once('exit', () => reject(new Error(`${script} exited:\n${output}`)))
  })
  return { child, match, output: () => output } satisfies Started & { match: RegExpMatchArray }
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe('examples/mobile-swap, as its README walks it', () => {
  let issuer: string
  let swapUrl: string
  let provider: Started
  let swapServer: Started

  beforeAll(async () => {
    const started = await start('examples/provider/server.mjs', { PORT: '0' }, /^provider: (\S+)/m)
    provider = started
    issuer = started.match[1] as string
    const port = await freePort()
    swapServer = await start(
      'examples/mobile-swap/server.mjs',
      { PORT: String(port), ISSUER: issuer },
      /^mobile-swap example: /m,
    )
    swapUrl = `http://localhost:${port}`
  }, 90_000)
  afterAll(() => {
    for (const child of children.splice(0)) child.kill('SIGTERM')
  })

  const post = async (route: string, fields: Record<string, string>) => {
    // What `curl -X POST -d name=value …` sends.
    const response = await fetch(`${swapUrl}${route}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: Object.entries(fields)
        .map(([name, value]) => `${name}=${value}`)
        .join('&'),
    })
    return { status: response.status, json: (await response.json()) as Record<string, string> }
  }
  const history = (accessToken: string) =>
    fetch(`${issuer}/api/me/listening-history`, { headers: { authorization: `Bearer ${accessToken}` } })

  it('swap, refresh twice, then a retired handle: invalid_grant, and the grant is gone', async () => {
    // 1. The PKCE pair, as with openssl in the README (base64url, no padding).
    const codeVerifier = randomBytes(48).toString('base64url')
    const codeChallenge = createHash('sha256').update(codeVerifier).digest('base64url')
    // 2. The authorization URL of the README, signed in and approved in the provider's pages.
    const url =
      `${issuer}/auth?response_type=code&client_id=genrefy-mobile` +
      '&redirect_uri=http%3A%2F%2F127.0.0.1%3A7777%2Fcallback&scope=offline_access%20api%3Aread' +
      `&state=xyz&code_challenge=${codeChallenge}&code_challenge_method=S256`
    const callback = await driveConsent(url, { redirectUriPrefix: APP_REDIRECT, login: 'maya' })
    const code = callback.searchParams.get('code') as string

    // 3. curl -X POST -d code=… -d code_verifier=… http://localhost:3004/swap
    const swapped = await post('/swap', { code, code_verifier: codeVerifier })
    expect(swapped.status).toBe(200)
    expect(Object.keys(swapped.json).sort()).toEqual([
      'access_token',
      'expires_in',
      'refresh_token',
      'scope',
      'token_type',
    ])
    expect((await history(swapped.json.access_token as string)).status).toBe(200)

    // 4. curl -X POST -d refresh_token=<handle> http://localhost:3004/refresh, twice.
    const handles = [swapped.json.refresh_token as string]
    let accessToken = ''
    for (let i = 0; i < 2; i++) {
      const refreshed = await post('/refresh', { refresh_token: handles.at(-1) as string })
      expect(refreshed.status).toBe(200)
      expect(handles).not.toContain(refreshed.json.refresh_token)
      handles.push(refreshed.json.refresh_token as string)
      accessToken = refreshed.json.access_token as string
      expect((await history(accessToken)).status).toBe(200)
    }

    // The first handle again: invalid_grant, and the provider revokes the grant.
    expect(await post('/refresh', { refresh_token: handles[0] as string })).toMatchObject({
      status: 400,
      json: { error: 'invalid_grant' },
    })
    expect(await post('/refresh', { refresh_token: handles.at(-1) as string })).toMatchObject({
      status: 400,
      json: { error: 'invalid_grant' },
    })
    expect((await history(accessToken)).status).toBe(401)

    // Route and status in the logs; never a code, token or handle.
    expect(swapServer.output()).toMatch(/POST \/swap → 200\nPOST \/refresh → 200\nPOST \/refresh → 200\n/)
    for (const secret of [code, codeVerifier, accessToken, ...handles]) {
      expect(swapServer.output()).not.toContain(secret)
      expect(provider.output()).not.toContain(secret)
    }
  })
})
