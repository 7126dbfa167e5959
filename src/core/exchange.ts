/**
 * @module The gateway's record of one request — what its access-log line and metrics report —
 * and the accounting at its end. Only the gateway writes it, from what each step returned.
 */
import type { Counted } from './limits/policy.ts'
import type { Logger } from './log.ts'
import type { Metrics } from './metrics.ts'
import type { Proxied } from './proxy/proxy.ts'
import type { ConnectionRecord } from './websocket/relay.ts'

export interface Exchange {
  readonly requestId: string
  readonly started: number
  /** The client's address (for a forward-authentication check: the one its proxy reported). */
  client: string | undefined
  /** The request's method (for a forward-authentication check: the method it asks about). */
  method: string
  path: string | undefined
  route: string | undefined
  /** The problem code of a refusal; undefined when allowed. */
  code: string | undefined
  requirement: string | undefined
  /** The named rate limit that refused it (429). */
  limit: string | undefined
  sub: string | undefined
  iss: string | undefined
  /** The route's upstream, once the request was allowed. */
  upstream: string | undefined
  /** What the route's named limits counted: their fields go on the response. */
  counted: Counted | undefined
  /** What proxying reported, once the upstream answered. */
  proxied: Proxied | undefined
  /** An upgraded request's WebSocket connection: its line is written when it ends. */
  websocket: ConnectionRecord | undefined
  status: number
  /** Seconds from arrival to the response headers (jwtgate_request_duration_seconds). */
  seconds: number
  /** Bytes of the gateway's own answer (refusals, health), when it has a body. */
  bytesOut: number | undefined
}

/** A new record for `request`, arrived at `started` (a monotonic clock's milliseconds). */
export function openExchange(
  request: Request,
  requestId: string,
  client: string | undefined,
  started: number,
): Exchange {
  return {
    requestId,
    started,
    client,
    method: request.method,
    path: undefined,
    route: undefined,
    code: undefined,
    requirement: undefined,
    limit: undefined,
    sub: undefined,
    iss: undefined,
    upstream: undefined,
    counted: undefined,
    proxied: undefined,
    websocket: undefined,
    status: 0,
    seconds: 0,
    bytesOut: undefined,
  }
}

/**
 * Counts the request in the metrics and writes its access-log line (at info). A watched response
 * body is accounted when it has ended (its bytes and how it ended are in the line); the request
 * duration metric runs to the response headers, the log line's `duration_ms` to the end.
 */
export function account(
  x: Exchange,
  metrics: Metrics,
  logger: Logger | undefined,
  now: number,
): void {
  // An upgrade whose client left before its end opened received no 101 (relay.ts: opened).
  const lost = x.websocket !== undefined && !x.websocket.opened &&
    x.websocket.cause === 'client_lost'
  if (lost) {
    x.status = 499
    x.code ??= 'client_closed'
  }
  metrics.countRequest(x.route ?? 'none', x.method, x.status, x.seconds)
  // A client that left (499) was refused nothing: it counts as a request with its status only.
  if (x.code !== undefined && x.code !== 'client_closed') metrics.rejections.inc([x.code])
  if (logger === undefined) return
  const p = x.proxied
  const end = p?.responseBodyEnd
  // A WebSocket connection's line, at its end: what went through it, and how it closed.
  const ws = x.websocket
  logger.log('info', 'request', {
    request_id: x.requestId,
    client: x.client,
    method: x.method,
    path: x.path,
    route: x.route,
    status: x.status,
    decision: x.code ?? 'allowed',
    requirement: x.requirement,
    limit: x.limit,
    sub: x.sub,
    iss: x.iss,
    upstream: x.upstream,
    websocket: ws === undefined ? undefined : true,
    upstream_status: p?.upstreamStatus,
    upstream_ms: p?.upstreamSeconds === undefined
      ? undefined
      : Math.round(p.upstreamSeconds * 1000),
    duration_ms: Math.round(now - x.started),
    messages_in: ws?.messagesIn,
    messages_out: ws?.messagesOut,
    bytes_in: ws !== undefined ? ws.bytesIn : p?.bytesIn,
    bytes_out: ws !== undefined ? ws.bytesOut : p === undefined ? x.bytesOut : p.bytesOut,
    end: end === 'done' ? undefined : end,
    close_code: ws?.closeCode,
    close: ws?.cause,
  })
}

/**
 * Closes the record with the response given to the client, and accounts for it now, or once
 * its watched response body (or its WebSocket connection) has ended.
 */
export function settle(
  x: Exchange,
  response: Response,
  metrics: Metrics,
  logger: Logger | undefined,
  now: () => number,
): void {
  // Bun answers an upgrade itself: the handler's response is only a marker.
  x.status = x.websocket !== undefined ? 101 : response.status
  const at = now()
  x.seconds = (at - x.started) / 1000
  const ended = x.proxied?.ended ?? x.websocket?.ended
  if (ended !== undefined) {
    accountWhenEnded(ended, x, metrics, logger, now)
    return
  }
  // A client that left (499) received nothing of the answer written for it.
  if (logger !== undefined && x.proxied === undefined) {
    x.bytesOut = x.code === 'client_closed' ? 0 : bodySize(response)
  }
  account(x, metrics, logger, at)
}

/**
 * Accounts for `x` once `ended` resolves. Its own function: the callback would otherwise cost
 * every call of settle a scope object.
 */
function accountWhenEnded(
  ended: Promise<void>,
  x: Exchange,
  metrics: Metrics,
  logger: Logger | undefined,
  now: () => number,
): void {
  void ended.then(() => account(x, metrics, logger, now()))
}

/** The size of a response the gateway wrote itself. */
function bodySize(response: Response): number | undefined {
  if (response.body === null) return 0
  const length = response.headers.get('content-length')
  return length === null ? undefined : Number(length)
}
