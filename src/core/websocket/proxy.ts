/**
 * @module The WebSocket step of the pipeline, for an allowed upgrade: checks the handshake, dials
 * the upstream first (`ws://`/`wss://` for the route's `http://`/`https://` upstream, with the
 * same headers an HTTP request would carry — claim headers, `X-Forwarded-*`, `X-Request-Id` — and
 * the client's subprotocols but a token-carrying pair), then answers the client with the
 * upstream's chosen subprotocol and hands both ends to a Relay. The runtime's server does the
 * upgrade itself (`WebSocketUpgrade`, from the adapter).
 */
import { isWebSocketUpgrade, sameSource, splitProtocols, type TokenSource } from '../auth/token.ts'
import type { Decision } from '../decide.ts'
import { ClientClosedError, GatewayError, UnavailableError, UpstreamError } from '../errors.ts'
import type { Config, RouteConfig } from '../config/types.ts'
import { type Client, forwarded, type ProxyDeps } from '../proxy/proxy.ts'
import { checkedOrigin, checkOrigin, isCookieLogin, ownOrigin, urlProtocol } from '../origin.ts'
import { upstreamUrl } from '../proxy/url.ts'
import { tokenHashes } from '../revocation/entry.ts'
import type { Target } from '../routing/path.ts'
import { upstreamPath } from '../routing/rewrite.ts'
import type { State } from '../state.ts'
import type { Connections } from './connections.ts'
import { type ClientEvents, type ConnectionToken, Relay } from './relay.ts'

/**
 * Upgrades `request` to a WebSocket answering with `answer.protocol` (none when undefined) and
 * `answer.headers`; the runtime's server then reports the client's end to `events`. Returns the
 * response the gateway's fetch handler gives for it. Throws when the runtime refuses the upgrade.
 */
export type WebSocketUpgrade = (
  request: Request,
  answer: WebSocketAnswer,
  events: ClientEvents,
) => Response

/** How the client's handshake is answered. */
export interface WebSocketAnswer {
  /** The subprotocol chosen (the upstream's choice, or the token marker), or undefined. */
  readonly protocol: string | undefined
  /** Headers for the 101 response (`X-Request-Id`). */
  readonly headers: Headers
  /** Close the connection after this long without a message or an answered ping. */
  readonly idleTimeoutSec: number
  /** The configured message cap (the relay enforces it too). */
  readonly maxMessageBytes: number
}

/**
 * A web-standard WebSocket client that takes `{ headers, protocols }` (Bun's and Deno's do; the
 * adapters' SocketWebSocket also takes `maxMessageBytes`, and can pause reading: PausableSocket).
 */
export type WebSocketClient = new (
  url: string,
  options: { headers: Headers; protocols: string[]; maxMessageBytes: number },
) => WebSocket

/** What the WebSocket step needs of the gateway. */
export interface WebSocketDeps {
  readonly proxy: ProxyDeps
  readonly WebSocket: WebSocketClient
  readonly connections: Connections
}

/** Headers of the client's handshake the upstream's own handshake replaces. */
const HANDSHAKE = [
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-extensions',
  'sec-websocket-protocol',
  'sec-websocket-accept',
]

/**
 * Opens the connection for an allowed upgrade and answers the client; resolves with the response
 * and the Relay (its record ends at the connection's end). Throws `websocket_not_allowed` (403)
 * on a route without WebSockets, `bad_upgrade` (400) for a handshake the runtime would refuse,
 * `origin_rejected` (403) for a cookie-authenticated upgrade from a foreign origin,
 * `too_many_connections` (503), or UpstreamError when the upstream does not accept it.
 */
export async function proxyWebSocket(
  deps: WebSocketDeps,
  s: State,
  request: Request,
  target: Target,
  decision: Decision,
  client: Client,
  upgrade: WebSocketUpgrade | undefined,
): Promise<{ response: Response; relay: Relay }> {
  const settings = s.config.websockets
  checkProxiedWebSocket(s.config, request, decision, client.protocol)
  if (upgrade === undefined) {
    throw new GatewayError(
      'websocket_unsupported',
      501,
      'This server cannot upgrade connections to WebSockets.',
    )
  }
  if (!isHandshake(request)) throw badUpgrade()
  const token = await connectionToken(s, decision)
  // Shutdown may have begun since the request came in: refused before an upstream is dialled.
  const early = deps.connections.refusal(token)
  if (early !== undefined) throw early
  if (!deps.connections.reserve(settings.maxConnections)) {
    throw new UnavailableError(
      'Too many WebSocket connections are open; retry later.',
      1,
      'too_many_connections',
    )
  }
  let upstream: WebSocket
  try {
    upstream = await dial(deps, s, request, target, decision, client)
  } catch (e) {
    deps.connections.release()
    throw e
  }
  // What happened while the upstream was dialled: the client left, shutdown began, or a
  // revocation now covers the token (a connection not yet open is in no list to close).
  const refusal = request.signal.aborted ? new ClientClosedError() : deps.connections.refusal(token)
  if (refusal !== undefined) {
    deps.connections.release()
    upstream.close()
    throw refusal
  }
  const found = decision.found
  const chosen = upstream.protocol !== ''
    ? upstream.protocol
    : found?.source.kind === 'protocol'
    ? found.source.name
    : undefined
  const relay = new Relay(
    upstream,
    {
      maxMessageBytes: settings.maxMessageBytes,
      maxBufferedBytes: settings.maxBufferedBytes,
      maxHoldMs: settings.idleTimeoutSec * 1000,
      counters: deps.connections.counters,
    },
    token,
    deps.proxy.now,
    (r) => deps.connections.ended(r),
    (r) => deps.connections.clientClosed(r),
  )
  let response: Response
  try {
    response = upgrade(request, {
      protocol: chosen,
      headers: new Headers({ 'x-request-id': client.requestId }),
      idleTimeoutSec: settings.idleTimeoutSec,
      maxMessageBytes: settings.maxMessageBytes,
    }, relay)
  } catch (e) {
    deps.connections.release()
    relay.end('client_lost', 1011, '', 1001, 'client handshake failed')
    // The runtime refused the handshake (Deno throws a TypeError): the client's request.
    throw e instanceof GatewayError ? e : badUpgrade(e)
  }
  deps.connections.add(relay)
  return { response, relay }
}

/**
 * A handshake to proxy meets the rules: the route accepts WebSockets, and one authenticated by a
 * cookie comes from an allowed origin — the gateway's own being the `Host` (or what trusted
 * proxies report) over the client's `protocol`. Throws `websocket_not_allowed` or
 * `origin_rejected` (403).
 */
export function checkProxiedWebSocket(
  config: Config,
  request: Request,
  decision: Decision,
  protocol: 'http' | 'https',
): void {
  checkWebSocketRoute(config, decision.route.route)
  if (isCookieLogin(decision)) {
    checkOrigin(config, request.headers, ownOrigin(config, request, protocol), WEBSOCKET)
  }
}

/** Throws `websocket_not_allowed` (403) unless `route` takes WebSocket upgrades under `config`. */
export function checkWebSocketRoute(config: Config, route: RouteConfig): void {
  if (config.websockets.enabled && route.websockets) return
  throw new GatewayError(
    'websocket_not_allowed',
    403,
    'This route does not accept WebSocket connections.',
  )
}

/**
 * A forward-authentication check about a WebSocket handshake (it carries the client's
 * `Sec-WebSocket-Key`, or asks for an upgrade) meets the rules proxying it would: the route
 * accepts WebSockets, and one authenticated by a cookie comes from an allowed origin — the
 * original host and scheme being the asking proxy's `X-Forwarded-Host`/`-Proto`, else the
 * check's `Host` over http. Throws `websocket_not_allowed` or `origin_rejected` (403).
 */
export function checkWebSocketCheck(s: State, request: Request, decision: Decision): void {
  const h = request.headers
  if (!h.has('sec-websocket-key') && !isWebSocketUpgrade(h)) return
  checkWebSocketRoute(s.config, decision.route.route)
  if (isCookieLogin(decision)) {
    checkOrigin(s.config, h, checkedOrigin(s.config, h), WEBSOCKET)
  }
}

/**
 * A WebSocket handshake that a guarded handler upgrades itself (`protect`, `createVerifier`, the
 * Hono middleware) meets the rules a proxied one does: the route accepts WebSockets, and one
 * authenticated by a cookie comes from an allowed origin — the gateway's own being the `Host` over
 * `protocol` (the URL's scheme when the adapter did not say). Throws `websocket_not_allowed` or
 * `origin_rejected` (403). Closing at the token's expiry or revocation is the handler's to do.
 */
export function checkLocalWebSocket(
  s: State,
  request: Request,
  decision: Decision,
  protocol: 'http' | 'https' | undefined,
): void {
  const h = request.headers
  if (!h.has('sec-websocket-key') && !isWebSocketUpgrade(h)) return
  checkWebSocketRoute(s.config, decision.route.route)
  if (isCookieLogin(decision)) {
    checkOrigin(
      s.config,
      h,
      ownOrigin(s.config, request, protocol ?? urlProtocol(request.url)),
      WEBSOCKET,
    )
  }
}

/**
 * A GET with `Connection: Upgrade`, `Sec-WebSocket-Key` and `Sec-WebSocket-Version: 13` (RFC
 * 6455 §4.2.1): what the runtimes upgrade; checked before the upstream is dialled.
 */
function isHandshake(request: Request): boolean {
  const headers = request.headers
  const connection = headers.get('connection')
  return request.method === 'GET' && headers.get('sec-websocket-version') === '13' &&
    headers.get('sec-websocket-key') !== null && connection !== null &&
    connection.split(',').some((t) => t.trim().toLowerCase() === 'upgrade')
}

/** What a cross-site WebSocket is refused with (origin.ts). */
const WEBSOCKET = 'A WebSocket authenticated by a cookie must come from an allowed origin.'

function badUpgrade(cause?: unknown): GatewayError {
  return new GatewayError(
    'bad_upgrade',
    400,
    'A WebSocket handshake is a GET with Connection: Upgrade, Sec-WebSocket-Key and Sec-WebSocket-Version: 13.',
    { cause },
  )
}

/** The verified token's expiry and hash, or undefined for a connection without one. */
async function connectionToken(
  s: State,
  decision: Decision,
): Promise<ConnectionToken | undefined> {
  const claims = decision.claims
  if (claims === undefined) return undefined
  const cached = decision.cached
  const hash = cached?.hash ?? await tokenHashes(decision.found!.token)
  if (cached !== undefined) cached.hash = hash
  const skewSec = decision.provider?.config.verify.clockSkewSec ?? 0
  const closesAt = typeof claims.exp === 'number'
    ? (claims.exp + skewSec) * 1000 + s.config.websockets.expiryGraceMs
    : undefined
  return { claims, hash, closesAt }
}

/**
 * Opens the upstream's end: resolves once its handshake succeeded; UpstreamError when it was
 * refused or failed (502), or took longer than the upstream's timeout (504).
 */
function dial(
  deps: WebSocketDeps,
  s: State,
  request: Request,
  target: Target,
  decision: Decision,
  client: Client,
): Promise<WebSocket> {
  const route = decision.route.route
  const upstream = s.upstreams.get(route.upstream)!
  // The runtime's upgrade still reads the client's handshake headers: they are copied, not edited.
  const build = deps.proxy.headerBuild === 'edit' ? 'copy' : deps.proxy.headerBuild
  const { headers, search, kept } = forwarded(
    { headerBuild: build, decodedEncodings: deps.proxy.decodedEncodings },
    s,
    request,
    target.search,
    decision,
    client,
  )
  for (const name of HANDSHAKE) headers.delete(name)
  const path = upstreamPath(route, target.path, request.method, decision.params)
  const url = 'ws' + upstreamUrl(upstream.base, path, search).slice(4)
  const protocols = offeredUpstream(s, request.headers.get('sec-websocket-protocol'), kept)
  const signal = request.signal
  return new Promise((resolve, reject) => {
    let socket: WebSocket
    try {
      socket = new deps.WebSocket(url, {
        headers,
        protocols,
        maxMessageBytes: s.config.websockets.maxMessageBytes,
      })
    } catch (e) {
      reject(new UpstreamError('upstream_unreachable', { cause: e }))
      return
    }
    const settle = () => {
      clearTimeout(timer)
      signal.removeEventListener('abort', abandon)
      socket.onopen = socket.onclose = null
    }
    // Given up (too slow, or the client left): the half-open upstream socket is closed.
    const giveUp = (error: GatewayError) => {
      settle()
      socket.close()
      reject(error)
    }
    const abandon = () => giveUp(new ClientClosedError())
    const timer = setTimeout(
      () => giveUp(new UpstreamError('upstream_timeout')),
      upstream.timeoutMs,
    )
    signal.addEventListener('abort', abandon)
    socket.onopen = () => {
      settle()
      resolve(socket)
    }
    // A refused handshake (any status but 101) or a failed connection: `error`, then `close`.
    socket.onclose = (event) => {
      settle()
      reject(new UpstreamError('upstream_unreachable', { cause: `close ${event.code}` }))
    }
  })
}

/**
 * The subprotocols offered upstream: the client's, without any token marker and the token after
 * it — unless the token is forwarded from there (JWTGATE_FORWARD_TOKEN with a `protocol:` source).
 */
function offeredUpstream(
  s: State,
  header: string | null,
  kept: TokenSource | undefined,
): string[] {
  if (header === null) return []
  const offered = splitProtocols(header)
  if (s.tokenProtocols.length === 0) return offered
  const out: string[] = []
  for (let i = 0; i < offered.length; i++) {
    const p = offered[i]!
    const marker = s.tokenProtocols.find((source) => source.name === p)
    if (marker !== undefined && !sameSource(marker, kept)) {
      i++ // the token after it
      continue
    }
    out.push(p)
  }
  return out
}
