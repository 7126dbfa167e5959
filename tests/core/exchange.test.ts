import assert from 'node:assert/strict'
import { ClientClosedError, NoRouteError, TokenError } from '../../src/core/errors.ts'
import { account, type Exchange, openExchange, settle } from '../../src/core/exchange.ts'
import { createLogger } from '../../src/core/log.ts'
import { Metrics } from '../../src/core/metrics.ts'
import { Proxied } from '../../src/core/proxy/proxy.ts'
import { errorResponse } from '../../src/core/respond.ts'
import { test } from '../helpers/t.ts'

const T0 = 1_800_000_000_000

const request = (method = 'GET', path = '/orders/7') =>
  new Request(`http://gw.test${path}`, { method, headers: { host: 'gw.test' } })

/** A logger that keeps each line's fields (JSON), with a fixed time. */
function sink() {
  const lines: Record<string, unknown>[] = []
  const logger = createLogger({
    level: 'info',
    format: 'json',
    now: () => T0,
    sink: (l) => lines.push(JSON.parse(l)),
  })
  return { logger, lines }
}

/** The line's fields beyond time, level and event (which are checked once). */
function fields(line: Record<string, unknown>): Record<string, unknown> {
  const { time, level, event, ...rest } = line
  assert.deepEqual([time, level, event], [new Date(T0).toISOString(), 'info', 'request'])
  return rest
}

function proxied(extra: Partial<Proxied> = {}): Proxied {
  return Object.assign(new Proxied('orders'), {
    response: new Response('ok'),
    upstreamStatus: 201,
    upstreamSeconds: 0.0126,
    bytesIn: 12,
    bytesOut: 345,
    ...extra,
  })
}

/** An allowed request on route `r` that went upstream. */
function allowed(p: Proxied): Exchange {
  const x = openExchange(request('POST'), 'req-1', '192.0.2.7', T0)
  Object.assign(x, {
    path: '/orders/7',
    route: 'r',
    sub: 'alice',
    iss: 'https://issuer.test',
    upstream: 'orders',
    proxied: p,
    status: 201,
    seconds: 0.02,
  })
  return x
}

test('openExchange() starts an empty record with the request method, id, client and arrival', () => {
  const x = openExchange(request('DELETE'), 'req-9', '198.51.100.1', T0)
  assert.deepEqual({ ...x }, {
    websocket: undefined,
    requestId: 'req-9',
    started: T0,
    client: '198.51.100.1',
    method: 'DELETE',
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
    status: 0,
    seconds: 0,
    bytesOut: undefined,
  })
  assert.equal(openExchange(request(), 'r', undefined, T0).client, undefined)
})

test('account() writes the access-log line of an allowed, proxied request', () => {
  const { logger, lines } = sink()
  const metrics = new Metrics(T0)
  account(allowed(proxied()), metrics, logger, T0 + 25)
  assert.equal(lines.length, 1)
  assert.deepEqual(fields(lines[0]!), {
    request_id: 'req-1',
    client: '192.0.2.7',
    method: 'POST',
    path: '/orders/7',
    route: 'r',
    status: 201,
    decision: 'allowed',
    sub: 'alice',
    iss: 'https://issuer.test',
    upstream: 'orders',
    upstream_status: 201,
    upstream_ms: 13,
    duration_ms: 25,
    bytes_in: 12,
    bytes_out: 345,
  })
})

test('account() reports how a watched response body ended, unless it ended normally', () => {
  const { logger, lines } = sink()
  const metrics = new Metrics(T0)
  account(allowed(proxied({ responseBodyEnd: 'done' })), metrics, logger, T0)
  account(allowed(proxied({ responseBodyEnd: 'idle', bytesOut: 7 })), metrics, logger, T0)
  account(allowed(proxied({ responseBodyEnd: 'aborted' })), metrics, logger, T0)
  assert.equal(lines[0]!.end, undefined)
  assert.equal('end' in lines[0]!, false)
  assert.equal(lines[1]!.end, 'idle')
  assert.equal(lines[1]!.bytes_out, 7)
  assert.equal(lines[2]!.end, 'aborted')
})

test('account() of a refusal: its code as the decision, the gateway answer’s bytes, no upstream fields', () => {
  const { logger, lines } = sink()
  const metrics = new Metrics(T0)
  const x = openExchange(request(), 'req-2', undefined, T0)
  Object.assign(x, {
    path: '/admin',
    route: 'admin',
    code: 'insufficient_role',
    requirement: 'routes[1].require.roles',
    sub: 'bob',
    status: 403,
    seconds: 0.004,
    bytesOut: 180,
  })
  account(x, metrics, logger, T0 + 4)
  assert.deepEqual(fields(lines[0]!), {
    request_id: 'req-2',
    method: 'GET',
    path: '/admin',
    route: 'admin',
    status: 403,
    decision: 'insufficient_role',
    requirement: 'routes[1].require.roles',
    sub: 'bob',
    duration_ms: 4,
    bytes_out: 180,
  })
})

test('account() counts the request by route, method class and status, and a refusal by its code', () => {
  const metrics = new Metrics(T0)
  account(allowed(proxied()), metrics, undefined, T0)
  const refused = openExchange(request('PUT'), 'req-3', undefined, T0)
  Object.assign(refused, { code: 'no_route', status: 404, seconds: 0.5 })
  account(refused, metrics, undefined, T0)
  account(refused, metrics, undefined, T0)
  assert.equal(metrics.requests.get(['r', 'write', '201']), 1)
  assert.equal(metrics.requests.get(['none', 'write', '404']), 2)
  assert.equal(metrics.rejections.get(['no_route']), 2)
  assert.equal(metrics.rejections.get(['allowed']), 0)
  assert.equal(metrics.requestDuration.count(['r']), 1)
  assert.equal(metrics.requestDuration.series(['r']).sum, 0.02)
  assert.equal(metrics.requestDuration.series(['none']).sum, 1)
  assert.match(metrics.render(), /^jwtgate_rejections_total\{reason="no_route"\} 2$/m)
})

test('settle() of the gateway’s own answer: status, seconds to now, its body size, accounted at once', () => {
  const { logger, lines } = sink()
  const metrics = new Metrics(T0)
  const x = openExchange(request(), 'req-4', '192.0.2.1', T0)
  x.code = 'token_missing'
  const response = errorResponse(new TokenError('token_missing', 'A bearer token is required.'))
  const size = Number(response.headers.get('content-length'))
  assert.ok(size > 0)
  settle(x, response, metrics, logger, () => T0 + 1500)
  assert.equal(x.status, 401)
  assert.equal(x.seconds, 1.5)
  assert.equal(x.bytesOut, size)
  assert.equal(lines.length, 1)
  assert.equal(lines[0]!.bytes_out, size)
  assert.equal(lines[0]!.duration_ms, 1500)
  assert.equal(lines[0]!.decision, 'token_missing')
  assert.equal(metrics.requests.get(['none', 'read', '401']), 1)
  assert.equal(metrics.rejections.get(['token_missing']), 1)
})

test('settle(): a bodiless answer is 0 bytes; a body of unknown length is left unsized', () => {
  const { logger, lines } = sink()
  const metrics = new Metrics(T0)
  const empty = openExchange(request('HEAD'), 'a', undefined, T0)
  settle(empty, new Response(null, { status: 204 }), metrics, logger, () => T0)
  assert.equal(empty.bytesOut, 0)
  assert.equal(lines[0]!.bytes_out, 0)
  const unsized = openExchange(request(), 'b', undefined, T0)
  settle(unsized, new Response('streamed'), metrics, logger, () => T0)
  assert.equal(unsized.bytesOut, undefined)
  assert.equal('bytes_out' in lines[1]!, false)
})

test('settle() without a logger counts the request but does not size the answer', () => {
  const metrics = new Metrics(T0)
  const x = openExchange(request(), 'c', undefined, T0)
  x.code = 'no_route'
  settle(x, errorResponse(new NoRouteError()), metrics, undefined, () => T0 + 10)
  assert.equal(x.bytesOut, undefined)
  assert.equal(x.status, 404)
  assert.equal(metrics.requests.get(['none', 'read', '404']), 1)
  assert.equal(metrics.rejections.get(['no_route']), 1)
})

test('settle() of a proxied response uses the upstream’s byte counts, not the response’s', () => {
  const { logger, lines } = sink()
  const metrics = new Metrics(T0)
  const x = allowed(proxied({ bytesOut: 99 }))
  settle(x, new Response('four', { status: 201 }), metrics, logger, () => T0 + 5)
  assert.equal(x.bytesOut, undefined)
  assert.equal(lines.length, 1)
  assert.equal(lines[0]!.bytes_out, 99)
  assert.equal(lines[0]!.bytes_in, 12)
})

test('settle() of a watched response body defers accounting until `ended`; the duration metric stops at the headers', async () => {
  const { logger, lines } = sink()
  const metrics = new Metrics(T0)
  let end!: () => void
  const p = proxied({ bytesOut: undefined, ended: new Promise<void>((r) => (end = r)) })
  const x = allowed(p)
  let clock = T0 + 200
  settle(x, new Response('…', { status: 200 }), metrics, logger, () => clock)
  assert.equal(x.status, 200)
  assert.equal(x.seconds, 0.2)
  await new Promise((r) => setTimeout(r, 20))
  assert.equal(lines.length, 0)
  assert.equal(metrics.requests.get(['r', 'write', '200']), 0)
  // The body ends later: its bytes and how it ended are known only now.
  clock = T0 + 3000
  p.bytesOut = 4096
  p.responseBodyEnd = 'idle'
  end()
  await p.ended
  await Promise.resolve()
  assert.equal(lines.length, 1)
  assert.equal(lines[0]!.duration_ms, 3000)
  assert.equal(lines[0]!.bytes_out, 4096)
  assert.equal(lines[0]!.end, 'idle')
  assert.equal(lines[0]!.status, 200)
  assert.equal(metrics.requests.get(['r', 'write', '200']), 1)
  assert.equal(metrics.requestDuration.series(['r']).sum, 0.2)
})

test('settle() of a 499: the client left, so nothing of the answer written for it went out (bytes_out 0)', () => {
  const { logger, lines } = sink()
  const x = openExchange(request(), 'req-5', '192.0.2.1', T0)
  x.code = 'client_closed'
  const response = errorResponse(new ClientClosedError())
  assert.equal(response.status, 499)
  assert.ok(Number(response.headers.get('content-length')) > 0)
  const metrics = new Metrics(T0)
  settle(x, response, metrics, logger, () => T0 + 2)
  assert.equal(lines[0]!.status, 499)
  assert.equal(lines[0]!.bytes_out, 0)
  // Counted as a request with its status, not as a rejection: the gateway refused nothing.
  assert.equal(metrics.rejections.get(['client_closed']), 0)
  assert.match(metrics.render(), /^jwtgate_requests_total\{[^}]*status="499"\} 1$/m)
  assert.doesNotMatch(metrics.render(), /jwtgate_rejections_total\{reason="client_closed"\}/)
})

test('settle() of an upgrade whose client left before its end opened: 499 client_closed, not 101', async () => {
  const record = (opened: boolean, cause: 'client_lost' | 'upstream') => ({
    messagesIn: 0,
    bytesIn: 0,
    messagesOut: 0,
    bytesOut: 0,
    closeCode: 1006,
    cause,
    opened,
    ended: Promise.resolve(),
  })
  const { logger, lines } = sink()
  const metrics = new Metrics(T0)
  for (
    const [id, ws] of [
      ['never-opened', record(false, 'client_lost')],
      ['opened-then-lost', record(true, 'client_lost')],
      ['upstream-first', record(false, 'upstream')],
    ] as const
  ) {
    const x = openExchange(request(), id, '192.0.2.1', T0)
    x.route = 'ws'
    x.websocket = ws
    settle(x, new Response(null, { status: 200 }), metrics, logger, () => T0 + 2)
  }
  await new Promise((r) => setTimeout(r, 0))
  assert.deepEqual(lines.map((l) => [l.request_id, l.status, l.decision]), [
    ['never-opened', 499, 'client_closed'],
    ['opened-then-lost', 101, 'allowed'],
    ['upstream-first', 101, 'allowed'],
  ])
  assert.match(metrics.render(), /^jwtgate_requests_total\{[^}]*status="499"\} 1$/m)
  assert.equal(metrics.rejections.get(['client_closed']), 0)
})
