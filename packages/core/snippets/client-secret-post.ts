// The full form of the `client_secret_post` snippet of the README: the client sends its secret in
// the form body, the consent and the API call go through. test/snippets runs it against a local
// authorization server (ISSUER, CLIENT_ID, CLIENT_SECRET, ONGOING_SECRET and API_URL from the
// environment), whose confidential client takes either method.
import assert from 'node:assert/strict'
import { OngoingAccess, type OngoingAccessOptions } from '@ongoing/core'
import { driveConsent } from '@ongoing/testing'

// What reached the token endpoint: the secret in the body, no Authorization header.
const tokenRequests: { authorization: boolean; secretInBody: boolean }[] = []
const options: OngoingAccessOptions = {
  fetch: async (input, init) => {
    if (String(input).endsWith('/token')) {
      const body = new URLSearchParams(String(init?.body))
      const authorization = new Headers(init?.headers).has('authorization')
      tokenRequests.push({
        authorization,
        secretInBody: body.get('client_secret') === process.env.CLIENT_SECRET,
      })
    }
    return fetch(input, init)
  },
  issuer: process.env.ISSUER!,
  client: { id: process.env.CLIENT_ID!, secret: process.env.CLIENT_SECRET! },
  redirectUri: 'http://localhost:3000/auth/callback',
  scope: 'offline_access api:read',
  secret: process.env.ONGOING_SECRET!,
}

const access = new OngoingAccess({
  ...options,
  client: {
    id: process.env.CLIENT_ID!,
    secret: process.env.CLIENT_SECRET!,
    authMethod: 'client_secret_post',
  },
})

await access.ready() // the server lists client_secret_post
const { url, transaction } = await access.startConsent({ userKey: 'user-42' })
const callbackUrl = await driveConsent(url, { redirectUriPrefix: 'http://localhost:3000/auth/callback' })
await access.finishConsent({ callbackUrl, transaction })
const res = await access.fetch('user-42', `${process.env.API_URL}/me/history`)
assert.equal(res.status, 200)
assert.deepEqual(tokenRequests, [{ authorization: false, secretInBody: true }])
access.close()
