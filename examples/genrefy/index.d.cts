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
/** What the grants page shows of a grant: the fields of `@ongoing/core`'s `GrantInfo` it reads. */
export interface GrantHealth {
  userKey: string
  status: 'active' | 'failing' | 'consent_required'
  expiresAt: number | undefined
  lastRefreshedAt?: number | undefined
  nextRefreshAt?: number | undefined
  failures: number
  lastError?:
    | {
        code: string
        status?: number | undefined
        oauthError?: string | undefined
        nextAttemptAt?: number | undefined
      }
    | undefined
  consentRequired?: { reason: string; at: number; oauthError?: string | undefined } | undefined
}

export function renderHomePage(options: {
  framework: string
  connectUrl: string
  /** Where the grants page is: linked for the operator when given. */
  grantsUrl?: string
  /** This user's grant (`access.inspect(userKey)`): the page shows the connected state. */
  grant?: Pick<GrantHealth, 'status' | 'lastRefreshedAt' | 'consentRequired'> | undefined
  /** Where the genres are. Default `/genres`. */
  genresUrl?: string
}): string
export function renderGenresPage(options: {
  framework: string
  history: ListeningHistory
  status: AccessStatus
  refreshUrl: string
  /** Default: `Top genres of ${history.userId}`. */
  heading?: string
}): string
export function renderGrantsPage(options: {
  framework: string
  /** From `access.grants()`. */
  grants: GrantHealth[]
  /** More grants are stored than `grants` holds. */
  more?: boolean
  job: AccessStatus['job']
  /** Default: `/`. */
  homeUrl?: string
}): string
/** The first `limit` grants that `access.grants()` yields, and whether it had more; reads no further. */
export function firstGrants<T>(
  grants: AsyncIterable<T>,
  limit: number,
): Promise<{ grants: T[]; more: boolean }>
export function renderErrorPage(options: {
  framework: string
  code: string | undefined
  connectUrl: string
}): string
