/**
 * @module The file's named rate limits (`rateLimits:`) → NamedLimit, each checked against the
 * routes and providers it names.
 */
import type { ConfigIssue } from '../errors.ts'
import { type NamedLimit, parseLimitKey } from '../limits/policy.ts'
import { parseRateLimit } from '../rate-limit.ts'
import type { FileConfig } from './file-schema.ts'
import type { ProviderConfig, RouteConfig } from './types.ts'

/** The limits of a validated file; unknown route and provider names go to `issues`. */
export function compileRateLimits(
  file: FileConfig | undefined,
  routes: readonly RouteConfig[],
  providers: readonly ProviderConfig[],
  issues: ConfigIssue[],
): NamedLimit[] {
  const routeNames = new Set(routes.map((r) => r.name))
  const providerNames = new Set(providers.map((p) => p.name))
  const out: NamedLimit[] = []
  for (const [name, l] of Object.entries(file?.rateLimits ?? {})) {
    const place = `rateLimits.${name}`
    const rate = parseRateLimit(l.rate)!
    for (const [i, route] of (l.routes ?? []).entries()) {
      if (!routeNames.has(route)) {
        issues.push({
          path: `${place}.routes[${i}]`,
          message: `unknown route ${JSON.stringify(route)}`,
        })
      }
    }
    for (const [i, provider] of (l.providers ?? []).entries()) {
      if (!providerNames.has(provider)) {
        issues.push({
          path: `${place}.providers[${i}]`,
          message: `unknown provider ${JSON.stringify(provider)}`,
        })
      }
    }
    out.push({
      name,
      rate,
      burst: l.burst ?? rate.limit,
      key: parseLimitKey(l.key)!,
      routes: l.routes,
      providers: l.providers,
    })
  }
  return out
}

/**
 * A warning for each limit keyed by a request header when no limit bounds every client as well:
 * the client writes the header, so one sending another value with each request is in a new
 * bucket each time, and the limit never holds for it. Not an error: behind a proxy that sets the
 * header, or with JWTGATE_RATE_LIMIT or a limit keyed by address on every route, it does hold.
 */
export function headerKeyWarnings(
  limits: readonly NamedLimit[],
  everyClientLimited: boolean,
): string[] {
  const byAddress = limits.some((l) =>
    l.key.kind === 'address' && l.routes === undefined && l.providers === undefined
  )
  if (everyClientLimited || byAddress) return []
  return limits.flatMap((l) =>
    l.key.kind !== 'header' ? [] : [
      `rateLimits.${l.name}: keyed by the ${l.key.header} header, which the client writes: one sending another value with each request is in a new bucket each time; bound every client too (rateLimit, JWTGATE_RATE_LIMIT, or a limit keyed by address on every route)`,
    ]
  )
}
