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

/** The landing page: a single "Connect" button that starts the consent. */
function renderHomePage({ framework, connectUrl }) {
  return layout(
    framework,
    `<p>See your most-listened genres. Connect once; the app keeps access from then on.</p>
    <p><a class="button" id="connect" href="${escapeHTML(connectUrl)}">Connect</a></p>`,
  )
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

function layout(framework, body) {
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
  </style>
</head>
<body>
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
