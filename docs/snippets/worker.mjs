// The full form of the guide's worker (ISSUER, CLIENT_ID, CLIENT_SECRET, ONGOING_SECRET, REDIS_URL
// and API_URL from the environment): two users consent first (the headless consent driver of
// @ongoing/testing in their place), then the worker runs one import and is stopped with SIGTERM.
import assert from 'node:assert/strict'
import { driveConsent } from '@ongoing/testing'
// worker.mjs
import { access, store } from './access.mjs'

async function importHistories() {
  let read = 0
  for await (const { userKey } of access.grants({ status: ['active', 'failing'] })) {
    try {
      // A fresh token, refreshed if it is about to expire; one retry after a 401.
      const response = await access.fetch(userKey, `${process.env.API_URL}/me/history`)
      if (response.ok) {
        await saveHistory(userKey, await response.json())
        read++
      }
    } catch (err) {
      // ERR_CONSENT_REQUIRED: the grant just died (see 4). Anything else: a code, never a token.
      console.warn(`import for one user failed: ${err.code ?? err.message}`)
    }
  }
  return read
}

// What the import saved, and the users who consented in the web app.
const saved = new Map()
async function saveHistory(userKey, history) {
  saved.set(userKey, history)
}
for (const userKey of ['user-1', 'user-2']) {
  const { url, transaction } = await access.startConsent({ userKey })
  const callbackUrl = await driveConsent(url, { redirectUriPrefix: 'http://localhost:3000/auth/callback' })
  await access.finishConsent({ callbackUrl, transaction })
}
// worker.mjs (continued)
const everyMs = 10 * 60_000
let stopping = false

// Refresh ahead of need, so the import (and the web app's requests) never wait for a token call.
const keeper = access.keepFresh({ intervalSeconds: 60 })

async function loop() {
  while (!stopping) {
    const started = Date.now()
    const read = await importHistories().catch((err) => {
      console.warn(`import run failed: ${err.code ?? err.message}`) // the store is down: next run
      return 0
    })
    console.log(`imported ${read} histories`)
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, everyMs - (Date.now() - started))))
  }
}

process.once('SIGTERM', async () => {
  stopping = true
  await keeper.stop() // waits for the refreshes under way
  access.close()
  await store.close()
  process.exit(0)
})

loop()

// The first run is done when both histories are saved; then the deployment stops the worker.
const deadline = Date.now() + 10_000
while (!(saved.has('user-1') && saved.has('user-2'))) {
  assert.ok(Date.now() < deadline, 'the first run saved both histories')
  await new Promise((resolve) => setTimeout(resolve, 20))
}
assert.deepEqual(saved.get('user-1'), { plays: [{ title: 'Blue' }] })
process.kill(process.pid, 'SIGTERM')
