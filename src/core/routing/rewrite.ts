/**
 * @module Path rewriting per route: strip a prefix, or replace the path with a template of the
 * route's params (each param percent-encoded, so a param can never add a segment or a query).
 */
import { normalFormProblem } from './routes.ts'
import { renderTemplate, type Template } from './template.ts'

/**
 * Why `prefix` is not a stripPrefix we accept, or undefined. It is compared with the normalised
 * path (trailing slashes aside, which are dropped): written otherwise (`/%66iles`, `/a//b`) it
 * would never be stripped, and the upstream would get paths it does not expect.
 */
export function stripPrefixProblem(prefix: string): string | undefined {
  if (!prefix.startsWith('/')) return 'must start with /'
  return normalFormProblem(prefix.replace(/\/+$/, '') || '/')
}

/** What rewriting needs of a route (a route's configuration has these fields). */
export interface PathRewrite {
  /** Removed from the front of the path (`/files`); at most one of the two is set. */
  readonly stripPrefix: string | undefined
  /** The new path, a template of the route's params and the method. */
  readonly rewrite: Template | undefined
}

/** The path the upstream receives for `path`: the evaluated one, or the route's rewrite of it. */
export function upstreamPath(
  route: PathRewrite,
  path: string,
  method: string,
  params: Readonly<Record<string, string>>,
): string {
  if (route.stripPrefix !== undefined) {
    if (path === route.stripPrefix) return '/'
    if (path.startsWith(`${route.stripPrefix}/`)) return path.slice(route.stripPrefix.length)
    return path
  }
  if (route.rewrite !== undefined) {
    const encoded: Record<string, string> = {}
    for (const [k, v] of Object.entries(params)) encoded[k] = encodeURIComponent(v)
    return renderTemplate(route.rewrite, { method, params: encoded })
  }
  return path
}
