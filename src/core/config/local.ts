/**
 * @module What a configuration guarding a handler in this process (`protect`, `createVerifier`,
 * the Hono middleware: `loadConfig(env, { local: true })`) cannot have: the settings that act on
 * the request an upstream receives. No upstream request is made, and the handler gets the
 * client's own, so a handler reading `X-User-Id` as it did behind the proxy would read what the
 * client wrote. Refused at load rather than ignored: the handler reads the verified claims it is
 * handed (`Guarded.claims`).
 */
import { ConfigError, type ConfigIssue } from '../errors.ts'
import type { StripHeaders } from '../proxy/headers.ts'
import type { Config, RouteConfig } from './types.ts'

const NOT_APPLIED =
  'not applied to a handler guarded in this process, which gets the client’s request'
const READ_CLAIMS =
  `${NOT_APPLIED}: read the verified claims it is handed (guarded.claims, verify()’s result)`

/** Adds an issue for each setting that acts only on an upstream request. */
export function refuseUpstreamOnly(
  routes: readonly RouteConfig[],
  stripHeaders: StripHeaders,
  fromFile: boolean,
  issues: ConfigIssue[],
): void {
  if (fromFile) {
    for (const route of routes) {
      if (route.claimHeaders.length > 0) {
        issues.push({
          path: `${route.place}.claimHeaders`,
          message: `claim headers are ${READ_CLAIMS}`,
        })
      }
    }
  } else if (routes.some((route) => route.claimHeaders.length > 0)) {
    issues.push({ path: 'JWTGATE_FORWARD_CLAIMS', message: `claim headers are ${READ_CLAIMS}` })
  }
  if (stripHeaders.names.length > 0 || stripHeaders.prefixes.length > 0) {
    issues.push({
      path: fromFile ? 'stripHeaders' : 'JWTGATE_STRIP_HEADERS',
      message: `headers to strip are ${NOT_APPLIED} as it came`,
    })
  }
}

/**
 * Throws ConfigError when `config` has settings that act only on an upstream request: for a
 * configuration given to `protect`/`createVerifier` (or a reload of one) that was not loaded with
 * `{ local: true }`, such as the proxy's own.
 */
export function assertGuardable(config: Config): void {
  const issues: ConfigIssue[] = []
  refuseUpstreamOnly(config.routes, config.stripHeaders, config.file !== undefined, issues)
  if (issues.length > 0) throw new ConfigError(issues)
}
