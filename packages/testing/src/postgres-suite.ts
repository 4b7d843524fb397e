import { postgresServerAvailability } from './postgres-server.js'
import { describeRequiring } from './requirement.js'

/** Options of {@link describeWithPostgres}. */
export interface DescribeWithPostgresOptions {
  /** The suite starts a PostgreSQL of its own (it stops or pauses it): `DATABASE_URL` is not enough. */
  own?: boolean
}

/**
 * `describe` for suites that need a real PostgreSQL (see {@link startPostgresServer}): a
 * {@link describeRequiring} whose problem is why no PostgreSQL can be had. Under `CI=true` such a
 * suite fails; elsewhere it is skipped with a warning.
 *
 * @example
 * ```ts
 * describeWithPostgres('PostgresTokenStore', () => {
 *   let postgres: PostgresServer
 *   beforeAll(async () => { postgres = await startPostgresServer() })
 *   afterAll(() => postgres.close())
 *   it('…', async () => { … })
 * })
 * ```
 */
export function describeWithPostgres(
  name: string,
  suite: () => void,
  options: DescribeWithPostgresOptions = {},
): void {
  const availability = postgresServerAvailability(options)
  describeRequiring(
    name,
    availability.available
      ? undefined
      : `no PostgreSQL: ${availability.reason} (set DATABASE_URL or install postgresql)`,
    suite,
  )
}
