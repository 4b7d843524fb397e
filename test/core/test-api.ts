import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

/** What the test API answers a rejected token with, by the first segment of the path. */
const CHALLENGES: Record<string, string | undefined> = {
  none: undefined,
  basic: 'Basic realm=x',
  'bearer-realm': 'Bearer realm="api"',
  'insufficient-scope': 'Bearer error="insufficient_scope", scope="api:write"',
  'quoted-error': 'Bearer error_description="try error=insufficient_scope", error="invalid_token"',
}
const INVALID_TOKEN = 'Bearer error="invalid_token"'

/**
 * A resource server on loopback for `access.fetch` tests. It answers 401 to the tokens in
 * `rejected`, and to every token on `/always-401` and `/always/<kind>`, with the challenge the path
 * names (`/none`, `/basic`, … see `CHALLENGES`; any other path: `Bearer error="invalid_token"`), and
 * 200 `{ ok, body }` otherwise. It records the path and token of every call.
 */
export async function startTestAPI() {
  const rejected = new Set<string>()
  const calls: { path: string; token: string }[] = []
  const server = createServer((req, res) => {
    const path = req.url ?? ''
    const token = req.headers.authorization?.replace(/^Bearer /, '') ?? ''
    calls.push({ path, token })
    const [, first = '', second = ''] = path.split('/')
    const always = first === 'always' || first === 'always-401'
    if (always || rejected.has(token)) {
      const kind = first === 'always' ? second : first
      const challenge = kind in CHALLENGES ? CHALLENGES[kind] : INVALID_TOKEN
      res.writeHead(401, challenge === undefined ? {} : { 'www-authenticate': challenge }).end()
      return
    }
    let body = ''
    req.on('data', (chunk) => (body += chunk))
    req.on('end', () =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, body })),
    )
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    rejected,
    calls,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
