/**
 * @module The proxy step: from an allowed decision to the client's response. Builds the upstream
 * request (headers, the verified token where it may go, claim headers, the body as it streams),
 * sends it (forward.ts), and hands back the upstream's response with what happened on the way —
 * the gateway writes its own record from that.
 */
import { removeToken, sameSource, type TokenSource } from '../auth/token.ts'
import type { Decision } from '../decide.ts'
import type { State } from '../state.ts'
import { type BodyEnd, requestBody, watchBody } from './body.ts'
import { claimHeaders } from './claim-headers.ts'
import { arrived, send, type UpstreamCall, upstreamFailure } from './forward.ts'
import { cleanDownstream, downstreamHeaders, type HeaderBuild, upstreamHeaders } from './headers.ts'
import { upstreamUrl } from './url.ts'
import type { Target } from '../routing/path.ts'
import { upstreamPath } from '../routing/rewrite.ts'

/** What the runtime provides for proxying (GatewayDeps, resolved once). */
export interface ProxyDeps {
  readonly fetch: typeof fetch
  readonly fetchInit: Readonly<Record<string, unknown>>
  readonly decodedEncodings: readonly string[]
  /** A list of codings is decoded too (GatewayDeps.decodesStackedEncodings). */
  readonly decodesStacked: boolean
  /** How this runtime builds header lists fastest (GatewayDeps.headerBuild). */
  readonly headerBuild: HeaderBuild
  readonly connectionIdleMs: number | undefined
  readonly now: () => number
  /**
   * This runtime's fetch responses have immutable headers (Deno's, undici's): they are copied, not
   * cleaned in place. Learned from the first response that refuses a change, then kept (a throw
   * per request costs ~7 µs of CPU under Deno, measured).
   */
  immutableResponses?: boolean
}

/** Facts about the client connection the upstream request carries. */
export interface Client {
  readonly address: string | undefined
  readonly protocol: 'http' | 'https'
  readonly requestId: string
}

const NO_RESPONSE = Response.error()

/**
 * What happened while proxying, created by sendProxied() and filled in as it goes: bytes and ends
 * arrive as the bodies stream, after the response was handed over. It is also the upstream call
 * (forward.ts) while the fetch is in flight. A class, so that the gateway tells it from a response
 * at a glance.
 */
export class Proxied implements UpstreamCall {
  /** The response for the client. */
  response: Response = NO_RESPONSE
  upstreamStatus: number | undefined = undefined
  /** Until the upstream's response headers. */
  upstreamSeconds: number | undefined = undefined
  /** The request body's size (from its Content-Length, or counted as it streamed), when known. */
  bytesIn: number | undefined = undefined
  /** The response body's size (from its Content-Length, or counted once it ended), when known. */
  bytesOut: number | undefined = undefined
  /** How a watched request body ended: a cap or an idle client explains a failed fetch. */
  requestBodyEnd: BodyEnd | undefined = undefined
  /** How a watched response body ended. */
  responseBodyEnd: BodyEnd | undefined = undefined
  /** Resolves when a watched response body has ended; undefined when it is not watched. */
  ended: Promise<void> | undefined = undefined
  /** When the request was sent (`performance.now()`): the upstream time counts from here. */
  sentAt = 0
  /** The fetch in flight (forward.ts). */
  pending: Promise<Response> | undefined = undefined
  /** The upstream deadline's slot and abort (forward.ts). */
  slot = -1
  controller: AbortController | undefined = undefined

  /** A record for a request to `upstream` (its name). */
  constructor(readonly upstream: string) {}
}

/**
 * Sends the decided request upstream: the record of it, with the fetch in flight (`pending`). Hand
 * the upstream's response to `received`, a rejection to `upstreamFailure` (forward.ts). Never
 * throws for the upstream's sake: a failed fetch is a rejected `pending`.
 */
export function sendProxied(
  deps: ProxyDeps,
  s: State,
  request: Request,
  target: Target,
  decision: Decision,
  client: Client,
): Proxied {
  const route = decision.route.route
  const upstream = s.upstreams.get(route.upstream)!
  const { headers, search } = forwarded(deps, s, request, target.search, decision, client)
  const p = new Proxied(upstream.name)
  // Only a body that has one: most requests carry none and need no Upload object.
  const upload = request.body === null
    ? undefined
    : { slot: -1, controller: undefined, timeoutMs: upstream.timeoutMs }
  const body = requestBody(request, s.config.limits, deps.connectionIdleMs, deps.now, p, upload)
  const path = upstreamPath(route, target.path, request.method, decision.params)
  p.sentAt = performance.now()
  send(
    p,
    request,
    body,
    upstreamUrl(upstream.base, path, search),
    headers,
    deps.fetch,
    deps.fetchInit,
    upstream.timeoutMs,
    p.sentAt,
    upload,
  )
  return p
}

/**
 * The upstream answered `p`: its record stamped (status, time), and the response to give the
 * client made (`p.response`, also returned).
 */
export function received(
  deps: ProxyDeps,
  s: State,
  p: Proxied,
  response: Response,
  requestId: string,
): Response {
  arrived(p)
  p.upstreamSeconds = (performance.now() - p.sentAt) / 1000
  p.upstreamStatus = response.status
  p.response = respond(deps, s, response, p, requestId)
  return p.response
}

/**
 * `sendProxied` and `received` together: resolves with what happened, the client's response in
 * it. Throws UpstreamError, ClientClosedError or LimitError (forward.ts, body.ts).
 */
export function proxy(
  deps: ProxyDeps,
  s: State,
  request: Request,
  target: Target,
  decision: Decision,
  client: Client,
): Promise<Proxied> {
  const p = sendProxied(deps, s, request, target, decision, client)
  return p.pending!.then(
    (response) => {
      received(deps, s, p, response, client.requestId)
      return p
    },
    (e) => {
      throw upstreamFailure(p, request, e)
    },
  )
}

/**
 * What of the client's request goes upstream (an HTTP request, or a WebSocket's handshake): its
 * headers, cleaned (header pass), the tokens taken out but for the verified copy where it was
 * found when it is forwarded, and the claim headers added; the query, without token
 * parameters; and the source of the token kept, if one is.
 */
export function forwarded(
  deps: Pick<ProxyDeps, 'headerBuild' | 'decodedEncodings'>,
  s: State,
  request: Request,
  search: string,
  decision: Decision,
  client: Client,
): { headers: Headers; search: string; kept: TokenSource | undefined } {
  // Only a verified token goes upstream, and only where it was found.
  const kept = s.config.forwardToken && decision.claims !== undefined
    ? decision.found?.source
    : undefined
  const headers = upstreamHeaders(
    request.headers,
    {
      clientAddress: client.address,
      proto: client.protocol,
      requestId: client.requestId,
      trustedProxies: s.config.trustedProxies,
      keptToken: kept,
      // A runtime that decodes bodies itself negotiates the codings itself.
      acceptEncoding: deps.decodedEncodings.length === 0,
    },
    s.headerFilter,
    deps.headerBuild,
  )
  const query = removeTokens(s.afterHeaders, headers, search, kept)
  // upstreamHeaders left out every client copy of a claim header: append, no search.
  for (const [name, value] of claimHeaders(decision)) headers.append(name, value)
  return { headers, search: query, kept }
}

/** Removes every token source's copy from the query and cookies but the kept one. */
function removeTokens(
  sources: readonly TokenSource[],
  headers: Headers,
  search: string,
  kept: TokenSource | undefined,
): string {
  for (const source of sources) {
    if (!sameSource(source, kept)) search = removeToken(headers, search, source)
  }
  return search
}

/**
 * The client's response. A body with a length is passed on untouched, and `body` is not even
 * read: on Bun that would make a stream object of it (~0.8 µs of CPU per request under load). A
 * body without one may be a stream (SSE, chunked): it is watched for idleness, and counted,
 * unless the server's connection idle timeout already cuts a stalled one.
 */
function respond(
  deps: ProxyDeps,
  s: State,
  response: Response,
  p: Proxied,
  requestId: string,
): Response {
  const encoding = deps.decodedEncodings.length > 0
    ? response.headers.get('content-encoding')
    : null
  const decoded = encoding !== null &&
    decodedByRuntime(encoding, deps.decodedEncodings, deps.decodesStacked)
  const length = response.headers.get('content-length')
  if (length !== null && !decoded) p.bytesOut = Number(length)
  // Watched only when nothing else cuts a stalled stream: where the server's connection idle
  // timeout covers the stream idle timeout (the binary), it closes a connection whose response
  // went silent, and the body passes untouched (no chunk through JavaScript); its log line then
  // has no bytes_out or end.
  const watch = length === null &&
    !(deps.connectionIdleMs !== undefined && deps.connectionIdleMs <= s.config.limits.streamIdleMs)
  const upstreamBody = watch ? response.body : null
  if (upstreamBody === null && deps.immutableResponses !== true) {
    try {
      cleanDownstream(response.headers, decoded, requestId)
      return response
    } catch {
      // Immutable headers (Deno, undici): copied below, this time and from now on.
      deps.immutableResponses = true
    }
  }
  const headers = downstreamHeaders(response.headers, decoded, requestId, deps.headerBuild)
  const body = upstreamBody === null
    ? response.body
    : watchResponse(upstreamBody, p, s.config.limits.streamIdleMs, deps.now)
  const init = { status: response.status, statusText: response.statusText, headers }
  return new Response(body as BodyInit | null, init)
}

/**
 * `body` watched for idleness and counted: `p.ended` resolves when it has ended, with its bytes and
 * how it ended in `p`. Its own function: the callbacks would otherwise cost every call of respond
 * a scope object.
 */
function watchResponse(
  body: ReadableStream<Uint8Array>,
  p: Proxied,
  idleMs: number,
  now: () => number,
): ReadableStream<Uint8Array> {
  let watched: ReadableStream<Uint8Array> | undefined
  p.ended = new Promise<void>((resolve) => {
    watched = watchBody(body, {
      maxBytes: undefined,
      idleMs,
      now,
      onEnd(bytes, end) {
        p.bytesOut = bytes
        p.responseBodyEnd = end
        resolve()
      },
    })
  })
  return watched!
}

/**
 * True when the runtime's fetch decoded a body sent with this `Content-Encoding`: a coding it
 * decodes, or — where it decodes stacked codings (undici; not Deno) — a list of only such codings.
 */
export function decodedByRuntime(
  contentEncoding: string,
  decoded: readonly string[],
  stacked: boolean,
): boolean {
  const codings = contentEncoding.split(',')
  if (codings.length > 1 && !stacked) return false
  for (const coding of codings) {
    const c = coding.trim().toLowerCase()
    if (c !== '' && !decoded.includes(c)) return false
  }
  return codings.some((c) => c.trim() !== '')
}
