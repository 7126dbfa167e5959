/**
 * @module jwtgate as a library: build a gateway from configuration and serve its `fetch` from
 * Bun.serve, Deno.serve or any web-standard server (src/adapters/ serve it as the binary does);
 * or guard your own handler in the same process (`protect`, `createVerifier`).
 *
 * @example
 * import { createGateway, loadConfig } from 'jwtgate'
 * const gateway = createGateway(await loadConfig(process.env))
 * Bun.serve({ fetch: (req, server) => gateway.fetch(req, { clientAddress: server.requestIP(req)?.address }) })
 */
export {
  type ConnectionInfo,
  createGateway,
  type Gateway,
  type GatewayDeps,
} from './core/gateway.ts'
export {
  createVerifier,
  type Guarded,
  type LocalHandler,
  protect,
  type RequestVerifier,
  type Verified,
} from './core/guard.ts'
export { type Config, loadConfig, type LoadOptions } from './core/config/load.ts'
export type {
  AuthMode,
  ClaimEncoding,
  ClaimHeader,
  ForwardAuthConfig,
  LocalKeys,
  ProviderConfig,
  ReadFile,
  RedisConfig,
  RevocationsConfig,
  RouteConfig,
  UpstreamConfig,
  WebSocketsConfig,
  Workers,
} from './core/config/types.ts'
export type { WebSocketAnswer, WebSocketClient, WebSocketUpgrade } from './core/websocket/proxy.ts'
export type {
  ClientEvents,
  ClientSocket,
  CloseCause,
  ConnectionRecord,
  Message,
} from './core/websocket/relay.ts'
export type { ClaimPath, Claims } from './core/auth/claims.ts'
export type { VerifyKey } from './core/auth/keys.ts'
export type { Condition, Requirements, Scalar } from './core/auth/requirements.ts'
export type { TokenSource } from './core/auth/token.ts'
export type { UpstreamBase } from './core/proxy/url.ts'
export type { Template, TemplatePart } from './core/routing/template.ts'
export type { CorsConfig } from './core/cors.ts'
export type { HeaderBuild, StripHeaders } from './core/proxy/headers.ts'
export {
  type Limiter,
  type RateLimit,
  RateLimiter,
  type RemoteTake,
  SharedLimiter,
  StoreLimiter,
} from './core/rate-limit.ts'
export { type Bucket, bucketOf, type LimitCheck, type TakeResult } from './core/limits/gcra.ts'
export { type LimitStore, MemoryStore } from './core/limits/store.ts'
export {
  type GuardedOptions,
  GuardedStore,
  type StoreFallback,
  type StoreHealth,
} from './core/limits/guarded.ts'
export type { LimitKey, NamedLimit } from './core/limits/policy.ts'
export {
  parseRevocation,
  type Revocation,
  revocationJson,
  tokenHash,
  type TokenHashes,
  tokenHashes,
} from './core/revocation/entry.ts'
export { RevocationList, type RevokedBy } from './core/revocation/list.ts'
export type { CounterCell, Metrics } from './core/metrics.ts'
export {
  createLogger,
  type LogFields,
  type LogFormat,
  type Logger,
  type LoggerOptions,
  type LogLevel,
} from './core/log.ts'
export {
  BadRequestError,
  ConfigError,
  type ConfigIssue,
  type ErrorCode,
  ForbiddenError,
  GatewayError,
  LimitError,
  type RateLimitFields,
  TokenError,
  type TokenErrorCode,
  UnavailableError,
  UpstreamError,
} from './core/errors.ts'
export { VERSION } from './version.ts'
