import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common'
import { OngoingAccess } from '@ongoing/nestjs'
import type { AccessStatus, ListeningHistory } from 'example-genrefy'
import { historyUrl, jobEverySeconds } from './config'

/** Reads listening histories: for a request with the caller's token, and in a background job. */
@Injectable()
export class ListeningService implements OnModuleInit, OnModuleDestroy {
  readonly #connectedUsers = new Set<string>()
  readonly #refreshStats = new Map<string, { refreshes: number; lastRefreshAt: number }>()
  readonly #job = { everySeconds: jobEverySeconds, lastRunAt: undefined as number | undefined, usersRead: 0 }
  #timer: NodeJS.Timeout | undefined

  // The module's OngoingAccess, injected like any provider.
  constructor(@Inject(OngoingAccess) private readonly access: OngoingAccess) {
    // Count refreshes per user for the status panel. The events carry no token material.
    access.on('refresh', ({ userKey }) => {
      const refreshes = (this.#refreshStats.get(userKey)?.refreshes ?? 0) + 1
      this.#refreshStats.set(userKey, { refreshes, lastRefreshAt: Date.now() })
    })
    access.on('consentRequired', ({ userKey }) => this.#connectedUsers.delete(userKey))
  }

  async historyOf(userKey: string, accessToken: string): Promise<ListeningHistory> {
    this.#connectedUsers.add(userKey)
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
      job: this.#job,
    }
  }

  onModuleInit(): void {
    this.#timer = setInterval(() => void this.readEveryonesHistory(), jobEverySeconds * 1000)
  }

  onModuleDestroy(): void {
    clearInterval(this.#timer)
  }

  // 4. The background job: no user, no request, no session. getAccessToken(userKey) returns a fresh
  // token, refreshing it (once, however many callers) when it is about to expire.
  async readEveryonesHistory(): Promise<void> {
    if (this.#connectedUsers.size === 0) return
    let read = 0
    for (const userKey of this.#connectedUsers) {
      try {
        const token = await this.access.getAccessToken(userKey)
        const response = await fetch(historyUrl, { headers: { authorization: `Bearer ${token.value}` } })
        if (response.ok) read++
        await response.body?.cancel()
      } catch (error) {
        console.warn(`background job: ${(error as { code?: string }).code ?? error}`) // never a token
      }
    }
    Object.assign(this.#job, { lastRunAt: Date.now(), usersRead: read })
    console.log(`background job: read ${read} of ${this.#connectedUsers.size} connected users' histories`)
  }
}
