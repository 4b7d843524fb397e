// One app instance in its own process for the DPoP test: an OngoingAccess with `dpop: true` on a
// RedisTokenStore, driven by its parent over IPC. Imports the built packages (run `pnpm build`).
//
// parent → worker: { type: 'init', config } | { type: 'call', userKey, url } | { type: 'exit' }
// worker → parent: { type: 'ready' } | { type: 'called', status, tokenType, refreshed, digest } | { type: 'failed', message }
//
// Token values never leave the process: results carry a short SHA-256 digest.
import { createHash } from 'node:crypto'
import { OngoingAccess } from '@ongoing/core'
import { RedisTokenStore } from '@ongoing/redis'

let access
let store
const send = (message) => process.send?.(message)
const digest = (value) => createHash('sha256').update(value).digest('base64url').slice(0, 16)

async function init(config) {
  store = new RedisTokenStore({ url: config.url, keyPrefix: config.keyPrefix })
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
