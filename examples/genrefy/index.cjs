// The pages of "Genrefy", shared by the Express, Koa, NestJS and digi.me examples so that each of
// them is only the wiring of @ongoing. CommonJS, so that the NestJS example (CommonJS, like
// `nest new`) and the ES module examples can all load it.
'use strict'

/**
 * The most-listened genres in a listening history, most plays first.
 * @param {{ tracks: { genres: string[] }[] }} history
 */
function topGenres(history, limit = 8) {
  const plays = new Map()
  for (const track of history.tracks) {
    for (const genre of track.genres) plays.set(genre, (plays.get(genre) ?? 0) + 1)
  }
  return [...plays]
    .map(([genre, count]) => ({ genre, plays: count }))
    .sort((a, b) => b.plays - a.plays || a.genre.localeCompare(b.genre))
    .slice(0, limit)
}

/**
 * The landing page. Without a grant: a single "Connect" button that starts the consent. With one
 * (`grant`, what `access.inspect(userKey)` says of this user's): the connected state, with a link
 * to the genres, or, when the grant needs the user back, why and a button to connect again.
 */
function renderHomePage({ framework, connectUrl, grantsUrl, grant, genresUrl = '/genres' }) {
  return layout(
    framework,
    `${grant === undefined ? notConnected(connectUrl) : connected(grant, connectUrl, genresUrl)}
    ${
      grantsUrl === undefined
        ? ''
        : `<p class="muted">For the operator: <a id="grants" href="${escapeHTML(grantsUrl)}">the grants</a>,
      every connected user's access and how it is doing.</p>`
    }`,
  )
}

function notConnected(connectUrl) {
  return `<p id="home" data-state="not-connected">See your most-listened genres. Connect once; the app keeps access from then on.</p>
    <p><a class="button" id="connect" href="${escapeHTML(connectUrl)}">Connect</a></p>`
}

function connected(grant, connectUrl, genresUrl) {
  if (grant.status === 'consent_required') {
    return `<p id="home" data-state="consent_required">You were connected, but the music service no longer
    accepts this app's access (<code class="reason">${escapeHTML(grant.consentRequired?.reason ?? 'consent_required')}</code>):
    connect again to go on.</p>
    <p><a class="button" id="connect" href="${escapeHTML(connectUrl)}">Connect again</a></p>`
  }
  return `<p id="home" data-state="connected"><span class="badge ${escapeHTML(grant.status)}">connected</span>
    The app has ongoing access to your listening history (${escapeHTML(grant.status)}); it refreshes
    the access token itself${grant.lastRefreshedAt === undefined ? '' : `, last at ${when(grant.lastRefreshedAt)}`}.</p>
    <p><a class="button" id="see-genres" href="${escapeHTML(genresUrl)}">See your genres</a></p>`
}

/**
 * The operator's page: every stored grant's health, as `access.grants()` gives it. A `GrantInfo`
 * holds no token material, and this page shows only its user key, status, times, failure count,
 * error codes and consent-required reason.
 */
function renderGrantsPage({ framework, grants, more, job, homeUrl = '/' }) {
  const count = (status) => grants.filter((grant) => grant.status === status).length
  const summary =
    `${grants.length}${more ? '+' : ''} ${grants.length === 1 ? 'grant' : 'grants'}: ` +
    `${count('active')} active, ${count('failing')} failing, ${count('consent_required')} consent required` +
    (more ? ` (the first ${grants.length} shown)` : '')
  const rows = grants
    .map(
      (grant) => `<tr data-user-key="${escapeHTML(grant.userKey)}" data-status="${escapeHTML(grant.status)}">
        <td class="user-key"><code>${escapeHTML(grant.userKey)}</code></td>
        <td class="status"><span class="badge ${escapeHTML(grant.status)}">${escapeHTML(grant.status)}</span></td>
        <td class="expires">${when(grant.status === 'consent_required' ? undefined : grant.expiresAt)}</td>
        <td class="last-refresh">${when(grant.lastRefreshedAt)}</td>
        <td class="next-refresh">${when(grant.nextRefreshAt)}</td>
        <td class="failures">${Number(grant.failures)}</td>
        <td class="last-error">${lastErrorOf(grant.lastError)}</td>
        <td class="consent-required">${consentRequiredOf(grant.consentRequired)}</td>
      </tr>`,
    )
    .join('')
  const table = `<table id="grant-table">
      <thead><tr><th>User key</th><th>Status</th><th>Access token expires</th><th>Last refresh</th>
        <th>Next refresh</th><th>Failures</th><th>Last error</th><th>Consent required</th></tr></thead>
      <tbody>${rows}</tbody>
    </table>`
  return layout(
    framework,
    `<h2>Grants</h2>
    <p id="summary">${summary}.</p>
    ${grants.length === 0 ? '<p id="no-grants">No grant is stored yet: connect on the home page.</p>' : table}
    <p id="job" class="muted">Background job: every ${Number(job.everySeconds)} s; last run
      ${job.lastRunAt ? new Date(job.lastRunAt).toLocaleTimeString('en-GB') : 'never'}, read
      ${Number(job.usersRead)} users' histories.</p>
    <p class="muted">A page for the app's operator, read from the token store: statuses, times and
      error codes, never a token. A real app serves it behind its admin sign-in.
      <a href="${escapeHTML(homeUrl)}">Home</a></p>`,
    { wide: true },
  )
}

/**
 * The first `limit` grants that `access.grants()` yields, and whether it had more. Reads no
 * further: the store's other pages are never asked for.
 */
async function firstGrants(grants, limit) {
  const first = []
  for await (const grant of grants) {
    if (first.length === limit) return { grants: first, more: true }
    first.push(grant)
  }
  return { grants: first, more: false }
}

/** A time as `12:34:56 (in 20 s)`, or `–`. */
function when(at) {
  if (at === undefined) return '–'
  const seconds = Math.round((at - Date.now()) / 1000)
  const relative = seconds === 0 ? 'now' : seconds > 0 ? `in ${seconds} s` : `${-seconds} s ago`
  return `<time datetime="${new Date(at).toISOString()}">${new Date(at).toLocaleTimeString('en-GB')}</time>
    <span class="muted">(${relative})</span>`
}

/** The last failed refresh: its code, HTTP status and OAuth error, and when the next try is. */
function lastErrorOf(error) {
  if (error === undefined) return '–'
  const details = [error.status, error.oauthError].filter((detail) => detail !== undefined)
  return `<code>${escapeHTML(error.code)}</code>${details.length ? ` (${escapeHTML(details.join(' '))})` : ''}${
    error.nextAttemptAt === undefined ? '' : `<br>next try ${when(error.nextAttemptAt)}`
  }`
}

/** Why the user must consent again, and since when. */
function consentRequiredOf(record) {
  if (record === undefined) return '–'
  return `<code class="reason">${escapeHTML(record.reason)}</code>${
    record.oauthError === undefined || record.oauthError === record.reason
      ? ''
      : ` (${escapeHTML(record.oauthError)})`
  }
    <br>since ${when(record.at)}`
}

/**
 * The genres page, with the status of the user's access and a "Refresh now" button. `heading`
 * defaults to "Top genres of <history.userId>".
 */
function renderGenresPage({ framework, history, status, refreshUrl, heading }) {
  const genres = topGenres(history)
  const most = genres[0]?.plays ?? 1
  const bars = genres
    .map(
      ({ genre, plays }) => `<li><span class="genre">${escapeHTML(genre)}</span>
        <span class="bar" style="width:${Math.round((plays / most) * 100)}%"></span>
        <span class="plays">${plays}</span></li>`,
    )
    .join('')
  const time = (ms) => (ms ? new Date(ms).toLocaleTimeString('en-GB') : 'never')
  return layout(
    framework,
    `<h2>${escapeHTML(heading ?? `Top genres of ${history.userId}`)}</h2>
    <p class="muted">from the last ${history.tracks.length} tracks you played</p>
    <ol id="genres">${bars}</ol>
    <section id="status">
      <h3>Access</h3>
      <dl>
        <dt>Access token expires in</dt>
        <dd><span id="expires-in" data-expires-at="${status.expiresAt}">${secondsLeft(status.expiresAt)}</span> s</dd>
        <dt>Refreshes so far</dt><dd id="refresh-count">${status.refreshes}</dd>
        <dt>Last refresh</dt><dd id="last-refresh">${time(status.lastRefreshAt)}</dd>
        <dt>Background job</dt>
        <dd id="job">every ${status.job.everySeconds} s; last run ${time(status.job.lastRunAt)},
          read ${status.job.usersRead} users' histories</dd>
      </dl>
      <button id="refresh-now">Refresh now</button>
    </section>
    <script>
      const expiresIn = document.getElementById('expires-in')
      setInterval(() => {
        expiresIn.textContent = Math.max(0, Math.round((expiresIn.dataset.expiresAt - Date.now()) / 1000))
      }, 1000)
      document.getElementById('refresh-now').onclick = async () => {
        const response = await fetch(${JSON.stringify(refreshUrl)}, { method: 'POST' })
        if (response.ok) location.reload()
        else alert('Refresh failed: ' + response.status)
      }
    </script>`,
  )
}

/** What went wrong, by the error's stable `code` (never its details), and a way to try again. */
function renderErrorPage({ framework, code, connectUrl }) {
  const what =
    code === 'ERR_CONSENT_DENIED'
      ? 'You cancelled: nothing was shared with Genrefy.'
      : `That did not work (${code ?? 'an unexpected error'}).`
  return layout(
    framework,
    `<p id="error">${escapeHTML(what)}</p>
    <p><a class="button" id="connect" href="${escapeHTML(connectUrl)}">Try again</a></p>`,
  )
}

function secondsLeft(at) {
  return Math.max(0, Math.round((at - Date.now()) / 1000))
}

function layout(framework, body, { wide = false } = {}) {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Genrefy (${escapeHTML(framework)})</title>
  <style>
    body { font: 16px/1.4 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }
    .button, button { background: #1db954; color: #fff; border: 0; border-radius: 2rem; padding: .6rem 1.4rem;
      font: inherit; text-decoration: none; cursor: pointer; }
    .muted { color: #666; }
    ol { list-style: none; padding: 0; }
    li { display: grid; grid-template-columns: 8rem 1fr 2rem; align-items: center; gap: .5rem; margin: .3rem 0; }
    .bar { display: block; height: 1rem; background: #1db954; border-radius: .2rem; }
    #status { border-top: 1px solid #ddd; margin-top: 2rem; }
    dl { display: grid; grid-template-columns: 14rem 1fr; }
    body.wide { max-width: 72rem; }
    table { border-collapse: collapse; font-size: .85rem; width: 100%; }
    th, td { text-align: left; vertical-align: top; padding: .3rem .5rem; border-bottom: 1px solid #ddd; }
    .badge { border-radius: .2rem; padding: 0 .3rem; color: #fff; background: #1db954; }
    .badge.failing { background: #e69500; }
    .badge.consent_required { background: #b00020; }
  </style>
</head>
<body${wide ? ' class="wide"' : ''}>
  <h1>Genrefy <small class="muted">with ${escapeHTML(framework)}</small></h1>
  ${body}
</body>
</html>`
}

function escapeHTML(text) {
  return String(text).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
  )
}

exports.topGenres = topGenres
exports.renderHomePage = renderHomePage
exports.renderGenresPage = renderGenresPage
exports.renderErrorPage = renderErrorPage
exports.renderGrantsPage = renderGrantsPage
exports.firstGrants = firstGrants
