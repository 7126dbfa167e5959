/**
 * @module CORS for browser clients (off unless origins are configured): preflights answered by
 * the gateway itself, without a token and never forwarded; the CORS headers added to every
 * answer to an allowed origin, 401 and 403 included, so browsers can read them. Configured, the
 * gateway's policy is the only one: the upstream's own `Access-Control-*` headers are dropped.
 * https://fetch.spec.whatwg.org/#http-cors-protocol
 */

/** CORS settings (JWTGATE_CORS_*, or the file's `cors`): which origins, methods and headers. */
export interface CorsConfig {
  /**
   * Exact origins (`https://app.example.com`), subdomain patterns (`*.example.com`: https only;
   * `http://*.example.com` for plain http), or `*`.
   */
  readonly origins: readonly string[]
  /** Methods a preflight may ask for. */
  readonly methods: readonly string[]
  /** Request headers a preflight may ask for. */
  readonly headers: readonly string[]
  /** Allow credentials (cookies, `Authorization`); never with `*`. */
  readonly credentials: boolean
  /** How long browsers may cache a preflight answer, in seconds. */
  readonly maxAgeSec: number
  /**
   * Response headers of the upstream's that scripts may read (`ETag`, `Location`, …), besides
   * the gateway's own (EXPOSED). The upstream's own `Access-Control-Expose-Headers` is not
   * taken: the gateway's policy is the only one.
   */
  readonly exposeHeaders: readonly string[]
}

/**
 * Response headers a browser script may read besides the CORS-safelisted ones: the gateway's own
 * (its refusals' `WWW-Authenticate` and `Retry-After`, the request id, the rate-limit state), and
 * `CorsConfig.exposeHeaders` (exposedOf).
 */
const EXPOSED = 'www-authenticate, x-request-id, retry-after, ratelimit, ratelimit-policy'

/** Each configuration's `Access-Control-Expose-Headers` value, built once. */
const exposedValues = new WeakMap<CorsConfig, string>()

/** The `Access-Control-Expose-Headers` value of `cors`. */
function exposedOf(cors: CorsConfig): string {
  let value = exposedValues.get(cors)
  if (value === undefined) {
    value = cors.exposeHeaders.length === 0
      ? EXPOSED
      : `${EXPOSED}, ${cors.exposeHeaders.join(', ')}`
    exposedValues.set(cors, value)
  }
  return value
}

/** A subdomain pattern: `*.example.com` (https), or with its scheme written out. */
const SUBDOMAINS = /^(?:(https?):\/\/)?\*(\.[a-z0-9.-]+)$/

/** Why an origin pattern is unusable, or undefined. */
export function originPatternProblem(pattern: string): string | undefined {
  if (pattern === '*') return undefined
  if (pattern.includes('*')) {
    const sub = SUBDOMAINS.exec(pattern)
    if (sub === null) {
      return `${JSON.stringify(pattern)} must look like *.example.com (or http://*.example.com)`
    }
    // A domain of two labels at least, none empty, not an address: `*.com` would let every .com
    // site in (and, with credentials, past the cookie-login origin rule), `*.0.0.1` 127.0.0.1.
    const labels = sub[2]!.slice(1).split('.')
    if (labels.length < 2 || labels.includes('') || /^\d+$/.test(labels.at(-1)!)) {
      return `${
        JSON.stringify(pattern)
      } must name the subdomains of one domain, such as *.example.com (not a top-level domain or an address)`
    }
    return undefined
  }
  try {
    const url = new URL(pattern)
    return url.origin === pattern
      ? undefined
      : `${
        JSON.stringify(pattern)
      } must be an origin such as https://app.example.com (no path, lower case)`
  } catch {
    return `${
      JSON.stringify(pattern)
    } must be an origin such as https://app.example.com, or *.example.com`
  }
}

/**
 * True when `origin` (a request's Origin header) is allowed. A subdomain pattern takes only its
 * scheme — https unless it says `http://` — so that `*.example.com` with credentials never lets a
 * page served over plain http (which anyone on its path can write) read credentialed answers.
 */
export function originAllowed(cors: CorsConfig, origin: string): boolean {
  for (const pattern of cors.origins) {
    if (pattern === '*' || pattern === origin) return true
    const sub = pattern.includes('*') ? SUBDOMAINS.exec(pattern) : null
    if (sub === null) continue
    const prefix = `${sub[1] ?? 'https'}://`
    if (!origin.startsWith(prefix)) continue
    const host = origin.slice(prefix.length).replace(/:\d+$/, '')
    const suffix = sub[2]!
    if (host.endsWith(suffix) && host.length > suffix.length) return true
  }
  return false
}

/** Adds the CORS headers for an allowed `origin` to a response's headers, `Vary: Origin` too. */
export function addCorsHeaders(cors: CorsConfig, origin: string, headers: Headers): void {
  setAllowances(cors, origin, headers)
  headers.append('vary', 'Origin')
}

/** The allowances for an allowed `origin`, without `Vary` (allowOrigin sets it on every answer). */
function setAllowances(cors: CorsConfig, origin: string, headers: Headers): void {
  headers.set(
    'access-control-allow-origin',
    cors.origins.includes('*') && !cors.credentials ? '*' : origin,
  )
  if (cors.credentials) headers.set('access-control-allow-credentials', 'true')
  headers.set('access-control-expose-headers', exposedOf(cors))
}

/** True for a CORS preflight: OPTIONS with an Origin and Access-Control-Request-Method. */
export function isPreflight(request: Request): boolean {
  return request.method === 'OPTIONS' && request.headers.has('origin') &&
    request.headers.has('access-control-request-method')
}

/** The gateway's answer to a preflight: 204 with the allowances, or 403 without any. */
export function preflightResponse(cors: CorsConfig, request: Request, requestId: string): Response {
  const origin = request.headers.get('origin')!
  const method = request.headers.get('access-control-request-method')!.trim()
  const asked = (request.headers.get('access-control-request-headers') ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter((h) => h !== '')
  const allowedHeaders = new Set(cors.headers.map((h) => h.toLowerCase()))
  const ok = originAllowed(cors, origin) && cors.methods.includes(method) &&
    asked.every((h) => allowedHeaders.has(h) || allowedHeaders.has('*'))
  const headers = new Headers({
    'x-request-id': requestId,
    vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
  })
  if (!ok) return new Response(null, { status: 403, headers })
  headers.set('access-control-allow-origin', origin)
  headers.set('access-control-allow-methods', cors.methods.join(', '))
  if (asked.length > 0) headers.set('access-control-allow-headers', asked.join(', '))
  if (cors.credentials) headers.set('access-control-allow-credentials', 'true')
  headers.set('access-control-max-age', String(cors.maxAgeSec))
  return new Response(null, { status: 204, headers })
}

/** Vary tokens that already cover `Origin`: itself, or `*`. */
const VARIES_BY_ORIGIN = /(?:^|,)\s*(?:origin|\*)\s*(?:,|$)/i

/**
 * The gateway's CORS answer on a response that is not a preflight's (401 and 403 included, so
 * that browsers can read them). The gateway's configuration is the only CORS policy: every
 * `Access-Control-*` header of the upstream's (or a guarded handler's) response is removed first,
 * so that an upstream reflecting any Origin, or allowing credentials, cannot widen it. The
 * allowances are added for an allowed `origin` (the request's, read before it was proxied: its
 * headers may have been edited on the way, HeaderBuild), and `Vary: Origin` on every answer, to a
 * missing or refused origin too: a cache must not give one origin's answer to another.
 */
export function allowOrigin(
  cors: CorsConfig,
  request: Request,
  origin: string | null,
  headers: Headers,
): void {
  if (isPreflight(request)) return
  let foreign: string[] | undefined
  for (const name of headers.keys()) {
    if (name.startsWith('access-control-')) (foreign ??= []).push(name)
  }
  if (foreign !== undefined) { for (const name of foreign) headers.delete(name) }
  if (origin !== null && originAllowed(cors, origin)) setAllowances(cors, origin, headers)
  const vary = headers.get('vary')
  if (vary === null) headers.set('vary', 'Origin')
  else if (!VARIES_BY_ORIGIN.test(vary)) headers.append('vary', 'Origin')
}
