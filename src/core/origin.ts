/**
 * @module Requests a cookie authenticates, from other origins. Browsers attach cookies to requests
 * other sites' pages make: a form that posts across sites (cross-site request forgery), a
 * WebSocket any page opens and then reads (cross-site WebSocket hijacking; CORS does not apply to
 * WebSockets). Such a request must come from the gateway's own origin, or from one CORS lets send
 * credentials (`JWTGATE_CORS_CREDENTIALS`). A request without `Origin` is no browser's; a bearer
 * token in a header is no ambient credential (a page has to hold it to send it).
 */
import type { Config } from './config/types.ts'
import { originAllowed } from './cors.ts'
import type { Decision } from './decide.ts'
import { GatewayError } from './errors.ts'
import { forwardedHost, forwardedProto } from './proxy/headers.ts'

/** The origin a request was sent to: a host, and the scheme it was reached with. */
export interface OwnOrigin {
  readonly host: string | null
  readonly protocol: 'http' | 'https'
}

/** What a cookie-authenticated request from another origin that may change state is refused with. */
export const CROSS_SITE =
  'A request authenticated by a cookie that may change state (not GET, HEAD or OPTIONS) must come from an allowed origin.'

/** Methods that change nothing (RFC 9110 §9.2.1): a cross-site one is no forgery. */
const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS'])

/** True for a request a token cookie authenticated: the credential a browser sends by itself. */
export function isCookieLogin(decision: Decision): boolean {
  return decision.found?.source.kind === 'cookie'
}

/**
 * True for a request a cookie authenticated whose method may change state: the one cross-site
 * forgery can use (checkOrigin decides). Cheap: most requests carry no cookie token.
 */
export function isCookieWrite(decision: Decision, method: string): boolean {
  return isCookieLogin(decision) && !SAFE_METHODS.has(method)
}

/**
 * The host and scheme the client used: its `Host` over the connection's protocol, or behind
 * trusted proxies the `X-Forwarded-Proto`/`-Host` the outermost of them wrote — what the upstream
 * is told (headers.ts). Else a TLS-terminating proxy in front would make every http page the
 * gateway's own origin. Without `Host` (HTTP/2 under Deno: the authority is only in the URL), the
 * authority of `url` — a browser wrote it, as it writes a Host.
 */
export function ownOrigin(
  config: Config,
  request: Request,
  protocol: 'http' | 'https',
): OwnOrigin {
  const h = request.headers
  const host = h.get('host') ?? authorityOf(request.url)
  const trusted = config.trustedProxies
  if (trusted === 0) return { host, protocol }
  const proto = forwardedProto(h.get('x-forwarded-proto'), protocol, trusted)
  return {
    host: forwardedHost(h.get('x-forwarded-host'), host, trusted),
    protocol: proto === 'https' ? 'https' : 'http',
  }
}

/**
 * The scheme a guarded handler's request came in with when its server did not say (`info.protocol`):
 * its URL's (an embedding app's own server builds it), https for any other.
 */
export function urlProtocol(url: string): 'http' | 'https' {
  return url.startsWith('http:') ? 'http' : 'https'
}

/** The authority of an absolute URL (`https://a.example:8443/x` → `a.example:8443`); else null. */
function authorityOf(url: string): string | null {
  const start = url.indexOf('//')
  if (start < 0 || !/^[a-z][a-z0-9+.-]*:$/i.test(url.slice(0, start))) return null
  const end = url.indexOf('/', start + 2)
  const authority = end < 0 ? url.slice(start + 2) : url.slice(start + 2, end)
  return authority === '' ? null : authority
}

/**
 * The origin a forward-authentication check asks about: the asking proxy's `X-Forwarded-Host` and
 * `-Proto` (it is one more trusted hop, as for the check's client), else the check's `Host` over
 * http.
 */
export function checkedOrigin(config: Config, h: Headers): OwnOrigin {
  const proto = forwardedProto(h.get('x-forwarded-proto'), 'http', config.trustedProxies + 1)
  return {
    host: h.get('x-forwarded-host') ?? h.get('host'),
    protocol: proto === 'https' ? 'https' : 'http',
  }
}

/**
 * Throws 403 `origin_rejected` (with `detail`) unless the request's `Origin` is absent, `own` —
 * the host it was sent to over https, or over http when the client connected with http (never an
 * http page for a gateway reached over https) — or one CORS lets send credentials. For requests a
 * cookie authenticated; the caller checks that.
 */
export function checkOrigin(config: Config, h: Headers, own: OwnOrigin, detail: string): void {
  const origin = h.get('origin')
  if (origin === null) return
  const cors = config.cors
  if (cors !== undefined && cors.credentials && originAllowed(cors, origin)) return
  if (!sameOrigin(origin, own.host, own.protocol)) {
    throw new GatewayError('origin_rejected', 403, detail)
  }
}

/** True when `origin` is `host` over https (or http, for a client that connected with http). */
function sameOrigin(origin: string, host: string | null, protocol: 'http' | 'https'): boolean {
  if (host === null) return false
  let o: URL
  let own: URL
  try {
    o = new URL(origin)
    if (o.protocol !== 'https:' && !(o.protocol === 'http:' && protocol === 'http')) return false
    // The Host header parsed as the origin's scheme would: default ports drop out, case folds.
    own = new URL(`${o.protocol}//${host}`)
  } catch {
    return false
  }
  return o.origin === own.origin
}
