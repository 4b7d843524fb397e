export interface ListeningHistory {
  userId: string
  tracks: { title: string; artist: string; genres: string[]; playedAt: string }[]
}

export interface AccessStatus {
  /** When the current access token expires (ms since epoch). */
  expiresAt: number
  /** Refreshes of this user's grant since the app started. */
  refreshes: number
  lastRefreshAt: number | undefined
  job: { everySeconds: number; lastRunAt: number | undefined; usersRead: number }
}

export function topGenres(history: ListeningHistory, limit?: number): { genre: string; plays: number }[]
export function renderHomePage(options: { framework: string; connectUrl: string }): string
export function renderGenresPage(options: {
  framework: string
  history: ListeningHistory
  status: AccessStatus
  refreshUrl: string
  /** Default: `Top genres of ${history.userId}`. */
  heading?: string
}): string
export function renderErrorPage(options: {
  framework: string
  code: string | undefined
  connectUrl: string
}): string
