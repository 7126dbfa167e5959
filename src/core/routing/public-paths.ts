/**
 * @module Public paths: patterns reachable without a token. `/health` is that path exactly;
 * `/docs/*` is everything below `/docs/` at any depth. Case-sensitive and segment-aware, so
 * `/docs/*` does not cover `/docsx` (nor `/docs` itself).
 */

export interface PublicPaths {
  readonly exact: ReadonlySet<string>
  /** Prefixes ending in `/`. */
  readonly prefixes: readonly string[]
}

/** Compiles patterns once at start. */
export function compilePublicPaths(patterns: readonly string[]): PublicPaths {
  const exact = new Set<string>()
  const prefixes: string[] = []
  for (const p of patterns) {
    if (p.endsWith('/*')) prefixes.push(p.slice(0, -1))
    else exact.add(p)
  }
  return Object.freeze({ exact, prefixes: Object.freeze(prefixes) })
}

export function isPublicPath(paths: PublicPaths, pathname: string): boolean {
  if (paths.exact.has(pathname)) return true
  for (const prefix of paths.prefixes) if (pathname.startsWith(prefix)) return true
  return false
}
