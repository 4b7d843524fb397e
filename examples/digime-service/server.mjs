// A local stand-in for digi.me, for the "Genrefy on digi.me" example: not digi.me, but the test
// server of @ongoing/testing (startDigiMeServer, built from the protocol description) with a
// consent page a person can use. For development only: anyone consents as any name, and
// everything lives in memory.
//
//   node server.mjs     PORT=4001  API_PORT=4002  ACCESS_TOKEN_TTL=30  REFRESH_TOKEN_TTL=86400
//
// PORT serves this page, the consent web client (/apps/saas/), the counters (/__stats) and
// POST /__revoke-grants?userId=<name> (the user withdraws their consent: every grant of theirs
// revoked); API_PORT the digi.me API (/v1.7/), whose signed answers name its own key set URL.
// DIGIME_APP_URL (default http://localhost:3005) is where the app runs: its /auth/callback is
// registered. The contract (ids and the demo key the app signs with) is written to
// DIGIME_CONTRACT_FILE (default contract.local.json here), and reused when the service restarts.
import { chmodSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { fileURLToPath } from 'node:url'
import { generateDigiMeContractKey, startDigiMeServer } from '@ongoing/testing'

const env = process.env
const port = Number(env.PORT ?? 4001)
const apiPort = Number(env.API_PORT ?? 4002)
const accessTokenTTL = Number(env.ACCESS_TOKEN_TTL ?? 30) // short, so refreshes show within a minute
const refreshTokenTTL = Number(env.REFRESH_TOKEN_TTL ?? 24 * 3600)
const appUrl = env.DIGIME_APP_URL ?? 'http://localhost:3005'
const contractFile =
  env.DIGIME_CONTRACT_FILE ?? fileURLToPath(new URL('contract.local.json', import.meta.url))

// The contract: digi.me gives a developer an application id, a contract id and the contract's
// private key. Here the key is made on this machine, once, and kept in the contract file.
const previous = readContract(contractFile)
const contract = previous ?? {
  applicationId: 'genrefy-demo',
  contractId: 'listening-history',
  privateKey: (await generateDigiMeContractKey()).privateKeyPem,
}

const digiMe = await startDigiMeServer({
  port: apiPort,
  applicationId: contract.applicationId,
  contractId: contract.contractId,
  contractPublicKey: contract.privateKey, // the server takes the public half
  redirectUris: [new URL('/auth/callback', appUrl).href],
  accessTokenTTLSeconds: accessTokenTTL,
  refreshTokenTTLSeconds: refreshTokenTTL,
}).catch((error) => exitIfInUse(error, apiPort, 'API_PORT'))

// The consent web client digi.me would show. The stand-in's own one answers at once with the
// outcome it is set to; this page asks the user first, then has it answer.
const front = createServer()
await new Promise((resolve, reject) => front.once('error', reject).listen(port, '127.0.0.1', resolve)).catch(
  (error) => exitIfInUse(error, port, 'PORT'),
)
const origin = `http://127.0.0.1:${front.address().port}`
const consentUrl = `${origin}/apps/saas/`

writeContract(contractFile, {
  about:
    'A demo contract of the local digi.me stand-in (examples/digime-service). Not a digi.me key: ' +
    'made on this machine for this demo; never use it for anything else.',
  ...contract,
  baseUrl: digiMe.baseUrl,
  consentUrl,
  keySetUrl: digiMe.keySetUrl,
})

front.on('request', (req, res) => {
  handle(req, res).catch((error) => {
    console.error(`${req.method} ${req.url?.split('?')[0]}: ${error.message}`)
    if (!res.headersSent) sendPage(res, 500, 'Something went wrong', '<p>The stand-in failed.</p>')
    else res.end()
  })
})

async function handle(req, res) {
  const url = new URL(req.url ?? '/', origin)
  if (url.pathname === '/' && req.method === 'GET') {
    sendPage(res, 200, 'What this is', describeService())
  } else if (url.pathname === '/__stats' && req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
    res.end(JSON.stringify(publicStats(), null, 2))
  } else if (url.pathname === '/__revoke-grants' && req.method === 'POST') {
    // As when the user withdraws their consent in digi.me: the app's next refresh is refused.
    const userId = url.searchParams.get('userId')
    if (!userId) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('userId is required')
      return
    }
    await digiMe.revokeGrantsOf(userId)
    console.log(`consent withdrawn: every grant of ${JSON.stringify(userId)} revoked`)
    res.writeHead(204).end()
  } else if (url.pathname === '/apps/saas/authorize' && req.method === 'GET') {
    if (url.searchParams.get('code')) {
      sendPage(res, 200, 'Share your data with Genrefy?', consentForm(url.searchParams))
    } else {
      sendPage(res, 400, 'No consent request', '<p>This page is opened by an app, with a code.</p>')
    }
  } else if (url.pathname === '/apps/saas/authorize' && req.method === 'POST') {
    await answerConsent(req, res)
  } else {
    sendPage(res, 404, 'Not found', `<p>Nothing here. <a href="/">What this is</a>.</p>`)
  }
}

/** The user's answer: the stand-in's consent client makes the callback URL, we send the browser there. */
async function answerConsent(req, res) {
  const form = new URLSearchParams(await readBody(req))
  const share = form.get('answer') === 'share'
  const userId = (form.get('userId') ?? '').trim()
  if (share && !/^[\p{L}\p{N} ._-]{1,40}$/u.test(userId)) {
    sendPage(
      res,
      400,
      'Share your data with Genrefy?',
      consentForm(form, 'Give a name: letters, digits, spaces, . _ -'),
    )
    return
  }
  const query = new URLSearchParams(form)
  for (const name of ['answer', 'userId']) query.delete(name)
  if (share) query.set('userId', userId)
  const answered = await answerInTurn(share ? 'success' : 'cancel', `${digiMe.consentUrl}authorize?${query}`)
  const location = answered.headers.get('location')
  await answered.body?.cancel()
  if (answered.status >= 300 && answered.status < 400 && location) {
    console.log(share ? `consent: shared as ${userId}` : 'consent: cancelled')
    res.writeHead(303, { location, 'cache-control': 'no-store' }).end()
  } else {
    sendPage(
      res,
      400,
      'This consent request is unknown',
      '<p>It may have expired, or been answered already. Go back to the app and connect again.</p>',
    )
  }
}

// The stand-in's outcome is one setting for everyone: answer one consent at a time.
let turn = Promise.resolve()
function answerInTurn(outcome, url) {
  const answered = turn.then(async () => {
    digiMe.setConsentOutcome(outcome)
    try {
      return await fetch(url, { redirect: 'manual' })
    } finally {
      digiMe.setConsentOutcome('success')
    }
  })
  turn = answered.catch(() => {})
  return answered
}

function consentForm(params, problem) {
  const hidden = [...params]
    .filter(([name]) => name !== 'answer' && name !== 'userId')
    .map(([name, value]) => `<input type="hidden" name="${escapeHTML(name)}" value="${escapeHTML(value)}">`)
    .join('')
  return `<p><b>Genrefy</b> (application <code>${escapeHTML(contract.applicationId)}</code>) asks to read your
    music listening history, from now on, until you withdraw your consent.</p>
    <form method="post" action="/apps/saas/authorize">
      ${hidden}
      <p><label>Your name <input name="userId" id="user-id" value="${escapeHTML(params.get('userId') ?? 'alice')}"
        autocomplete="off"></label> <small class="muted">any name: each name has its own history</small></p>
      ${problem ? `<p class="problem">${escapeHTML(problem)}</p>` : ''}
      <p><button name="answer" value="share" id="share">Share</button>
        <button name="answer" value="cancel" id="cancel" class="secondary">Cancel</button></p>
    </form>`
}

function describeService() {
  const stats = publicStats()
  const row = (name, value) => `<dt>${name}</dt><dd><code>${escapeHTML(value)}</code></dd>`
  return `<p>A local stand-in for digi.me's API and consent web client, for the "Genrefy on digi.me"
    example. It is <b>not digi.me</b>: it is <code>startDigiMeServer</code> of <code>@ongoing/testing</code>,
    built from a description of the protocol, with made-up listening histories.</p>
    <dl>
      ${row('API (baseUrl)', digiMe.baseUrl)}
      ${row('consent web client', consentUrl)}
      ${row('key set (keySetUrl)', digiMe.keySetUrl)}
      ${row('application id', contract.applicationId)}
      ${row('contract id', contract.contractId)}
      <dt>redirect URIs</dt><dd><code>${escapeHTML(digiMe.redirectUris.join(' '))}</code><br>
        <small class="muted">loopback http URIs match on any port (RFC 8252 section 7.3)</small></dd>
      ${row('access tokens live', `${accessTokenTTL} s`)}
      ${row('refresh tokens live', `${refreshTokenTTL} s from consent`)}
    </dl>
    <p>So far: ${stats.consents.success} consents, ${stats.consents.cancel} cancelled,
      ${stats.tokenCalls.authorization_code} code exchanges, ${stats.tokenCalls.refresh_token} refreshes,
      ${stats.dataCalls.total} data calls (<a href="/__stats">/__stats</a>).</p>
    <p>To withdraw a user's consent, as they would in digi.me:
      <code>curl -X POST '${escapeHTML(origin)}/__revoke-grants?userId=alice'</code></p>`
}

/** The counters, without anything of a request (no state, no claims). */
function publicStats() {
  const stats = digiMe.stats()
  return {
    preAuthorizations: stats.preAuthorizations,
    consents: stats.consents,
    tokenCalls: stats.tokenCalls,
    dataCalls: stats.dataCalls,
    refused: Object.fromEntries(Object.entries(stats.refused).filter(([, count]) => count > 0)),
    refreshTokenReuse: stats.refreshTokenReuse,
    grantsRevoked: stats.grantsRevoked,
    unverifiedJwts: stats.unverifiedJwts,
    duplicateNonces: stats.duplicateNonces,
  }
}

// One log line per token request and per refusal, so you can watch refreshes happen (the stand-in
// counts them; this prints what changed). Never a token.
let seen = digiMe.stats()
setInterval(() => {
  const now = digiMe.stats()
  for (const grantType of ['authorization_code', 'refresh_token']) {
    for (let n = seen.tokenCalls[grantType]; n < now.tokenCalls[grantType]; n++) {
      console.log(`token request: grant_type=${grantType}`)
    }
  }
  for (const [reason, count] of Object.entries(now.refused)) {
    if (count > seen.refused[reason]) console.log(`refused: ${reason} (${count - seen.refused[reason]}×)`)
  }
  seen = now
}, 200).unref()

function sendPage(res, status, title, body) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
  res.end(`<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>${escapeHTML(title)} · digi.me stand-in</title>
  <style>
    body { font: 16px/1.4 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }
    header { color: #3a64d8; font-weight: bold; }
    button { background: #3a64d8; color: #fff; border: 0; border-radius: 2rem; padding: .6rem 1.4rem;
      font: inherit; cursor: pointer; }
    button.secondary { background: #e6e9f2; color: #222; }
    .muted { color: #666; }
    .problem { color: #b00020; }
    dl { display: grid; grid-template-columns: 12rem 1fr; gap: .2rem; }
  </style>
</head>
<body>
  <header>digi.me <small class="muted">local stand-in, not digi.me</small></header>
  <h1>${escapeHTML(title)}</h1>
  ${body}
</body>
</html>`)
}

async function readBody(req) {
  let body = ''
  for await (const chunk of req.setEncoding('utf8')) {
    body += chunk
    if (body.length > 16_384) throw new Error('the form is too large')
  }
  return body
}

function readContract(file) {
  try {
    const { applicationId, contractId, privateKey } = JSON.parse(readFileSync(file, 'utf8'))
    const strings = [applicationId, contractId, privateKey].every((value) => typeof value === 'string')
    return strings ? { applicationId, contractId, privateKey } : undefined
  } catch {
    return undefined
  }
}

function writeContract(file, data) {
  const temporary = `${file}.${process.pid}.tmp`
  writeFileSync(temporary, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600 })
  chmodSync(temporary, 0o600)
  renameSync(temporary, file)
}

function escapeHTML(text) {
  return String(text).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
  )
}

const stop = async () => {
  front.closeAllConnections()
  await Promise.all([new Promise((resolve) => front.close(resolve)), digiMe.close()])
  process.exit(0)
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
console.log(
  `digime service: ${origin}  (API ${digiMe.baseUrl}; access tokens live ${accessTokenTTL} s; consent as any name)`,
)

/** A port in use is one line, not a stack trace; any other error is thrown on. */
function exitIfInUse(error, port, variable) {
  if (error.code !== 'EADDRINUSE') throw error
  console.error(
    `digime service: port ${port} is in use: stop what listens there, or start with another ${variable}`,
  )
  process.exit(1)
}
