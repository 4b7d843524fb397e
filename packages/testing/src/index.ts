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
export { type DriveDigiMeConsentOptions, driveDigiMeConsent } from './digime-consent.js'
export { generateDigiMeContractKey } from './digime-jwt.js'
export {
  type DigiMeConsentErrorCode,
  type DigiMeConsentOutcome,
  type DigiMeContract,
  type DigiMeContractKey,
  type DigiMeFileListEntry,
  type DigiMeKeyInput,
  type DigiMeKeySetEntry,
  type DigiMeListeningHistoryFile,
  type DigiMePlay,
  type DigiMeReceivedRequest,
  type DigiMeRefusal,
  type DigiMeRefusalReason,
  type DigiMeServer,
  type DigiMeServerOptions,
  type DigiMeServerStats,
  type DigiMeTokenPayload,
  type ForgeNextTokenResponseOptions,
  type ForgeNextTokenResponseResult,
  startDigiMeServer,
} from './digime-server.js'
export {
  type DPoPResourceServer,
  type DPoPResourceServerOptions,
  type DPoPResourceServerStats,
  type DPoPTokenInfo,
  startDPoPResourceServer,
} from './dpop-resource-server.js'
export { type AuthorizeAsNativeAppOptions, authorizeAsNativeApp } from './native-app.js'
export {
  type PostgresAvailability,
  type PostgresServer,
  postgresServerAvailability,
  type StartPostgresServerOptions,
  startPostgresServer,
} from './postgres-server.js'
export { type DescribeWithPostgresOptions, describeWithPostgres } from './postgres-suite.js'
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
