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
  ClaimHeader,
  LocalKeys,
  ProviderConfig,
  ReadFile,
  RouteConfig,
  UpstreamConfig,
  Workers,
} from './core/config/types.ts'
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
} from './core/rate-limit.ts'
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
  TokenError,
  type TokenErrorCode,
  UnavailableError,
  UpstreamError,
} from './core/errors.ts'
export { VERSION } from './version.ts'
