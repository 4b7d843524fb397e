import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common'
import { OngoingAccess } from '@ongoing/nestjs'
import type { AccessStatus, ListeningHistory } from 'example-genrefy'
import { historyUrl, jobEverySeconds } from './config'

/** Reads listening histories: for a request with the caller's token, and in a background job. */
@Injectable()
export class ListeningService implements OnModuleInit, OnModuleDestroy {
  readonly #refreshStats = new Map<string, { refreshes: number; lastRefreshAt: number }>()
  readonly job = { everySeconds: jobEverySeconds, lastRunAt: undefined as number | undefined, usersRead: 0 }
  #timer: NodeJS.Timeout | undefined

  // The module's OngoingAccess, injected like any provider.
  constructor(@Inject(OngoingAccess) private readonly access: OngoingAccess) {
    // Count refreshes per user for the status panel. The events carry no token material.
    access.on('refresh', ({ userKey }) => {
      const refreshes = (this.#refreshStats.get(userKey)?.refreshes ?? 0) + 1
      this.#refreshStats.set(userKey, { refreshes, lastRefreshAt: Date.now() })
    })
  }

  async historyOf(accessToken: string): Promise<ListeningHistory> {
    const response = await fetch(historyUrl, { headers: { authorization: `Bearer ${accessToken}` } })
    if (!response.ok) throw new Error(`listening history: HTTP ${response.status}`)
    return (await response.json()) as ListeningHistory
  }

  statusOf(userKey: string, expiresAt: number): AccessStatus {
    return {
      expiresAt,
      refreshes: 0,
      lastRefreshAt: undefined,
      ...this.#refreshStats.get(userKey),
      job: this.job,
    }
  }

  onModuleInit(): void {
    this.#timer = setInterval(() => void this.readEveryonesHistory(), jobEverySeconds * 1000)
  }

  onModuleDestroy(): void {
    clearInterval(this.#timer)
  }

  // 4. The background job: no user, no request, no session. It walks the grants in the store, not a
  // list of its own: every instance sees the same ones, and (in Redis or PostgreSQL) a restart loses none.
  // Grants that need the user back are skipped. access.fetch calls with a fresh token, refreshing
  // it (once, however many callers) when it is about to expire, or once when the API answers 401.
  async readEveryonesHistory(): Promise<void> {
    let grants = 0
    let read = 0
    try {
      for await (const { userKey } of this.access.grants({ status: ['active', 'failing'] })) {
        grants++
        try {
          const response = await this.access.fetch(userKey, historyUrl)
          if (response.ok) read++
          await response.body?.cancel()
        } catch (error) {
          console.warn(`background job: ${codeOf(error)}`) // a code, never a token
        }
      }
    } catch (error) {
      console.warn(`background job: ${codeOf(error)}`) // the store failed: next run
    }
    Object.assign(this.job, { lastRunAt: Date.now(), usersRead: read })
    if (grants > 0) console.log(`background job: read ${read} of ${grants} connected users' histories`)
  }
}

function codeOf(error: unknown): string {
  return (error as { code?: string }).code ?? String(error)
}
