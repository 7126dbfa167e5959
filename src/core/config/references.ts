/**
 * @module References between the parts of a configuration file: each route's upstream and
 * providers must be defined. Checked on the validated file, and on the raw value of a file that
 * failed validation, so that a schema problem in one route never hides an unknown upstream in
 * another.
 */
import type { ConfigIssue } from '../errors.ts'

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** The unknown upstream and providers `route` (at `place`) names, given the names defined. */
export function routeReferenceIssues(
  route: { readonly upstream?: unknown; readonly providers?: unknown },
  place: string,
  upstreams: readonly string[],
  providers: readonly string[],
): ConfigIssue[] {
  const issues: ConfigIssue[] = []
  if (typeof route.upstream === 'string' && !upstreams.includes(route.upstream)) {
    issues.push({
      path: `${place}.upstream`,
      message: `unknown upstream ${JSON.stringify(route.upstream)}`,
    })
  }
  if (Array.isArray(route.providers)) {
    for (const [i, name] of route.providers.entries()) {
      if (typeof name === 'string' && !providers.includes(name)) {
        issues.push({
          path: `${place}.providers[${i}]`,
          message: `unknown provider ${JSON.stringify(name)}`,
        })
      }
    }
  }
  return issues
}

/** The references of every route of a parsed file (any value: it may have failed validation). */
export function referenceIssues(value: unknown): ConfigIssue[] {
  if (!isRecord(value) || !Array.isArray(value.routes)) return []
  const upstreams = isRecord(value.upstreams) ? Object.keys(value.upstreams) : []
  const providers = isRecord(value.providers) ? Object.keys(value.providers) : []
  return value.routes.flatMap((route, i) =>
    isRecord(route) ? routeReferenceIssues(route, `routes[${i}]`, upstreams, providers) : []
  )
}
