import assert from 'node:assert/strict'
import { parseTokenSource, tokenHeader } from '../../../src/core/auth/token.ts'
import { BadRequestError } from '../../../src/core/errors.ts'
import {
  acceptableRequestId,
  downstreamHeaders,
  type ForwardContext,
  forwardedClient,
  forwardedFor,
  forwardedProto,
  type HeaderFilter,
  NOT_FORWARDED_PREFIXES,
  Prefixes,
  upstreamHeaders,
} from '../../../src/core/proxy/headers.ts'
import { test } from '../../helpers/t.ts'

const CTX: ForwardContext = {
  clientAddress: '10.0.0.9',
  proto: 'http',
  requestId: 'rid-1',
  trustedProxies: 0,
  keptToken: undefined,
  acceptEncoding: true,
}
const filter = (strip: Iterable<string> = [], extra: Partial<HeaderFilter> = {}): HeaderFilter => ({
  strip: new Set(strip),
  prefixes: new Prefixes(NOT_FORWARDED_PREFIXES),
  tokenHeaders: new Map(),
  maxBytes: Infinity,
  ...extra,
})

test('upstreamHeaders() removes hop-by-hop headers and those Connection names', () => {
  const h = upstreamHeaders(
    new Headers({
      connection: 'keep-alive, X-Secret',
      'keep-alive': '5',
      te: 'trailers',
      upgrade: 'h2c',
      'proxy-authorization': 'Basic x',
      'x-secret': 's',
      accept: 'text/plain',
      host: 'gw.example',
    }),
    CTX,
    filter(),
  )
  for (
    const name of [
      'connection',
      'keep-alive',
      'te',
      'upgrade',
      'proxy-authorization',
      'x-secret',
      'host',
    ]
  ) assert.equal(h.get(name), null, name)
  assert.equal(h.get('accept'), 'text/plain')
})

test('upstreamHeaders() removes client copies of claim headers in every folded spelling', () => {
  const incoming = new Headers({
    'X-User-Id': 'evil',
    x_user_id: 'evil2',
    'x.user.id': 'evil3',
    'x-user-idx': 'kept',
  })
  const h = upstreamHeaders(incoming, CTX, filter(['x-user-id']))
  assert.equal(h.get('x-user-id'), null)
  assert.equal(h.get('x_user_id'), null)
  assert.equal(h.get('x.user.id'), null)
  assert.equal(h.get('x-user-idx'), 'kept')
})

test('upstreamHeaders() sets the gateway headers after the client copies are gone', () => {
  const h = upstreamHeaders(
    new Headers({
      host: 'gw.example',
      connection: 'x-request-id, x-forwarded-for',
      'x-forwarded-for': '6.6.6.6',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'evil',
      'x-real-ip': '6.6.6.6',
      forwarded: 'for=6.6.6.6',
    }),
    CTX,
    filter(),
  )
  assert.equal(h.get('x-forwarded-for'), '10.0.0.9')
  assert.equal(h.get('x-forwarded-proto'), 'http')
  assert.equal(h.get('x-forwarded-host'), 'gw.example')
  assert.equal(h.get('x-request-id'), 'rid-1')
  assert.equal(h.get('x-real-ip'), null)
  assert.equal(h.get('forwarded'), null)
})

test('upstreamHeaders() keeps client forwarding headers only behind trusted proxies, and only For, Proto and Host', () => {
  const incoming = new Headers({
    host: 'gw',
    'x-forwarded-for': '1.1.1.1, 2.2.2.2, 3.3.3.3',
    'x-forwarded-proto': 'https',
    'x-forwarded-host': 'api.example',
    'x-forwarded-port': '8443',
    'x-forwarded-user': 'admin',
    forwarded: 'for=1.1.1.1',
  })
  const h = upstreamHeaders(incoming, { ...CTX, trustedProxies: 2 }, filter())
  assert.equal(h.get('x-forwarded-for'), '2.2.2.2, 3.3.3.3, 10.0.0.9')
  assert.equal(h.get('x-forwarded-proto'), 'https')
  assert.equal(h.get('x-forwarded-host'), 'api.example')
  for (const name of ['x-forwarded-port', 'x-forwarded-user', 'forwarded']) {
    assert.equal(h.get(name), null, name)
  }
  // A forwarded host that is not a bare host[:port] is not passed on: the Host header is.
  assert.equal(
    upstreamHeaders(new Headers({ host: 'gw', 'x-forwarded-host': 'a/b' }), {
      ...CTX,
      trustedProxies: 1,
    }, filter()).get('x-forwarded-host'),
    'gw',
  )
})

test('upstreamHeaders() takes X-Forwarded-Host only from the Host header: none without one', () => {
  assert.equal(
    upstreamHeaders(new Headers({ host: 'api.example:8443' }), CTX, filter()).get(
      'x-forwarded-host',
    ),
    'api.example:8443',
  )
  assert.equal(
    upstreamHeaders(new Headers({ accept: '*/*' }), CTX, filter()).has('x-forwarded-host'),
    false,
  )
  assert.equal(
    upstreamHeaders(new Headers({ 'x-forwarded-host': 'evil.example' }), CTX, filter()).has(
      'x-forwarded-host',
    ),
    false,
  )
})

test('upstreamHeaders() removes every X-Forwarded-* and identity header of other gateways, in any folded spelling', () => {
  const names = [
    'x-forwarded-user',
    'x-forwarded-email',
    'x-forwarded-groups',
    'x-forwarded-access-token',
    'x-forwarded-ssl',
    'x-forwarded-scheme',
    'x-forwarded-server',
    'x-forwarded-client-cert',
    'x-auth-request-user',
    'x-auth-request-email',
    'x-remote-user',
    'remote-user',
    'x-client-cert',
    'x-envoy-internal',
    'x-ssl-client-verify',
    'X_Forwarded_User',
    'x.auth-request.user',
    'x_remote_user',
  ]
  const h = upstreamHeaders(
    new Headers([...names.map((n): [string, string] => [n, 'mallory']), ['x-forwardedx', 'kept'], [
      'accept',
      '*/*',
    ]]),
    CTX,
    filter(),
  )
  for (const name of names) assert.equal(h.get(name), null, name)
  assert.equal(h.get('x-forwardedx'), 'kept')
  assert.equal(h.get('accept'), '*/*')
})

test("upstreamHeaders() removes the operator's names and prefixes", () => {
  const h = upstreamHeaders(
    new Headers({
      'x-internal-role': 'admin',
      'x-internal': 'kept',
      'x-tenant': 'acme',
      x_tenant: 'acme',
      accept: '*/*',
    }),
    CTX,
    filter(['x-tenant'], { prefixes: new Prefixes([...NOT_FORWARDED_PREFIXES, 'x-internal-']) }),
  )
  assert.deepEqual(
    [...h.keys()].filter((n) =>
      n !== 'x-forwarded-for' && n !== 'x-forwarded-proto' && n !== 'x-request-id'
    ),
    ['accept', 'x-internal'],
  )
})

test('forwardedFor() keeps the last N client entries and appends the peer', () => {
  assert.equal(forwardedFor('a, b, c', 'p', 0), 'p')
  assert.equal(forwardedFor('a, b, c', 'p', 1), 'c, p')
  assert.equal(forwardedFor('a,b', 'p', 5), 'a, b, p')
  assert.equal(forwardedFor(null, 'p', 2), 'p')
  assert.equal(forwardedFor('a', undefined, 0), undefined)
})

test('downstreamHeaders() strips hop-by-hop headers and keeps multiple Set-Cookie', () => {
  const up = new Headers([
    ['set-cookie', 'a=1'],
    ['set-cookie', 'b=2'],
    ['connection', 'x-internal'],
    ['x-internal', '1'],
    ['transfer-encoding', 'chunked'],
    ['content-encoding', 'gzip'],
    ['content-length', '42'],
  ])
  const h = downstreamHeaders(up, false, 'rid')
  assert.deepEqual(h.getSetCookie(), ['a=1', 'b=2'])
  assert.equal(h.get('x-internal'), null)
  assert.equal(h.get('transfer-encoding'), null)
  assert.equal(h.get('content-encoding'), 'gzip')
  assert.equal(h.get('content-length'), '42')
  assert.equal(h.get('x-request-id'), 'rid')
})

test('a Connection value listing something that is no field name: the names it lists are removed, the rest ignored, nothing throws (each way of building, both directions)', () => {
  const connection = 'keep-alive, a b, X-Internal, (x), '
  for (const build of ['copy', 'append', 'edit'] as const) {
    const up = upstreamHeaders(
      new Headers({ connection, 'x-internal': '1', accept: 'text/plain', host: 'gw.example' }),
      CTX,
      filter(),
      build,
    )
    assert.equal(up.get('x-internal'), null, build)
    assert.equal(up.get('connection'), null, build)
    assert.equal(up.get('accept'), 'text/plain', build)
    const down = downstreamHeaders(
      new Headers({ connection, 'x-internal': '1', 'content-type': 'text/plain' }),
      false,
      'rid',
      build,
    )
    assert.equal(down.get('x-internal'), null, build)
    assert.equal(down.get('connection'), null, build)
    assert.equal(down.get('content-type'), 'text/plain', build)
  }
})

test('downstreamHeaders() drops Content-Encoding and Content-Length of a body fetch decoded', () => {
  const h = downstreamHeaders(
    new Headers({ 'content-encoding': 'gzip', 'content-length': '42', etag: '"x"' }),
    true,
    'rid',
  )
  assert.equal(h.get('content-encoding'), null)
  assert.equal(h.get('content-length'), null)
  assert.equal(h.get('etag'), '"x"')
})

test('acceptableRequestId() keeps short visible ASCII ids only', () => {
  assert.equal(acceptableRequestId('abc-123'), true)
  assert.equal(acceptableRequestId(null), false)
  assert.equal(acceptableRequestId(''), false)
  assert.equal(acceptableRequestId('a b'), false)
  assert.equal(acceptableRequestId('x'.repeat(201)), false)
  assert.equal(acceptableRequestId('é'), false)
})

test('upstreamHeaders() leaves out bearer tokens and custom token headers but the kept one', () => {
  const incoming = new Headers({
    authorization: 'Bearer a.b.c',
    'x-token': 't',
    'x-other-token': 'o',
    accept: '*/*',
  })
  const sources = ['header:Authorization', 'header:X-Token', 'header:X-Other-Token']
  const headers = sources.map((spec) => tokenHeader(parseTokenSource(spec)!)!)
  const tokens = filter([], { tokenHeaders: new Map(headers.map((t) => [t.name, t])) })
  const h = upstreamHeaders(incoming, CTX, tokens)
  assert.equal(h.get('authorization'), null)
  assert.equal(h.get('x-token'), null)
  assert.equal(h.get('x-other-token'), null)
  assert.equal(h.get('accept'), '*/*')
  const keptHeader = upstreamHeaders(incoming, {
    ...CTX,
    keptToken: { kind: 'header', name: 'x-token' },
  }, tokens)
  assert.deepEqual([
    keptHeader.get('authorization'),
    keptHeader.get('x-token'),
    keptHeader.get('x-other-token'),
  ], [null, 't', null])
  const keptBearer = upstreamHeaders(
    incoming,
    { ...CTX, keptToken: { kind: 'authorization' } },
    tokens,
  )
  assert.deepEqual([
    keptBearer.get('authorization'),
    keptBearer.get('x-token'),
    keptBearer.get('x-other-token'),
  ], ['Bearer a.b.c', null, null])
  const basic = upstreamHeaders(new Headers({ authorization: 'Basic dTpw' }), CTX, tokens)
  assert.equal(basic.get('authorization'), 'Basic dTpw')
})

test('upstreamHeaders(), each way of building: a token header spelt with `_` or `.` never goes, also beside the kept copy', () => {
  const sources = ['header:Authorization', 'header:X-Api-Token']
  const headers = sources.map((spec) => tokenHeader(parseTokenSource(spec)!)!)
  const tokens = filter([], { tokenHeaders: new Map(headers.map((t) => [t.name, t])) })
  const spelt = { x_api_token: 'forged', 'x.api.token': 'forged', 'X_Api-Token': 'forged' }
  for (const build of ['copy', 'append', 'edit'] as const) {
    const incoming = () => new Headers({ 'x-api-token': 'valid', ...spelt, accept: '*/*' })
    const none = upstreamHeaders(incoming(), CTX, tokens, build)
    assert.deepEqual([...none.keys()].filter((n) => n.includes('token')), [], build)
    const kept = upstreamHeaders(
      incoming(),
      {
        ...CTX,
        keptToken: { kind: 'header', name: 'x-api-token' },
      },
      tokens,
      build,
    )
    assert.deepEqual(
      [...kept].filter(([n]) => n.includes('token')),
      [['x-api-token', 'valid']],
      build,
    )
  }
})

test('upstreamHeaders(), each way of building: Proxy (httpoxy) and every Proxy-* stay behind', () => {
  for (const build of ['copy', 'append', 'edit'] as const) {
    const h = upstreamHeaders(
      new Headers({
        proxy: 'http://evil.example:3128',
        'proxy-foo': '1',
        proxy_authorization: 'Basic x',
        'proxy-connection': 'keep-alive',
        proxyish: 'kept',
      }),
      CTX,
      filter(),
      build,
    )
    assert.deepEqual([...h.keys()].filter((n) => n.startsWith('proxy')), ['proxyish'], build)
  }
})

test('forwardedProto(): the outermost trusted entry when it is http or https, else our own scheme', () => {
  assert.equal(forwardedProto(null, 'http', 1), 'http')
  assert.equal(forwardedProto('https', 'http', 1), 'https')
  assert.equal(forwardedProto('HTTPS', 'http', 1), 'https')
  // A proxy that appends: the client wrote the first entry.
  assert.equal(forwardedProto('https, http', 'http', 1), 'http')
  assert.equal(forwardedProto('http, https, http', 'http', 2), 'https')
  // Fewer entries than trusted hops: proxies that replace the header leave one.
  assert.equal(forwardedProto('https', 'http', 3), 'https')
  for (const bad of ['ftp', 'javascript', '', 'https x', 'http,']) {
    assert.equal(forwardedProto(bad, 'https', 1), 'https', bad)
  }
})

test('upstreamHeaders() enforces the header size cap in the same pass', () => {
  assert.throws(
    () =>
      upstreamHeaders(new Headers({ 'x-big': 'a'.repeat(100) }), CTX, filter([], { maxBytes: 50 })),
    /too large/,
  )
})

test('forwardedClient(): the entry the outermost trusted proxy wrote, else the peer', () => {
  assert.equal(forwardedClient('203.0.113.7', '10.0.0.2', 0), '10.0.0.2')
  assert.equal(forwardedClient(null, '10.0.0.2', 1), '10.0.0.2')
  assert.equal(forwardedClient('203.0.113.7', '10.0.0.2', 1), '203.0.113.7')
  // Entries before the trusted ones are the client's own writing.
  assert.equal(forwardedClient('6.6.6.6, 203.0.113.7', '10.0.0.2', 1), '203.0.113.7')
  assert.equal(forwardedClient('6.6.6.6, 203.0.113.7, 10.0.0.1', '10.0.0.2', 2), '203.0.113.7')
  // Fewer entries than trusted hops, or an empty one: no trusted hop wrote it.
  assert.equal(forwardedClient('203.0.113.7', '10.0.0.2', 2), '10.0.0.2')
  assert.equal(forwardedClient('203.0.113.7, ', '10.0.0.2', 1), '10.0.0.2')
})

test('upstreamHeaders() and downstreamHeaders(): building by copy, by append (Deno) and by editing (Bun) give the same lists', () => {
  const bearer = tokenHeader(parseTokenSource('header:Authorization')!)!
  const filters = [
    filter(),
    filter(['x-user-id'], {
      prefixes: new Prefixes([...NOT_FORWARDED_PREFIXES, 'x-internal-']),
      tokenHeaders: new Map([['authorization', bearer]]),
    }),
  ]
  const requests: Record<string, string>[] = [
    { host: 'api.test', authorization: 'Bearer a.b.c', accept: '*/*', 'accept-encoding': 'gzip' },
    {
      host: 'api.test',
      connection: 'keep-alive, X-Keep-Me',
      'x-keep-me': '1',
      'x-user-id': 'spoofed',
      x_user_id: 'spoofed',
      'x-internal-role': 'admin',
      'x-forwarded-for': '203.0.113.9',
      'remote-user': 'root',
      'keep-alive': 'timeout=5',
      cookie: 'a=1; b=2',
      'content-type': 'application/json',
      'x-custom': 'one',
    },
  ]
  for (const f of filters) {
    for (const init of requests) {
      const incoming = new Headers(init)
      incoming.append('x-custom', 'two')
      const copy = upstreamHeaders(incoming, CTX, f, 'copy')
      const append = upstreamHeaders(incoming, CTX, f, 'append')
      assert.deepEqual([...append], [...copy])
      // Where the runtime negotiates codings, the client's Accept-Encoding is left out by each.
      const noCodings = { ...CTX, acceptEncoding: false }
      const copied = upstreamHeaders(incoming, noCodings, f, 'copy')
      assert.equal(copied.has('accept-encoding'), false)
      assert.deepEqual([...upstreamHeaders(incoming, noCodings, f, 'append')], [...copied])
      const ownCopy = new Headers(incoming)
      assert.deepEqual([...upstreamHeaders(ownCopy, noCodings, f, 'edit')], [...copied])
      // Editing changes the client's own list (every name it leaves out is deleted after the
      // pass: deleting while Headers.forEach iterates would skip the next name).
      const own = new Headers(incoming)
      const edited = upstreamHeaders(own, CTX, f, 'edit')
      assert.equal(edited, own)
      assert.deepEqual([...edited], [...copy])
    }
  }
  const upstream = new Headers({
    'content-type': 'text/plain',
    connection: 'keep-alive, X-Secret ,',
    'x-secret': '1',
    'keep-alive': 'timeout=5',
    'transfer-encoding': 'chunked',
    'proxy-authenticate': 'Basic',
    'content-encoding': 'gzip',
    'content-length': '12',
    'x-request-id': 'upstream-id',
  })
  upstream.append('set-cookie', 'a=1')
  upstream.append('set-cookie', 'b=2')
  for (const decoded of [false, true]) {
    const copied = downstreamHeaders(upstream, decoded, 'rid', 'copy')
    const appended = downstreamHeaders(upstream, decoded, 'rid', 'append')
    assert.deepEqual([...appended], [...copied])
    assert.deepEqual([...copied.keys()].filter((n) => n !== 'set-cookie'), [
      ...(decoded ? [] : ['content-encoding', 'content-length']),
      'content-type',
      'x-request-id',
    ])
    assert.equal(copied.get('x-request-id'), 'rid')
  }
  const copy = downstreamHeaders(upstream, false, 'rid', 'copy')
  const append = downstreamHeaders(upstream, false, 'rid', 'append')
  assert.deepEqual([...downstreamHeaders(upstream, false, 'rid', 'edit')], [...copy])
  assert.deepEqual(append.getSetCookie(), ['a=1', 'b=2'])
})

test('Prefixes matches a name that starts with one of them, whatever its first character', () => {
  const prefixes = new Prefixes(['x-forwarded-', 'remote-', 'x-internal-'])
  assert.ok(prefixes.matches('x-forwarded-user'))
  assert.ok(prefixes.matches('remote-user'))
  assert.ok(prefixes.matches('x-internal-'))
  assert.ok(!prefixes.matches('x-forward'))
  assert.ok(!prefixes.matches('authorization'))
  assert.ok(!prefixes.matches(''))
  assert.ok(!prefixes.matches('\u00e9x-forwarded-'))
})

test('upstreamHeaders(): a body transfer-coded other than chunked is 400 transfer_coding_not_supported, in every build; chunked alone passes', () => {
  for (const build of ['copy', 'append', 'edit'] as const) {
    for (const coding of ['gzip, chunked', 'GZIP,chunked', 'identity', 'chunked, chunked']) {
      assert.throws(
        () => upstreamHeaders(new Headers({ 'transfer-encoding': coding }), CTX, filter(), build),
        (e: unknown) => e instanceof BadRequestError && e.code === 'transfer_coding_not_supported',
        `${build} ${coding}`,
      )
    }
    const chunked = upstreamHeaders(
      new Headers({ 'transfer-encoding': ' Chunked ' }),
      CTX,
      filter(),
      build,
    )
    assert.equal(chunked.get('transfer-encoding'), null, build)
  }
})
