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
