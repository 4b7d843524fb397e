// The full form of the README's snippet that imports tokens an app already holds: a token pair got
// from the digi.me stand-in of @ongoing/testing the way a digi.me SDK gets it (signed calls, PKCE,
// the consent driver in the user's place), imported, then used and refreshed by ongoing.
// ONGOING_SECRET comes from the environment.
import assert from 'node:assert/strict'
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { OngoingAccess } from '@ongoing/core'
import { digiMe } from '@ongoing/digime'
import { driveDigiMeConsent, startDigiMeServer } from '@ongoing/testing'
import { decodeJwt, importPKCS8, SignJWT } from 'jose'

const standIn = await startDigiMeServer()
const access = new OngoingAccess({
  profile: digiMe({
    applicationId: standIn.contract.applicationId,
    contractId: standIn.contract.contractId,
    privateKey: standIn.contract.privateKeyPem!,
    baseUrl: standIn.baseUrl,
    consentUrl: standIn.consentUrl,
  }),
  redirectUri: 'http://127.0.0.1:3000/auth/callback',
  secret: process.env.ONGOING_SECRET!,
})

// The tokens the app holds, got as the SDK got them.
const held = await tokensFromAnSdk()
const accessToken = held.access_token.value
const refreshToken = held.refresh_token.value
const accessTokenExpiresOn = held.access_token.expires_on
const refreshTokenExpiresOn = held.refresh_token.expires_on

await access.restore('user-42', {
  accessToken,
  refreshToken,
  expiresAt: accessTokenExpiresOn * 1000, // digi.me's expires_on is Unix seconds; these are ms
  refreshExpiresAt: refreshTokenExpiresOn * 1000,
})

const trigger = () =>
  access.fetch('user-42', `${standIn.baseUrl}permission-access/trigger`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ agent: { sdk: { name: 'my-app', version: '1.0.0' } } }),
  })
// The imported access token is used as it is; once it expires, ongoing refreshes the grant.
assert.equal((await trigger()).status, 202)
assert.equal(standIn.stats().tokenCalls.refresh_token, 0)
standIn.expireAccessTokens()
assert.equal((await trigger()).status, 202)
assert.equal(standIn.stats().tokenCalls.refresh_token, 1)
const info = await access.inspect('user-42')
assert.equal(info?.status, 'active')
assert.equal(info?.refreshExpiresAt, refreshTokenExpiresOn * 1000)
access.close()
await standIn.close()

/** A consent and a code exchange made as a digi.me SDK makes them, without ongoing. */
async function tokensFromAnSdk() {
  const key = await importPKCS8(standIn.contract.privateKeyPem!, 'PS512')
  const call = async (path: string, claims: Record<string, unknown>, body?: unknown) => {
    const jwt = await new SignJWT({
      client_id: standIn.contract.clientId,
      nonce: randomUUID(),
      timestamp: Date.now(),
      ...claims,
    })
      .setProtectedHeader({ alg: 'PS512', typ: 'JWT' })
      .sign(key)
    const response = await fetch(new URL(path, standIn.baseUrl), {
      method: 'POST',
      headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    return (await response.json()) as { token: string }
  }
  const codeVerifier = randomBytes(32).toString('base64url')
  const preAuthorization = await call(
    'oauth/authorize',
    {
      code_challenge: createHash('sha256').update(codeVerifier).digest('base64url'),
      code_challenge_method: 'S256',
      redirect_uri: 'http://127.0.0.1:3000/callback',
      response_mode: 'query',
      response_type: 'code',
      state: randomBytes(16).toString('base64url'),
    },
    { agent: { sdk: { name: 'my-app', version: '1.0.0' } }, actions: { pull: {} } },
  )
  const { preauthorization_code } = decodeJwt(preAuthorization.token)
  const consentUrl = new URL(`authorize?code=${preauthorization_code}&sourceType=pull`, standIn.consentUrl)
  const callback = await driveDigiMeConsent(consentUrl, { userId: 'bob' })
  const { token } = await call('oauth/token', {
    grant_type: 'authorization_code',
    code: callback.searchParams.get('code'),
    code_verifier: codeVerifier,
  })
  type Token = { value: string; expires_on: number }
  return decodeJwt(token) as unknown as { access_token: Token; refresh_token: Token }
}
