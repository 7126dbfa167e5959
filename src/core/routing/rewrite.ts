/**
 * @module Path rewriting per route: strip a prefix, or replace the path with a template of the
 * route's params (each param percent-encoded, so a param can never add a segment or a query).
 */
import type { RouteConfig } from '../config/load.ts'
import { renderTemplate } from './template.ts'

/** The path the upstream receives for `path`: the evaluated one, or the route's rewrite of it. */
export function upstreamPath(
  route: RouteConfig,
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
