import { type GrantInfo, type GrantStatus, grantInfoOf } from './grant-info.js'
import type { GrantRepository } from './grant-repository.js'

/** Options of {@link OngoingAccess.grants}. */
export interface GrantsOptions {
  /** How many grants are read from the store at a time (memory is bounded by it). Default: 100. */
  pageSize?: number
  /** Only grants with this status (or one of these). Default: every grant. */
  status?: GrantStatus | readonly GrantStatus[]
}

/** The stored grants of one grant family (issuer + client), listed and read a page at a time. */
export class GrantInventory {
  constructor(
    private readonly repository: GrantRepository,
    private readonly skewMs: number,
  ) {}

  /** The {@link GrantInfo} of `userKey`'s record, or `undefined` when none is stored. */
  async inspect(userKey: string): Promise<GrantInfo | undefined> {
    const read = await this.repository.read(userKey)
    return read === undefined ? undefined : grantInfoOf(userKey, read, this.skewMs, Date.now())
  }

  /**
   * Every stored grant, a page at a time: the store lists a page of keys, the page's records are
   * read together, and the next page is asked for only once this one is consumed.
   */
  async *grants(options: GrantsOptions = {}): AsyncGenerator<GrantInfo, void, undefined> {
    const pageSize = options.pageSize ?? 100
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 10_000)
      throw new TypeError('ongoing: `pageSize` must be an integer from 1 to 10,000')
    const wanted = statusFilter(options.status)
    let cursor: string | undefined
    do {
      const page = await this.repository.list(cursor, pageSize)
      cursor = page.cursor
      // A store may list a key twice in one page (Redis while its key space shrinks): once is enough.
      const userKeys = [...new Set(page.userKeys)]
      const infos = await Promise.all(userKeys.map((userKey) => this.inspect(userKey)))
      for (const info of infos)
        if (info !== undefined && (wanted === undefined || wanted.has(info.status))) yield info
    } while (cursor !== undefined)
  }
}

const STATUSES: readonly GrantStatus[] = ['active', 'failing', 'consent_required']

function statusFilter(status: GrantsOptions['status']): Set<GrantStatus> | undefined {
  if (status === undefined) return undefined
  const list = typeof status === 'string' ? [status] : status
  if (!Array.isArray(list) || list.some((each) => !STATUSES.includes(each)))
    throw new TypeError(`ongoing: \`status\` must be one of ${STATUSES.join(', ')} (or a list of them)`)
  return new Set(list)
}
