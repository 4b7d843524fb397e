export {
  RedisTokenStore,
  type RedisTokenStoreLock,
  type RedisTokenStoreOptions,
} from './redis-token-store.js'
