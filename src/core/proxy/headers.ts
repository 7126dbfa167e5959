/**
 * @module Header hygiene for both directions of the proxy: hop-by-hop removal (RFC 9110 §7.6.1),
 * the gateway's own headers (X-Forwarded-*, X-Request-Id, claim headers) set after the client's
 * copies are removed.
 */
import { isToken } from '../syntax.ts'
import { sameSource, type TokenHeader, type TokenSource } from '../auth/token.ts'
import { BadRequestError, LimitError } from '../errors.ts'
import { isHostValue } from '../routing/host.ts'

/** RFC 9110 §7.6.1 hop-by-hop fields, plus the de-facto Proxy-Connection and Keep-Alive. */
export const HOP_BY_HOP: readonly string[] = [
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]

/**
 * Headers the gateway writes itself; a client's copy never reaches the upstream. With trusted
 * proxies, the hops' `X-Forwarded-For` entries, `X-Forwarded-Proto` and `X-Forwarded-Host` are
 * read (upstreamHeaders) and written again; never passed on as the client sent them.
 */
export const GATEWAY_HEADERS: readonly string[] = [
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'forwarded',
  'x-real-ip',
  'x-request-id',
  // Client-address headers some platforms and backends trust.
  'true-client-ip',
  'x-client-ip',
  'cf-connecting-ip',
  'fastly-client-ip',
  'x-cluster-client-ip',
  'client-ip', // PHP's HTTP_CLIENT_IP, read first by common "real IP" code
  'x-forwarded', // the family without a suffix (the `x-forwarded-` prefix misses it)
  'forwarded-for',
  'x-originating-ip',
  'x-proxyuser-ip',
  'x-original-forwarded-for', // ingress-nginx's copy of the client's X-Forwarded-For
]

/**
 * Identity and connection headers that other gateways and TLS terminators set for their backends
 * (oauth2-proxy, Envoy, Traefik, Apache, nginx, IIS, Authelia, Authentik, Pomerium, Grafana,
 * Kubernetes, cloud front ends); a backend written for one of them trusts what they say. A
 * client's copy never goes upstream. Names here, prefixes in IDENTITY_PREFIXES; SECURITY.md says
 * whose each is.
 */
export const IDENTITY_HEADERS: readonly string[] = [
  'client-cert',
  'client-cert-chain',
  'x-client-verify',
  'x-client-dn',
  'x-arr-clientcert',
  'x-arr-ssl',
  'ms-aspnetcore-clientcert',
  'x-ssl',
  'x-scheme',
  'x-url-scheme',
  'front-end-https',
  'x-user',
  'x-email',
  'x-auth-username',
  'x-auth-groups',
  // Kong: the authenticated consumer and credential.
  'x-consumer-id',
  'x-consumer-custom-id',
  'x-consumer-username',
  'x-consumer-groups',
  'x-credential-identifier',
  'x-anonymous-consumer',
  'x-authenticated-userid',
  'x-authenticated-scope',
  'x-authenticated-groups',
  'x-userinfo',
]

/**
 * Prefixes of the same: every `X-Forwarded-*` (oauth2-proxy's `-User`, `-Email`, `-Groups`,
 * `-Access-Token`; Rack's `-Ssl`, `-Scheme`; Traefik's `-Server`, `-Tls-Client-Cert`; Envoy's
 * `-Client-Cert`; …) and the families below. Narrow on purpose: `x-auth-`, `x-goog-`, `x-ms-`,
 * `x-amzn-` and `cf-` would take clients' own headers (`X-Auth-Token`, `x-goog-api-key`,
 * `x-ms-version`, `x-amzn-trace-id`, `CF-Visitor`).
 */
export const IDENTITY_PREFIXES: readonly string[] = [
  'x-forwarded-',
  'x-auth-request-',
  'x-envoy-',
  'x-ssl-',
  'ssl-client-',
  'x-client-cert',
  'remote-',
  'x-remote-',
  'x-webauth-',
  'gap-',
  'x-pomerium-',
  'x-authentik-',
  'cf-access-',
  'x-goog-iap-',
  'x-goog-authenticated-user-',
  'x-amzn-oidc-',
  'x-amzn-lattice-',
  'x-ms-client-principal',
  'x-ms-token-',
  'x-vouch-',
]

/**
 * Prefixes a client's header never goes upstream with: `Proxy-*` (Proxy-Authorization and
 * Proxy-Connection are hop-by-hop, and no other is the backend's to read) and IDENTITY_PREFIXES.
 */
export const NOT_FORWARDED_PREFIXES: readonly string[] = ['proxy-', ...IDENTITY_PREFIXES]

/** The operator's own headers to strip (JWTGATE_STRIP_HEADERS, `stripHeaders`): names and prefixes, lower-cased. */
export interface StripHeaders {
  /** Exact header names. */
  readonly names: readonly string[]
  /** From `X-Internal-*`: `x-internal-`. */
  readonly prefixes: readonly string[]
}

/** Why `item` (a header name, or a prefix ending in `*`) cannot be stripped, or undefined. */
export function stripItemProblem(item: string): string | undefined {
  const name = item.endsWith('*') ? item.slice(0, -1) : item
  if (name === '') {
    return `${
      JSON.stringify(item)
    } would remove every header; name a header or a prefix such as X-Internal-*`
  }
  return isToken(name)
    ? undefined
    : `${JSON.stringify(item)} is not a header name or a prefix such as X-Internal-*`
}

/** Parses checked items: `X-Name` → a name, `X-Prefix-*` → a prefix. */
export function parseStripHeaders(items: readonly string[]): StripHeaders {
  const names: string[] = []
  const prefixes: string[] = []
  for (const item of items) {
    if (item.endsWith('*')) prefixes.push(item.slice(0, -1).toLowerCase())
    else names.push(item.toLowerCase())
  }
  return { names, prefixes }
}

/**
 * Header-name prefixes, grouped by their first character: a name is compared only with the
 * prefixes that start like it, so the common headers (`accept`, `authorization`, …) cost one
 * array lookup instead of a comparison with every prefix.
 */
export class Prefixes {
  readonly #byFirst: string[][] = []
  /** The prefixes, lower-cased, none empty. */
  readonly list: readonly string[]

  constructor(list: readonly string[]) {
    this.list = list
    for (const prefix of list) (this.#byFirst[prefix.charCodeAt(0)] ??= []).push(prefix)
  }

  /** True when `name` starts with one of the prefixes. */
  matches(name: string): boolean {
    const candidates = this.#byFirst[name.charCodeAt(0)]
    if (candidates === undefined) return false
    for (let i = 0; i < candidates.length; i++) if (name.startsWith(candidates[i]!)) return true
    return false
  }
}

/**
 * Headers that let a client tell a backend to act on another path or method than the one the
 * gateway evaluated, or to send its own requests through another proxy; never forwarded.
 */
export const OVERRIDE_HEADERS: readonly string[] = [
  // httpoxy: CGI turns `Proxy` into HTTP_PROXY, which HTTP clients in the backend then use for
  // their own outgoing requests.
  'proxy',
  'x-original-url',
  'x-rewrite-url',
  'x-forwarded-uri',
  'x-forwarded-prefix',
  'x-forwarded-path',
  'x-original-uri',
  'x-original-method',
  'x-envoy-original-path',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
]

/**
 * End-to-end headers a client's `Connection` may not name (the names are ignored): those the
 * gateway relies on or sets itself.
 */
const CONNECTION_PROTECTED = new Set([
  'authorization',
  'cookie',
  'host',
  'content-length',
  'content-type',
  'content-encoding',
  ...GATEWAY_HEADERS,
])

/** Folds a header name the way some backends do (`X_User.Id` ~ `x-user-id`). */
export function foldHeaderName(name: string): string {
  return name.toLowerCase().replace(/[_.]/g, '-')
}

/**
 * A name with `_` or `.` that a backend would fold into a name left out: stripped, never
 * forwarded, under a prefix left out, or a token header's (only the exact name's copy can be the
 * verified one).
 */
function folded(name: string, filter: HeaderFilter): boolean {
  const f = foldHeaderName(name)
  return filter.strip.has(f) || NOT_FORWARDED.has(f) || filter.prefixes.matches(f) ||
    filter.tokenHeaders.has(f)
}

/**
 * Removes hop-by-hop headers and every header that `Connection` names (the response direction:
 * the upstream is trusted to name what it likes). Deleting each name allocates nothing, and costs
 * what asking for it would (so no `has` first); going through the header list would make a string
 * of every name (measured: no faster either).
 */
export function removeHopByHop(headers: Headers): void {
  const connection = headers.get('connection')
  if (connection !== null) {
    for (const name of connection.split(',')) {
      const n = name.trim().toLowerCase()
      // A listed name that is no field name (`a b`) names no header; deleting it would throw.
      if (n !== '' && isToken(n)) headers.delete(n)
    }
  }
  for (const name of HOP_BY_HOP) headers.delete(name)
}

/** What the gateway adds to the upstream request, all computed before the headers are built. */
export interface ForwardContext {
  readonly clientAddress: string | undefined
  readonly proto: string
  readonly requestId: string
  /** Client-sent forwarding headers are kept only behind this many trusted proxies. */
  readonly trustedProxies: number
  /**
   * The token source whose copy was verified and goes upstream (JWTGATE_FORWARD_TOKEN=true);
   * every other token source is left out. Undefined: no token goes upstream.
   */
  readonly keptToken: TokenSource | undefined
  /** The client's Accept-Encoding goes upstream (false where the runtime's fetch negotiates codings). */
  readonly acceptEncoding: boolean
}

/** What of the client's headers never goes upstream beyond the fixed lists. */
export interface HeaderFilter {
  /**
   * Claim headers of every route and the operator's strip list, folded: the client's copies, in
   * any spelling.
   */
  readonly strip: ReadonlySet<string>
  /** Prefixes left out: NOT_FORWARDED_PREFIXES and the operator's `Name-*` entries. */
  readonly prefixes: Prefixes
  /**
   * Headers that tokens travel in (Authorization, custom token headers), by lower-cased name: a
   * value that carries a token goes upstream only as the kept token.
   */
  readonly tokenHeaders: ReadonlyMap<string, TokenHeader>
  /** The largest total size of the request's header fields (431 above). */
  readonly maxBytes: number
}

/**
 * `X-Forwarded-For` for the upstream: the last `trusted` entries the client's value carries (the
 * ones trusted proxies appended), then the address of the peer that connected to us.
 */
export function forwardedFor(
  clientValue: string | null,
  clientAddress: string | undefined,
  trusted: number,
): string | undefined {
  if (trusted === 0 || clientValue === null) return clientAddress
  const kept = clientValue
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .slice(-trusted)
  if (clientAddress !== undefined) kept.push(clientAddress)
  return kept.length > 0 ? kept.join(', ') : undefined
}

/**
 * `X-Forwarded-Host` behind `trusted` proxies: the client's value when it is one `host[:port]`
 * (what the outermost proxy wrote), else the request's own `Host`; without trusted proxies, always
 * the own one.
 */
export function forwardedHost(
  clientValue: string | null,
  own: string | null,
  trusted: number,
): string | null {
  return trusted > 0 && clientValue !== null && isHostValue(clientValue) ? clientValue : own
}

/**
 * `X-Forwarded-Proto` behind `trusted` proxies: the entry the outermost of them wrote (the
 * `trusted`-th from the end; the first when there are fewer — proxies that replace the header
 * leave one), when it is `http` or `https`; else the scheme of our own connection. A list
 * (`https, http`) is never passed on: a backend reads its first entry, which a client writes
 * when a proxy appends instead of replacing.
 */
export function forwardedProto(clientValue: string | null, own: string, trusted: number): string {
  if (clientValue === null) return own
  const entries = clientValue.split(',')
  const proto = entries[Math.max(0, entries.length - trusted)]!.trim().toLowerCase()
  return proto === 'http' || proto === 'https' ? proto : own
}

/**
 * The client's address behind `trusted` proxies: the `X-Forwarded-For` entry the outermost
 * trusted proxy appended (the `trusted`-th from the end), or the connection's peer without
 * trusted proxies or when the header has fewer entries than that (no trusted hop wrote one).
 * Entries before it are the client's own writing and never count.
 */
export function forwardedClient(
  clientValue: string | null,
  peer: string | undefined,
  trusted: number,
): string | undefined {
  if (trusted === 0 || clientValue === null) return peer
  const entries = clientValue.split(',')
  const entry = entries.length >= trusted ? entries[entries.length - trusted]!.trim() : ''
  return entry === '' ? peer : entry
}

/** Names never copied from the client: hop-by-hop, the gateway's own, overrides, identities, and Host. */
const NOT_FORWARDED = new Set([
  ...HOP_BY_HOP,
  ...GATEWAY_HEADERS,
  ...OVERRIDE_HEADERS,
  ...IDENTITY_HEADERS,
  'host',
])

/** The names a client's `Connection` header lists, less the protected ones. */
function connectionNames(connection: string | null): Set<string> | undefined {
  if (connection === null) return undefined
  const names = new Set<string>()
  for (const name of connection.split(',')) {
    const n = name.trim().toLowerCase()
    // A listed name that is no field name (`a b`) names no header; deleting it would throw.
    if (n !== '' && isToken(n) && !CONNECTION_PROTECTED.has(n)) names.add(n)
  }
  return names
}

/** A token in a header that is not the kept (verified, forwarded) copy. */
function droppedToken(
  header: TokenHeader | undefined,
  value: string,
  kept: TokenSource | undefined,
): boolean {
  return header !== undefined && header.carries(value) && !sameSource(header.source, kept)
}

/**
 * A request announcing trailer fields is refused before anything is sent: trailers are never
 * forwarded, and Bun's parser answers 400 on them only after the request went upstream (SECURITY.md).
 */
const TRAILERS = () =>
  new BadRequestError('trailers_not_supported', 'Request trailer fields are not supported.')
/**
 * A request body transfer-coded other than `chunked` (`gzip, chunked`): Bun refuses one, Deno's
 * and Node's servers undo the chunking and hand the rest over still coded, which would go
 * upstream as if it were the body (RFC 9112 §6.1: a coding not understood is refused).
 */
const TRANSFER_CODING = () =>
  new BadRequestError(
    'transfer_coding_not_supported',
    'Only the chunked transfer coding is supported.',
  )

/** True for a Transfer-Encoding of the chunked coding alone. */
const isChunked = (coding: string) => coding.trim().toLowerCase() === 'chunked'

/**
 * Throws 400 for a request whose body framing a handler would read otherwise than announced:
 * trailer fields, or a transfer coding but `chunked` — for guarded handlers, which the header
 * pass (upstreamHeaders, where proxied requests are checked) does not see.
 */
export function checkFraming(headers: Headers): void {
  if (headers.get('trailer') !== null) throw TRAILERS()
  const coding = headers.get('transfer-encoding')
  if (coding !== null && !isChunked(coding)) throw TRANSFER_CODING()
}

/**
 * How a runtime builds a header list fastest: `copy` the client's in one call and delete what is
 * left out (a copy is one native call), `append` what is kept to an empty one (Deno, whose
 * `new Headers(headers)` costs ~8 µs where appending four headers costs ~1.4), or `edit` the
 * client request's own headers, which a proxied request no longer needs (Bun, whose request
 * headers are mutable: the copy costs ~1.6 µs of CPU per request under load, measured). Where the
 * client's headers are still needed afterwards (a WebSocket handshake's), `edit` copies.
 */
export type HeaderBuild = 'copy' | 'append' | 'edit'

/** The one pass over the client's headers (`Headers.forEach` with this as `this`: no closure, no entry arrays). */
interface Pass {
  readonly filter: HeaderFilter
  readonly kept: TokenSource | undefined
  readonly acceptEncoding: boolean
  /** The headers being built; with `copy` or `edit`, the list to delete from. */
  readonly out: Headers
  readonly build: HeaderBuild
  /** With `edit`: the names to delete once the pass is over (deleting while iterating skips names). */
  drop: string[] | undefined
  bytes: number
  clientXff: string | null
  clientProto: string | null
  clientHost: string | null
  host: string | null
  connection: string | null
  trailer: boolean
  /** A Transfer-Encoding other than `chunked` was sent. */
  coded: boolean
}

/** Decides one client header: remembers what the gateway reads, and leaves out what never goes. */
function visit(this: Pass, value: string, name: string): void {
  // The same pass measures the request's header fields (`name: value\r\n`).
  this.bytes += name.length + value.length + 4
  const filter = this.filter
  if (NOT_FORWARDED.has(name)) {
    if (name === 'host') this.host = value
    else if (name === 'connection') this.connection = value
    else if (name === 'trailer') this.trailer = true
    else if (name === 'transfer-encoding') this.coded ||= !isChunked(value)
    else if (name === 'x-forwarded-for') this.clientXff = value
    else if (name === 'x-forwarded-proto') this.clientProto = value
    else if (name === 'x-forwarded-host') this.clientHost = value
  } else if (
    !filter.strip.has(name) &&
    !filter.prefixes.matches(name) &&
    !droppedToken(filter.tokenHeaders.get(name), value, this.kept) &&
    (this.acceptEncoding || name !== 'accept-encoding') &&
    !((name.includes('_') || name.includes('.')) && folded(name, filter))
  ) {
    if (this.build === 'append') this.out.append(name, value)
    return
  }
  if (this.build === 'copy') this.out.delete(name)
  else if (this.build === 'edit') (this.drop ??= []).push(name)
}

/**
 * The upstream request's headers, built in one pass over the client's, which also enforces
 * `maxBytes` on the request's header fields (431; checked here, on the way upstream, so that no
 * request pays a second pass over its headers). Order matters: the
 * client's hop-by-hop headers, those its `Connection` names, its copies of `strip` (claim
 * headers, in any folded spelling) and of the gateway's own headers are left out; only then does
 * the gateway set its own. So a client's `Connection: X-User-Id` can only remove its own copy.
 */
export function upstreamHeaders(
  incoming: Headers,
  ctx: ForwardContext,
  filter: HeaderFilter,
  build: HeaderBuild = 'copy',
): Headers {
  const pass: Pass = {
    filter,
    kept: ctx.keptToken,
    acceptEncoding: ctx.acceptEncoding,
    out: build === 'edit' ? incoming : build === 'copy' ? new Headers(incoming) : new Headers(),
    build,
    drop: undefined,
    bytes: 0,
    clientXff: null,
    clientProto: null,
    clientHost: null,
    host: null,
    connection: null,
    trailer: false,
    coded: false,
  }
  incoming.forEach(visit, pass)
  if (pass.trailer) throw TRAILERS()
  if (pass.coded) throw TRANSFER_CODING()
  if (pass.bytes > filter.maxBytes) {
    throw new LimitError('headers_too_large', 'The request headers are too large.')
  }
  const headers = pass.out
  if (pass.drop !== undefined) { for (const name of pass.drop) headers.delete(name) }
  const named = connectionNames(pass.connection)
  if (named !== undefined) { for (const name of named) headers.delete(name) }
  // None of these came from the client (NOT_FORWARDED): append, no search.
  const xff = forwardedFor(pass.clientXff, ctx.clientAddress, ctx.trustedProxies)
  if (xff !== undefined) headers.append('x-forwarded-for', xff)
  const behindProxy = ctx.trustedProxies > 0
  headers.append(
    'x-forwarded-proto',
    behindProxy ? forwardedProto(pass.clientProto, ctx.proto, ctx.trustedProxies) : ctx.proto,
  )
  // Only from a Host header (checked by checkHost), never from the request-target: a request
  // without one gets none (see routing/host.ts for what the runtimes let through).
  const host = forwardedHost(pass.clientHost, pass.host, ctx.trustedProxies)
  if (host !== null) headers.append('x-forwarded-host', host)
  headers.append('x-request-id', ctx.requestId)
  return headers
}

/**
 * The client response's headers: the upstream's less hop-by-hop ones. When the runtime's fetch
 * decoded the body, its `Content-Encoding` and `Content-Length` no longer describe it and go too.
 */
export function downstreamHeaders(
  upstream: Headers,
  bodyDecoded: boolean,
  requestId: string,
  build: HeaderBuild = 'copy',
): Headers {
  let headers: Headers
  if (build !== 'append') headers = new Headers(upstream)
  else {
    headers = new Headers()
    upstream.forEach(appendTo, headers)
  }
  cleanDownstream(headers, bodyDecoded, requestId)
  return headers
}

/** Appends one header to `this` (Headers.forEach's callback: no closure per call). */
function appendTo(this: Headers, value: string, name: string): void {
  // set-cookie comes one value per call (Headers.forEach keeps them apart).
  this.append(name, value)
}

/**
 * The same cleaning done in place, for runtimes whose fetch responses have mutable headers (Bun):
 * the upstream response is then passed on without a copy. Throws where they are immutable (Deno).
 */
export function cleanDownstream(headers: Headers, bodyDecoded: boolean, requestId: string): void {
  removeHopByHop(headers)
  if (bodyDecoded) {
    headers.delete('content-encoding')
    headers.delete('content-length')
  }
  headers.set('x-request-id', requestId)
}

/** An incoming X-Request-Id worth keeping: 1–200 visible ASCII characters. */
export function acceptableRequestId(value: string | null): value is string {
  if (value === null || value.length === 0 || value.length > 200) return false
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c < 33 || c > 126) return false
  }
  return true
}
