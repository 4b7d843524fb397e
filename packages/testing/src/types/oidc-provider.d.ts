// oidc-provider ships no type declarations; this covers only what this package uses.
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http'

  export interface AdapterPayload {
    [key: string]: unknown
    accountId?: string
    clientId?: string
    consumed?: number
    grantId?: string
    jti?: string
    uid?: string
    userCode?: string
  }

  export interface Adapter {
    upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void>
    find(id: string): Promise<AdapterPayload | undefined>
    findByUid(uid: string): Promise<AdapterPayload | undefined>
    findByUserCode(userCode: string): Promise<AdapterPayload | undefined>
    consume(id: string): Promise<void>
    destroy(id: string): Promise<void>
    revokeByGrantId(grantId: string): Promise<void>
  }

  export type AdapterFactory = (name: string) => Adapter

  export interface ClientMetadata {
    [key: string]: unknown
    client_id: string
  }

  export interface ClientLike {
    clientId: string
    grantTypeAllowed(type: string): boolean
  }

  export interface ClaimsAccount {
    accountId: string
    claims(use: string, scope: string): Promise<Record<string, unknown>> | Record<string, unknown>
  }

  export type Configuration = Record<string, unknown>

  export class OIDCProviderError extends Error {
    error: string
    error_description?: string
    error_detail?: string
    status: number
  }

  export const errors: {
    InvalidGrant: new (detail?: string) => OIDCProviderError
  }

  export class Provider {
    constructor(issuer: string, configuration?: Configuration)
    readonly issuer: string
    callback(): (req: IncomingMessage, res: ServerResponse) => Promise<void>
    on(event: string, listener: (...args: unknown[]) => void): this
    urlFor(name: string, options?: Record<string, unknown>): string
    /** Adds a Koa middleware in front of the provider's own (oidc-provider's `provider.use`). */
    use(middleware: (ctx: ProviderContext, next: () => Promise<void>) => Promise<void>): void
  }

  /** The little of a Koa context the test server's middleware reads and writes. */
  export interface ProviderContext {
    status: number
    body: unknown
    oidc?: { params?: Record<string, unknown> }
  }

  export default Provider
}
