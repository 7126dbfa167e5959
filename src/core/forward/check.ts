/**
 * @module Forward authentication: a check another proxy asks for ("may this request pass?") —
 * nginx `auth_request`, Caddy `forward_auth`, Traefik `ForwardAuth`, Envoy's HTTP `ext_authz`.
 * What is checked comes from the asking proxy: the original method and URI in its headers
 * (`X-Original-Method` / `X-Original-URI`: nginx; `X-Forwarded-Method` / `X-Forwarded-Uri`:
 * Traefik, Caddy), or, without them, the check request's own method and path below the check
 * path (Envoy sends the original path after its `path_prefix`). The token is in the check
 * request's headers, which the proxies copy from the client's request.
 *
 * Those headers decide the answer, so a check is taken only from the callers the operator trusts
 * (JWTGATE_AUTH_CALLERS; by default loopback and the listener's own networks): anyone else is 403
 * `untrusted_caller`. Clients' own headers reach the check too — a client could send
 * `X-Original-URI` through Caddy, which sets only `X-Forwarded-Uri` — so a check carrying both
 * conventions is refused (400), unless JWTGATE_AUTH_HEADERS pins one and the other is ignored
 * (`path` pins Envoy's: both header conventions ignored). Unpinned, a check whose own path lies
 * below the check path is Envoy's: decided on that path, whatever headers it carries.
 *
 * The asking proxy forwards the client's request as it came, headers included: a header the
 * backend reads as another method or path than the one checked cannot be taken off it here, as a
 * proxied request's is, so a check carrying one is refused (OVERRIDES).
 */
import type { ForwardAuthConfig } from '../config/types.ts'
import { BadRequestError, GatewayError } from '../errors.ts'
import { OVERRIDE_HEADERS } from '../proxy/headers.ts'
import { rawTarget } from '../routing/path.ts'
import type { AddressSet } from './addresses.ts'

/** What a check asks about: the original request's method and request-target. */
export interface Check {
  readonly method: string
  /** Path and query, as the client sent them (normalised afterwards like any request's). */
  readonly uri: string
}

/** The check settings in running form. */
export interface ForwardAuth {
  readonly config: ForwardAuthConfig
  /** Every request is a check (auth mode), or only those to `config.path` (proxy mode). */
  readonly everyRequest: boolean
  readonly callers: AddressSet
}

/**
 * Of OVERRIDE_HEADERS, those the asking proxies set themselves: the conventions' own, Traefik's
 * prefix, Envoy's original path. A check carries them; the asking proxy decides what goes on.
 */
const SET_BY_PROXIES: ReadonlySet<string> = new Set([
  'x-original-method',
  'x-original-uri',
  'x-forwarded-uri',
  'x-forwarded-prefix',
  'x-forwarded-path',
  'x-envoy-original-path',
])

/**
 * Headers a backend reads as another method (X-HTTP-Method-Override and its variants: Symfony,
 * Laravel, Express's method-override) or path (X-Original-URL, X-Rewrite-URL: Symfony, IIS), or
 * as its own outgoing proxy (`Proxy`: httpoxy): the rest of OVERRIDE_HEADERS, which a proxied
 * request goes without.
 */
const OVERRIDES: readonly string[] = OVERRIDE_HEADERS.filter((name) => !SET_BY_PROXIES.has(name))

/** The path part of a request-target (before `?`). */
function pathOf(target: string): string {
  const q = target.indexOf('?')
  return q < 0 ? target : target.slice(0, q)
}

/**
 * The check `request` asks for; undefined when it is not a check (proxy mode, another path).
 * Throws 403 `untrusted_caller`, 400 `override_header_not_supported`, `auth_headers_conflict` or
 * `auth_headers_missing`.
 */
export function checkOf(
  auth: ForwardAuth,
  request: Request,
  caller: string | undefined,
): Check | undefined {
  const prefix = auth.config.path
  const target = rawTarget(request.url)
  let below: string | undefined
  /** The check's own path is longer than the check path: it carries the original (Envoy's). */
  let carriesPath = false
  if (prefix !== undefined) {
    const path = pathOf(target)
    if (path === prefix || path.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`)) {
      const rest = target.slice(prefix.length)
      below = rest.startsWith('/') ? rest : `/${rest}`
      carriesPath = path.length > prefix.length
    }
  }
  if (below === undefined && !auth.everyRequest) return undefined
  if (!auth.callers.has(caller)) {
    throw new GatewayError(
      'untrusted_caller',
      403,
      'Checks are answered only for the proxies configured in JWTGATE_AUTH_CALLERS.',
    )
  }
  const h = request.headers
  for (const name of OVERRIDES) {
    if (h.has(name)) {
      throw new BadRequestError(
        'override_header_not_supported',
        'The request carries a header a backend reads as another method, path or proxy (X-HTTP-Method-Override, X-Original-URL, Proxy, ...): the proxy in front would pass it on; remove it there.',
      )
    }
  }
  const pinned = auth.config.headers
  if (pinned === 'path' || (pinned === undefined && carriesPath)) {
    return { method: request.method, uri: below ?? target }
  }
  const original = pair(h.get('x-original-method'), h.get('x-original-uri'))
  const forwarded = pair(h.get('x-forwarded-method'), h.get('x-forwarded-uri'))
  const chosen = pinned === 'original'
    ? original
    : pinned === 'forwarded'
    ? forwarded
    : original !== undefined && forwarded !== undefined
    ? conflict()
    : original ?? forwarded
  if (chosen === undefined) {
    if (pinned !== undefined) {
      throw new BadRequestError(
        'auth_headers_missing',
        `A check needs the ${
          pinned === 'original'
            ? 'X-Original-Method and X-Original-URI'
            : 'X-Forwarded-Method and X-Forwarded-Uri'
        } headers.`,
      )
    }
    return { method: request.method, uri: below ?? target }
  }
  if (chosen.method === null || chosen.uri === null) {
    throw new BadRequestError(
      'auth_headers_missing',
      'A check needs both the original method and the original URI.',
    )
  }
  // As sent: methods are case-sensitive (RFC 9110 §9.1), and a lower-case one is refused (405)
  // here as on a proxied request, not decided as its upper-case namesake.
  return { method: chosen.method, uri: chosen.uri }
}

function pair(method: string | null, uri: string | null) {
  return method === null && uri === null ? undefined : { method, uri }
}

function conflict(): never {
  throw new BadRequestError(
    'auth_headers_conflict',
    'The check carries both X-Original-* and X-Forwarded-* headers; set JWTGATE_AUTH_HEADERS to the ones your proxy sends.',
  )
}
