// What the full forms of the snippets share (the lines around a README's block, never the block):
// written into the fresh project as `snippets/harness.ts`, beside the full forms' folders, so a
// full form imports it as `../harness.js`. Settings come from the environment the test sets.
import assert from 'node:assert/strict'
import { type IncomingMessage, request } from 'node:http'
import { createServer } from 'node:net'
import { basename, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { authorizeAsNativeApp, driveConsent } from '@ongoing/testing'

/** With PORT=0 (as the test runs a full form), a free port in PORT: a redirect URI needs the real one. */
export async function takeFreePort(): Promise<void> {
  if (process.env.PORT !== '0') return
  const probe = createServer().listen(0)
  await new Promise((resolve) => probe.once('listening', resolve))
  process.env.PORT = String((probe.address() as { port: number }).port)
  await new Promise((resolve) => probe.close(resolve))
}

/**
 * Tokens the app held before ongoing: an authorization code grant made by hand (RFC 6749 §4.1,
 * PKCE) at the test server (ISSUER, CLIENT_ID, CLIENT_SECRET), exchanged at its token endpoint.
 */
export async function tokensFromBefore(
  redirectUri = 'http://127.0.0.1:3000/callback',
): Promise<{ access_token: string; refresh_token: string }> {
  const issuer = process.env.ISSUER!
  const { code, codeVerifier } = await authorizeAsNativeApp(issuer, {
    clientId: process.env.CLIENT_ID!,
    redirectUri,
  })
  const response = await fetch(new URL('/token', issuer), {
    method: 'POST',
    headers: {
      authorization: `Basic ${btoa(`${process.env.CLIENT_ID}:${process.env.CLIENT_SECRET}`)}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: redirectUri,
      code_verifier: codeVerifier,
    }),
  })
  assert.equal(response.status, 200)
  return (await response.json()) as { access_token: string; refresh_token: string }
}

/**
 * The README's "Disconnect" example, pressed: a user consents (through the headless consent
 * driver), comes back on /settings and presses the button, a same-origin form post answered 303
 * back to /settings with the user-key cookie cleared; afterwards the grant is gone, and a second
 * click from script is harmless.
 */
export async function pressDisconnect(port: number): Promise<void> {
  const origin = `http://localhost:${port}`
  // The browser: its cookies, sent back on each request.
  const cookies = new Map<string, string>()
  const cookieHeader = () => [...cookies].map(([name, value]) => `${name}=${value}`).join('; ')
  const browse = async (path: string, init: RequestInit = {}) => {
    const response = await fetch(new URL(path, origin), {
      ...init,
      redirect: 'manual',
      headers: { ...(init.headers as Record<string, string>), cookie: cookieHeader() },
    })
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';')
      const at = pair.indexOf('=')
      if (/max-age=0/i.test(line)) cookies.delete(pair.slice(0, at))
      else cookies.set(pair.slice(0, at), pair.slice(at + 1))
    }
    return response
  }

  // Consent, then back on /settings.
  const consent = await browse('/auth/consent?returnTo=/settings')
  assert.equal(consent.status, 302)
  const callbackUrl = await driveConsent(consent.headers.get('location')!, {
    redirectUriPrefix: `${origin}/`,
  })
  const back = await browse(callbackUrl.toString())
  assert.equal(back.status, 303)
  assert.equal(back.headers.get('location'), '/settings')
  const userCookie = cookieHeader()
  const page = await browse('/settings')
  assert.equal(page.status, 200)
  assert.match(await page.text(), /action="\/auth\/disconnect\?returnTo=\/settings"/)
  const refreshed = await browse('/auth/refresh', { method: 'POST', headers: { origin } })
  assert.equal(refreshed.status, 200, 'the grant is there before the button')

  // The button: a same-origin form post (fetch cannot send Sec-Fetch-Mode: navigate, a browser's
  // form does), answered 303 back to /settings; the user-key cookie goes.
  const disconnected = await new Promise<IncomingMessage>((resolve, reject) => {
    const headers = {
      'sec-fetch-site': 'same-origin',
      'sec-fetch-mode': 'navigate',
      origin,
      cookie: userCookie,
    }
    request(`${origin}/auth/disconnect?returnTo=/settings`, { method: 'POST', headers }, resolve)
      .on('error', reject)
      .end()
  })
  assert.equal(disconnected.statusCode, 303)
  assert.equal(disconnected.headers.location, '/settings')
  assert.match(
    String(disconnected.headers['set-cookie']),
    /ongoing\.uid=;.*(max-age=0|expires=thu, 01 jan 1970)/i,
  )
  disconnected.resume()
  cookies.clear()

  // The grant is gone: a refresh for the same user key (its old cookie) needs a new consent.
  const after = await fetch(`${origin}/auth/refresh`, {
    method: 'POST',
    headers: { origin, cookie: userCookie, accept: 'application/json' },
  })
  assert.equal(after.status, 401)
  // From script, a second click is harmless.
  const again = await browse('/auth/disconnect', { method: 'POST', headers: { origin } })
  assert.deepEqual(await again.json(), { disconnected: false, revokedAtServer: false })
}

/**
 * What a native app does with the README's token swap routes under `${base}` (`…/token`): a
 * consent at `server` back on its custom-scheme redirect URI, then POST swap (the answer's shape, no-store) and POST
 * refresh with the handle; a tampered handle is refused with 400 invalid_grant.
 */
export async function swapAndRefresh(
  base: string,
  server: { issuer: string; clientId: string },
): Promise<void> {
  const { code, codeVerifier } = await authorizeAsNativeApp(server.issuer, {
    clientId: server.clientId,
    redirectUri: 'com.example.app:/callback',
  })
  const form = (fields: Record<string, string>) => ({ method: 'POST', body: new URLSearchParams(fields) })
  const swap = await fetch(`${base}/swap`, form({ code, code_verifier: codeVerifier }))
  assert.equal(swap.status, 200)
  assert.equal(swap.headers.get('cache-control'), 'no-store')
  const swapped = (await swap.json()) as Record<string, unknown>
  assert.deepEqual(Object.keys(swapped).sort(), [
    'access_token',
    'expires_in',
    'refresh_token',
    'scope',
    'token_type',
  ])
  assert.equal(swapped.token_type, 'Bearer')
  const handle = String(swapped.refresh_token)

  // Later: the handle buys a new access token; a tampered one is refused without a call to the server.
  const refresh = await fetch(`${base}/refresh`, form({ refresh_token: handle }))
  assert.equal(refresh.status, 200)
  const refreshed = (await refresh.json()) as Record<string, unknown>
  assert.equal(typeof refreshed.access_token, 'string')
  assert.notEqual(refreshed.access_token, swapped.access_token)
  const at = Math.floor(handle.length / 2)
  const tampered = `${handle.slice(0, at)}${handle[at] === 'A' ? 'B' : 'A'}${handle.slice(at + 1)}`
  const refused = await fetch(`${base}/refresh`, form({ refresh_token: tampered }))
  assert.equal(refused.status, 400)
  assert.equal(((await refused.json()) as { error: string }).error, 'invalid_grant')
}

/** A test as Vitest reported it: its full name, its mode (`run`, `skip`…), its state (`pass`…). */
export interface ReportedTest {
  name: string
  mode: string
  state: string | undefined
}

/**
 * Run with node, a full form that registers Vitest tests runs itself under Vitest (as `vitest run`
 * would) and gets what Vitest reported; under Vitest (`VITEST` set) this returns `undefined`.
 */
export async function runUnderVitest(moduleUrl: string): Promise<ReportedTest[] | undefined> {
  if (process.env.VITEST !== undefined) return undefined
  const { startVitest } = await import('vitest/node')
  const file = fileURLToPath(moduleUrl)
  const vitest = await startVitest('test', [], {
    watch: false,
    config: false,
    root: dirname(file),
    include: [basename(file)],
  })
  type Task = { name: string; mode: string; result?: { state?: string }; tasks?: Task[] }
  const reported: ReportedTest[] = []
  const walk = (task: Task, path: string[]) => {
    const names = [...path, task.name]
    if (task.tasks === undefined)
      reported.push({ name: names.join(' > '), mode: task.mode, state: task.result?.state })
    else for (const child of task.tasks) walk(child, names)
  }
  for (const file of vitest.state.getFiles() as unknown as Task[])
    for (const task of file.tasks ?? []) walk(task, [])
  await vitest.close()
  return reported
}
