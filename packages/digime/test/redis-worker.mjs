// One app instance in its own process for the digi.me Redis test: an OngoingAccess with the digi.me
// profile on a RedisTokenStore, driven by its parent over IPC. Imports the built packages.
//
// parent → worker: { type: 'init', config } | { type: 'run', calls } | { type: 'exit' }
// worker → parent: { type: 'ready' } | { type: 'result', digests, errors, refreshEvents } | { type: 'failed', message }
//
// Token values never leave the process: results carry a short SHA-256 digest of each value.
import { createHash } from 'node:crypto'
import { OngoingAccess } from '@ongoing/core'
import { digiMe } from '@ongoing/digime'
import { RedisTokenStore } from '@ongoing/redis'

let access
let store
let refreshEvents = 0

const send = (message) => process.send?.(message)
const digest = (value) => createHash('sha256').update(value).digest('base64url').slice(0, 16)

async function init(config) {
  store = new RedisTokenStore({ url: config.redisUrl, keyPrefix: config.keyPrefix })
  access = new OngoingAccess({
    profile: digiMe(config.profile),
    redirectUri: config.redirectUri,
    secret: config.secret,
    store,
    logger: false,
  })
  access.on('refresh', () => {
    refreshEvents++
  })
  await access.ready()
  await store.ready()
  send({ type: 'ready' })
}

async function run({ userKey, calls }) {
  const digests = {}
  const errors = {}
  await Promise.all(
    Array.from({ length: calls }, async () => {
      try {
        const d = digest((await access.getAccessToken(userKey)).value)
        digests[d] = (digests[d] ?? 0) + 1
      } catch (err) {
        const name = err?.code ?? 'uncoded'
        errors[name] = (errors[name] ?? 0) + 1
      }
    }),
  )
  send({ type: 'result', digests, errors, refreshEvents })
}

process.on('message', (message) => {
  switch (message?.type) {
    case 'init':
      init(message.config).catch((err) => send({ type: 'failed', message: String(err?.message ?? err) }))
      break
    case 'run':
      run(message).catch((err) => send({ type: 'failed', message: String(err?.message ?? err) }))
      break
    case 'exit':
      access?.close()
      Promise.resolve(store?.close()).finally(() => process.exit(0))
      break
  }
})
