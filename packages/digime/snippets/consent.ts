// The full form of the README's first snippet, against the digi.me stand-in of @ongoing/testing in
// place of digi.me: its URLs, its contract's ids and key (in `contract.key`, as the snippet reads
// it) go where the snippet reads them, and its consent driver plays the user. ONGOING_SECRET comes
// from the environment.
// The snippet's imports stand where it has them; imports run first wherever they stand, then the
// statements in order, so the lines above the snippet run before it.
import assert from 'node:assert/strict'
import { rm, writeFile } from 'node:fs/promises'

const { driveDigiMeConsent, startDigiMeServer } = await import('@ongoing/testing')
const standIn = await startDigiMeServer({ redirectUris: ['https://app.example.com/auth/callback'] })
process.env.DIGIME_API_URL = standIn.baseUrl
process.env.DIGIME_CONSENT_URL = standIn.consentUrl
process.env.DIGIME_APPLICATION_ID = standIn.contract.applicationId
process.env.DIGIME_CONTRACT_ID = standIn.contract.contractId
await writeFile('contract.key', standIn.contract.privateKeyPem!, { mode: 0o600 })

import { readFileSync } from 'node:fs'
import { OngoingAccess } from '@ongoing/core'
import { digiMe } from '@ongoing/digime'

// digi.me's API and consent pages (or a test server's: see Testing against a local digi.me).
const api = process.env.DIGIME_API_URL ?? 'https://api.digi.me/v1.7/'
const consentUrl = process.env.DIGIME_CONSENT_URL ?? 'https://api.digi.me/apps/saas/'

const access = new OngoingAccess({
  profile: digiMe({
    applicationId: process.env.DIGIME_APPLICATION_ID!,
    contractId: process.env.DIGIME_CONTRACT_ID!,
    privateKey: readFileSync('contract.key', 'utf8'), // the contract's RSA key, PKCS#1 or PKCS#8 PEM
    baseUrl: api,
    consentUrl,
  }),
  redirectUri: 'https://app.example.com/auth/callback',
  secret: process.env.ONGOING_SECRET!, // ≥ 32 characters: seals the consent, encrypts tokens at rest
})

// 1. Consent: a pushed pre-authorization, then the user goes to digi.me.
const { url, transaction } = await access.startConsent({ userKey: 'user-42' })
// … redirect the browser to `url`; keep `transaction` for the callback (an HttpOnly cookie)
await rm('contract.key')
assert.ok(url.href.startsWith(standIn.consentUrl), url.href)
// The user consents as "bob"; digi.me sends the browser back to the redirect URI.
const fullCallbackUrl = await driveDigiMeConsent(url, { userId: 'bob' })

// 2. The callback: success=true&code=…&state=… (or the user cancelled: ERR_CONSENT_DENIED)
await access.finishConsent({ callbackUrl: fullCallbackUrl, transaction })

// 3. Data, now and any time later: every request carries a fresh JWT signed around the token.
const trigger = await access.fetch('user-42', `${api}permission-access/trigger`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ agent: { sdk: { name: 'my-app', version: '1.0.0' } } }),
})
const { session } = (await trigger.json()) as { session: { key: string } }
const files = await (await access.fetch('user-42', `${api}permission-access/query/${session.key}`)).json()

assert.equal(trigger.status, 202)
const listed = files as { status: { state: string }; fileList: { name: string }[] }
assert.equal(listed.status.state, 'completed')
assert.ok(listed.fileList.length > 0)
const stats = standIn.stats()
assert.deepEqual(stats.tokenCalls, { authorization_code: 1, refresh_token: 0, total: 1 })
assert.deepEqual(stats.dataCalls, { trigger: 1, fileList: 1, file: 0, total: 2 })
assert.equal(stats.duplicateNonces, 0)
access.close()
await standIn.close()
