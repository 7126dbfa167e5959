/**
 * @module Header hygiene for both directions of the proxy: hop-by-hop removal (RFC 9110 §7.6.1),
 * the gateway's own headers (X-Forwarded-*, X-Request-Id, claim headers) set after the client's
 * copies are removed.
 */
import { LimitError } from '../errors.ts'

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

/** Headers the gateway writes itself; a client's copy never reaches the upstream. */
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
]

/**
 * Headers that let a client tell a backend to act on another path or method than the one the
 * gateway evaluated; never forwarded.
 */
export const OVERRIDE_HEADERS: readonly string[] = [
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
const CONNECTION_PROTECTED = new Set(['authorization', 'cookie', 'host', 'content-length', 'content-type', 'content-encoding', ...GATEWAY_HEADERS])

/** Folds a header name the way some backends do (`X_User.Id` ~ `x-user-id`). */
export function foldHeaderName(name: string): string {
  return name.toLowerCase().replace(/[_.]/g, '-')
}

/**
 * Removes hop-by-hop headers and every header that `Connection` names (the response direction:
 * the upstream is trusted to name what it likes). Asking for each name allocates nothing; going
 * through the header list would make a string of every name (measured: no faster either).
 */
export function removeHopByHop(headers: Headers): void {
  const connection = headers.get('connection')
  if (connection !== null) {
    for (const name of connection.split(',')) {
      const n = name.trim().toLowerCase()
      if (n !== '') headers.delete(n)
    }
  }
  for (const name of HOP_BY_HOP) if (headers.has(name)) headers.delete(name)
}

/** The authority of an absolute URL. */
function urlHost(url: string): string {
  const start = url.indexOf('://') + 3
  const end = url.indexOf('/', start)
  return url.slice(start, end < 0 ? undefined : end)
}

/** What the gateway adds to the upstream request, all computed before the headers are built. */
export interface ForwardContext {
  readonly clientAddress: string | undefined
  readonly proto: string
  /** The request's URL: its authority is X-Forwarded-Host when there is no Host header (a Request built in code). */
  readonly url: string
  readonly requestId: string
  /** Client-sent forwarding headers are kept only behind this many trusted proxies. */
  readonly trustedProxies: number
}

/** What of the client's headers never goes upstream beyond the fixed lists. */
export interface HeaderFilter {
  /** Claim headers of every route, folded: the client's copies, in any spelling. */
  readonly strip: ReadonlySet<string>
  /** Leave out an `Authorization: Bearer …` (the token is not forwarded). */
  readonly dropBearer: boolean
  /** Custom token headers to leave out (the token is not forwarded). */
  readonly dropHeaders: ReadonlySet<string>
  /** The largest total size of the request's header fields (431 above). */
  readonly maxBytes: number
}

/**
 * `X-Forwarded-For` for the upstream: the last `trusted` entries the client's value carries (the
 * ones trusted proxies appended), then the address of the peer that connected to us.
 */
export function forwardedFor(clientValue: string | null, clientAddress: string | undefined, trusted: number): string | undefined {
  if (trusted === 0 || clientValue === null) return clientAddress
  const kept =
    clientValue
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '')
      .slice(-trusted)
  if (clientAddress !== undefined) kept.push(clientAddress)
  return kept.length > 0 ? kept.join(', ') : undefined
}

/** Names never copied from the client: hop-by-hop, the gateway's own, overrides, and Host. */
const NOT_FORWARDED = new Set([...HOP_BY_HOP, ...GATEWAY_HEADERS, ...OVERRIDE_HEADERS, 'host'])

/** The names a client's `Connection` header lists, less the protected ones. */
function connectionNames(connection: string | null): Set<string> | undefined {
  if (connection === null) return undefined
  const names = new Set<string>()
  for (const name of connection.split(',')) {
    const n = name.trim().toLowerCase()
    if (n !== '' && !CONNECTION_PROTECTED.has(n)) names.add(n)
  }
  return names
}

/**
 * The upstream request's headers, built in one pass over the client's, which also enforces
 * `maxBytes` on the request's header fields (431; checked here, on the way upstream, so that no
 * request pays a second pass over its headers). Order matters: the
 * client's hop-by-hop headers, those its `Connection` names, its copies of `strip` (claim
 * headers, in any folded spelling) and of the gateway's own headers are left out; only then does
 * the gateway set its own. So a client's `Connection: X-User-Id` can only remove its own copy.
 */
export function upstreamHeaders(incoming: Headers, ctx: ForwardContext, filter: HeaderFilter): Headers {
  // A copy, then deletions: the runtime copies the list in one call, and most requests have few
  // names to drop (Host, Authorization) but may have many to keep. The loop reads the client's
  // headers and deletes from the copy.
  const headers = new Headers(incoming)
  let clientXff: string | null = null
  let clientProto: string | null = null
  let clientHost: string | null = null
  let host: string | null = null
  let connection: string | null = null
  let bytes = 0
  for (const [name, value] of incoming) {
    // The same pass measures the request's header fields (`name: value\r\n`).
    bytes += name.length + value.length + 4
    if (NOT_FORWARDED.has(name)) {
      if (name === 'host') host = value
      else if (name === 'connection') connection = value
      else if (name === 'x-forwarded-for') clientXff = value
      else if (name === 'x-forwarded-proto') clientProto = value
      else if (name === 'x-forwarded-host') clientHost = value
    } else if (
      !filter.strip.has(name) &&
      !filter.dropHeaders.has(name) &&
      !(name === 'authorization' && filter.dropBearer && value.slice(0, 7).toLowerCase() === 'bearer ') &&
      !((name.includes('_') || name.includes('.')) && filter.strip.has(foldHeaderName(name)))
    ) {
      continue
    }
    headers.delete(name)
  }
  if (bytes > filter.maxBytes) throw new LimitError('headers_too_large', 'The request headers are too large.')
  const named = connectionNames(connection)
  if (named !== undefined) for (const name of named) headers.delete(name)
  // None of these came from the client (NOT_FORWARDED): append, no search.
  const xff = forwardedFor(clientXff, ctx.clientAddress, ctx.trustedProxies)
  if (xff !== undefined) headers.append('x-forwarded-for', xff)
  const behindProxy = ctx.trustedProxies > 0
  headers.append('x-forwarded-proto', behindProxy && clientProto !== null ? clientProto : ctx.proto)
  headers.append('x-forwarded-host', behindProxy && clientHost !== null ? clientHost : (host ?? urlHost(ctx.url)))
  headers.append('x-request-id', ctx.requestId)
  return headers
}

/**
 * The client response's headers: the upstream's less hop-by-hop ones. When the runtime's fetch
 * decoded the body, its `Content-Encoding` and `Content-Length` no longer describe it and go too.
 */
export function downstreamHeaders(upstream: Headers, bodyDecoded: boolean, requestId: string): Headers {
  const headers = new Headers(upstream)
  cleanDownstream(headers, bodyDecoded, requestId)
  return headers
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
