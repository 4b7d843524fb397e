// One app instance in its own process for the DPoP test: an OngoingAccess with `dpop: true` on a
// RedisTokenStore or a PostgresTokenStore (config.store), driven by its parent over IPC. Imports
// the built packages (run `pnpm build`).
//
// parent → worker: { type: 'init', config: { store, options } } | { type: 'call', userKey, url } | { type: 'exit' }
// worker → parent: { type: 'ready' } | { type: 'called', status, tokenType, refreshed, digest } | { type: 'failed', message }
//
// config.store: { kind: 'redis', url, keyPrefix } | { kind: 'postgres', url, table } (the parent
// has created the table: migrate() runs once, before the workers start).
//
// Token values never leave the process: results carry a short SHA-256 digest.
import { createHash } from 'node:crypto'
import { OngoingAccess } from '@ongoing/core'

let access
let store
const send = (message) => process.send?.(message)
const digest = (value) => createHash('sha256').update(value).digest('base64url').slice(0, 16)

async function openStore(config) {
  if (config.kind === 'redis') {
    const { RedisTokenStore } = await import('@ongoing/redis')
    return new RedisTokenStore({ url: config.url, keyPrefix: config.keyPrefix })
  }
  if (config.kind === 'postgres') {
    const { PostgresTokenStore } = await import('@ongoing/postgres')
    return new PostgresTokenStore({ connectionString: config.url, table: config.table })
  }
  throw new Error(`unknown store kind: ${config.kind}`)
}

async function init(config) {
  store = await openStore(config.store)
  access = new OngoingAccess({ ...config.options, store })
  await access.metadata()
  await store.ready()
  send({ type: 'ready' })
}

async function call({ userKey, url }) {
  const token = await access.getAccessToken(userKey)
  const response = await access.fetch(userKey, url)
  await response.body?.cancel()
  send({
    type: 'called',
    status: response.status,
    tokenType: token.tokenType,
    refreshed: token.refreshed,
    digest: digest(token.value),
  })
}

process.on('message', (message) => {
  const fail = (err) => send({ type: 'failed', message: String(err?.code ?? err?.message ?? err) })
  switch (message?.type) {
    case 'init':
      init(message.config).catch(fail)
      break
    case 'call':
      call(message).catch(fail)
      break
    case 'exit':
      access?.close()
      Promise.resolve(store?.close()).finally(() => process.exit(0))
      break
  }
})
