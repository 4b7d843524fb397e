export {
  type ClientSigningKeys,
  type PrivateJWK,
  startTestAuthorizationServer,
  type TestAuthorizationServer,
  type TestAuthorizationServerClients,
  type TestAuthorizationServerOptions,
  type TestAuthorizationServerStats,
} from './authorization-server.js'
export { type DriveConsentOptions, driveConsent } from './consent-driver.js'
export { type AuthorizeAsNativeAppOptions, authorizeAsNativeApp } from './native-app.js'
export {
  type RedisAvailability,
  type RedisServer,
  redisServerAvailability,
  type StartRedisServerOptions,
  startRedisServer,
} from './redis-server.js'
export { type DescribeWithRedisOptions, describeWithRedis } from './redis-suite.js'
export { describeRequiring, isCI, requireOrSkip } from './requirement.js'
export {
  runTokenStoreConformance,
  type TokenStoreConformanceFixture,
  type TokenStoreConformanceOptions,
} from './store-conformance.js'
