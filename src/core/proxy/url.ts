/**
 * @module The upstream URL: the configured base (origin and optional path prefix) joined with the
 * request path the policy evaluated and the query.
 */

/** A parsed upstream base: `origin` and a path `prefix` without a trailing slash (maybe ''). */
export interface UpstreamBase {
  /** Scheme, host and port (`http://api:3000`). */
  readonly origin: string
  /** The path prefix joined with each request path (`/v1`), or ''. */
  readonly prefix: string
}

/** Why a base URL cannot be an upstream, or undefined when it can. */
export function upstreamBaseProblem(text: string): string | undefined {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return 'must be an absolute http:// or https:// URL, e.g. http://127.0.0.1:3000'
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return `must use http:// or https://, not ${url.protocol}//`
  }
  if (url.username !== '' || url.password !== '') return 'must not contain credentials'
  if (url.search !== '' || url.hash !== '') return 'must not contain a query or fragment'
  return undefined
}

/** Parses a base URL already checked by `upstreamBaseProblem`. */
export function parseUpstreamBase(text: string): UpstreamBase {
  const url = new URL(text)
  return Object.freeze({ origin: url.origin, prefix: url.pathname.replace(/\/+$/, '') })
}

/** base + path + query; `path` starts with `/`, so a prefix never produces `//`. */
export function upstreamUrl(base: UpstreamBase, path: string, search: string): string {
  return base.origin + base.prefix + path + search
}
