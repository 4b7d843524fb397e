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
