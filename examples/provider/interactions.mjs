// The example authorization server's own pages: its home page (GET /), and the sign-in and consent
// pages oidc-provider sends the browser to (interactions.url, /interaction/<uid>). Each page says
// what it is; the consent page says what the user grants, offline_access included. No external
// fonts or scripts.
//
//   GET  /interaction/<uid>          the sign-in page, or the consent page
//   POST /interaction/<uid>/login    any name and any password sign in; the name is the account id
//   POST /interaction/<uid>/confirm  the user allows: the grant is saved
//   GET  /interaction/<uid>/abort    the user cancels: the app gets error=access_denied
//
// The forms keep a hidden `prompt` field (login or consent) and the names `login` and `password`,
// as oidc-provider's development pages do, so driveConsent of @ongoing/testing plays them too.

/** What each scope lets the app do, in the user's words. */
const SCOPES = {
  'api:read': 'read your listening history: the tracks, artists and genres you played',
  offline_access: 'keep this access when you are not using Genrefy (a refresh token), until you withdraw it',
}

/** Serves /interaction/<uid>[/login|/confirm|/abort]. */
export async function handleInteraction(provider, req, res, path) {
  const [, , uid, action = ''] = path.split('/')
  const details = await provider.interactionDetails(req, res)
  if (details.uid !== uid) throw new Error('interaction not found')
  const { prompt, params, session } = details
  const client = await provider.Client.find(params.client_id)
  const clientName = client?.clientName ?? params.client_id

  if (req.method === 'GET' && action === '') {
    const page =
      prompt.name === 'login'
        ? renderSignInPage({ uid, clientName })
        : renderConsentPage({ uid, clientName, clientId: params.client_id, scopes: scopesOf(params, client) })
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(page)
    return
  }
  if (req.method === 'GET' && action === 'abort') {
    await provider.interactionFinished(
      req,
      res,
      { error: 'access_denied', error_description: 'the user cancelled' },
      { mergeWithLastSubmission: false },
    )
    return
  }
  if (req.method === 'POST' && action === 'login' && prompt.name === 'login') {
    const form = new URLSearchParams(await readBody(req))
    const login = form.get('login')?.trim()
    if (!login) {
      res.writeHead(400, { 'content-type': 'text/html; charset=utf-8' })
      res.end(renderSignInPage({ uid, clientName, problem: 'Give a name: any name will do.' }))
      return
    }
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId: login } },
      { mergeWithLastSubmission: false },
    )
    return
  }
  if (req.method === 'POST' && action === 'confirm' && prompt.name === 'consent') {
    await readBody(req)
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id })
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '))
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims)
    for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {}))
      grant.addResourceScope(indicator, scopes.join(' '))
    const grantId = await grant.save()
    const consent = details.grantId ? {} : { grantId }
    await provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true })
    return
  }
  res.writeHead(405, { 'content-type': 'text/plain' }).end('method not allowed')
}

/**
 * The scopes the user grants. oidc-provider drops `offline_access` from a request without
 * `prompt=consent`, but this server issues a refresh token to every client allowed the
 * refresh_token grant (issueRefreshToken in server.mjs): the page says so, whatever was asked.
 */
function scopesOf(params, client) {
  const scopes = new Set((params.scope ?? '').split(' ').filter(Boolean))
  if (client?.grantTypeAllowed('refresh_token')) scopes.add('offline_access')
  const order = Object.keys(SCOPES)
  const rank = (scope) => (order.includes(scope) ? order.indexOf(scope) : order.length)
  return [...scopes].sort((a, b) => rank(a) - rank(b))
}

function renderSignInPage({ uid, clientName, problem }) {
  return layout(
    'Sign in: local music service',
    `<p class="eyebrow">Local music service · sign-in</p>
    <h1>Sign in to connect ${escapeHTML(clientName)}</h1>
    <p><strong>${escapeHTML(clientName)}</strong> asks to connect to your account here. This is a
    local development server: any name and any password sign you in, and the name becomes your
    user id.</p>
    ${problem ? `<p class="problem" role="alert">${escapeHTML(problem)}</p>` : ''}
    <form method="post" action="/interaction/${escapeHTML(uid)}/login" autocomplete="off">
      <input type="hidden" name="prompt" value="login">
      <label>Name <input name="login" required autofocus></label>
      <label>Password <input name="password" type="password" placeholder="any password"></label>
      <p class="actions"><button type="submit" id="sign-in">Sign in</button>
      <a id="cancel" href="/interaction/${escapeHTML(uid)}/abort">Cancel</a></p>
    </form>`,
  )
}

function renderConsentPage({ uid, clientName, clientId, scopes }) {
  const items = scopes
    .map(
      (scope) =>
        `<li><code>${escapeHTML(scope)}</code> ${escapeHTML(SCOPES[scope] ?? 'a scope this page has no words for')}</li>`,
    )
    .join('\n      ')
  return layout(
    'Allow ongoing access: local music service',
    `<p class="eyebrow">Local music service · consent</p>
    <h1>${escapeHTML(clientName)} wants ongoing access to your listening history, including when you
    are not using it</h1>
    <p>If you allow it, <strong>${escapeHTML(clientName)}</strong> (client
    <code>${escapeHTML(clientId)}</code>) may:</p>
    <ul class="scopes">
      ${items}
    </ul>
    <p>You can withdraw it at any time at this service (in this demo:
    <code>POST /__ongoing/revoke-grants?accountId=&lt;your name&gt;</code>); the app then has to ask
    you again.</p>
    <form method="post" action="/interaction/${escapeHTML(uid)}/confirm">
      <input type="hidden" name="prompt" value="consent">
      <p class="actions"><button type="submit" id="allow">Allow ongoing access</button>
      <a id="deny" href="/interaction/${escapeHTML(uid)}/abort">Deny</a></p>
    </form>`,
  )
}

/** GET /: what this server is, and where its parts are. */
export function renderHomePage({ issuer, clients }) {
  const rows = clients
    .map(
      (client) =>
        `<tr><td><code>${escapeHTML(client.client_id)}</code></td><td>${client.redirect_uris
          .map((uri) => `<code>${escapeHTML(uri)}</code>`)
          .join('<br>')}</td></tr>`,
    )
    .join('\n      ')
  return layout(
    'Local authorization server for the Genrefy examples',
    `<p class="eyebrow">Local music service · authorization server</p>
    <h1>The authorization server of the Genrefy examples</h1>
    <p>A local OAuth 2.0 authorization server (oidc-provider) and the music API the example apps
    read. For development only: any name and any password sign in, and everything lives in memory.
    You come here through an app's <strong>Connect</strong> button, which brings you to its sign-in
    and consent pages.</p>
    <ul>
      <li>issuer <code>${escapeHTML(issuer)}</code>, metadata at
      <a href="/.well-known/openid-configuration"><code>/.well-known/openid-configuration</code></a></li>
      <li>the API: <code>GET /api/me/listening-history</code> with a bearer token (scope <code>api:read</code>)</li>
      <li>withdraw a user's access: <code>POST /__ongoing/revoke-grants?accountId=&lt;name&gt;</code></li>
    </ul>
    <table>
      <tr><th>client</th><th>redirect URI</th></tr>
      ${rows}
    </table>`,
  )
}

function layout(title, body) {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHTML(title)}</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; margin: 0; background: #f4f1ea; color: #222; }
  main { max-width: 34rem; margin: 3rem auto; padding: 2rem; background: #fff; border-radius: 8px;
    box-shadow: 0 1px 4px rgb(0 0 0 / 0.12); }
  .eyebrow { color: #6b5b3e; font-size: 0.85rem; text-transform: uppercase; letter-spacing: 0.05em; margin: 0; }
  h1 { font-size: 1.35rem; line-height: 1.3; margin: 0.3rem 0 1rem; }
  label { display: block; margin: 0.8rem 0; font-weight: 600; }
  input { display: block; width: 100%; box-sizing: border-box; margin-top: 0.25rem; padding: 0.5rem;
    font: inherit; border: 1px solid #bbb; border-radius: 4px; }
  .actions { display: flex; gap: 1.5rem; align-items: center; margin-top: 1.5rem; }
  button { font: inherit; font-weight: 600; padding: 0.55rem 1.2rem; border: 0; border-radius: 4px;
    background: #2f6f4e; color: #fff; cursor: pointer; }
  .scopes li { margin: 0.5rem 0; }
  code { background: #f0ede6; padding: 0 0.25rem; border-radius: 3px; }
  .problem { color: #a11; }
  table { border-collapse: collapse; font-size: 0.9rem; }
  td, th { text-align: left; padding: 0.25rem 0.75rem 0.25rem 0; vertical-align: top; }
</style>
</head>
<body>
<main>
    ${body}
</main>
</body>
</html>
`
}

async function readBody(req) {
  let body = ''
  for await (const chunk of req.setEncoding('utf8')) {
    body += chunk
    if (body.length > 16 * 1024) throw new Error('form too large')
  }
  return body
}

function escapeHTML(text) {
  return String(text).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
  )
}
