export {
  PostgresTokenStore,
  type PostgresTokenStoreLock,
  type PostgresTokenStoreOptions,
} from './postgres-token-store.js'
export { type PostgresNames, type PostgresTableOptions, postgresSchemaSql } from './schema.js'
