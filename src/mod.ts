/**
 * @module jwtgate as a library: build a gateway from configuration and serve its `fetch` from
 * Bun.serve, Deno.serve or any web-standard server.
 *
 * @example
 * import { createGateway, loadConfig } from 'jwtgate'
 * const gateway = createGateway(await loadConfig(process.env))
 * Bun.serve({ fetch: (req, server) => gateway.fetch(req, { clientAddress: server.requestIP(req)?.address }) })
 */
export { createGateway, type ConnectionInfo, type Gateway, type GatewayDeps } from './core/gateway.ts'
export { loadConfig, type Config, type LoadOptions } from './core/config/load.ts'
export { createLogger, type Logger, type LogLevel, type LogFormat } from './core/log.ts'
export {
  BadRequestError,
  ConfigError,
  ForbiddenError,
  GatewayError,
  TokenError,
  UnavailableError,
  UpstreamError,
  type ConfigIssue,
  type ErrorCode,
  type TokenErrorCode,
} from './core/errors.ts'
export { VERSION } from './version.ts'
