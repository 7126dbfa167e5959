import assert from 'node:assert/strict'
import {
  addCorsHeaders,
  allowOrigin,
  type CorsConfig,
  isPreflight,
  originAllowed,
  originPatternProblem,
  preflightResponse,
} from '../../src/core/cors.ts'
import { test } from '../helpers/t.ts'

const CORS: CorsConfig = {
  origins: ['https://app.example.com', '*.example.org'],
  methods: ['GET', 'POST'],
  headers: ['authorization', 'content-type'],
  credentials: true,
  maxAgeSec: 600,
}

test('originAllowed() matches exact origins and subdomain patterns only', () => {
  assert.equal(originAllowed(CORS, 'https://app.example.com'), true)
  assert.equal(originAllowed(CORS, 'https://app.example.com.evil.test'), false)
  assert.equal(originAllowed(CORS, 'http://app.example.com'), false)
  assert.equal(originAllowed(CORS, 'https://a.example.org'), true)
  assert.equal(originAllowed(CORS, 'https://a.b.example.org:8443'), true)
  assert.equal(originAllowed(CORS, 'https://example.org'), false)
  assert.equal(originAllowed(CORS, 'https://evilexample.org'), false)
  assert.equal(originAllowed(CORS, 'null'), false)
})

test('a subdomain pattern takes https only, unless it writes its scheme: http://*.example.org', () => {
  // A page over plain http can be written by anyone on its path: with credentials allowed, it
  // would read every credentialed answer.
  for (const origin of ['http://a.example.org', 'ws://a.example.org', 'foo://a.example.org']) {
    assert.equal(originAllowed(CORS, origin), false, origin)
  }
  const http = { ...CORS, origins: ['http://*.example.org'] }
  assert.equal(originAllowed(http, 'http://a.example.org'), true)
  assert.equal(originAllowed(http, 'http://a.example.org:8080'), true)
  assert.equal(originAllowed(http, 'https://a.example.org'), false)
  assert.equal(originAllowed(http, 'http://example.org'), false)
  const https = { ...CORS, origins: ['https://*.example.org'] }
  assert.equal(originAllowed(https, 'https://a.example.org'), true)
  assert.equal(originAllowed(https, 'http://a.example.org'), false)
  for (const pattern of ['http://*.example.org', 'https://*.example.org', '*.example.org']) {
    assert.equal(originPatternProblem(pattern), undefined, pattern)
  }
  for (const pattern of ['ws://*.example.org', 'https://a.*.example.org', '*example.org', '**.a']) {
    assert.match(originPatternProblem(pattern)!, /must look like/, pattern)
  }
})

test('originPatternProblem() explains bad patterns', () => {
  assert.equal(originPatternProblem('https://a.example'), undefined)
  assert.equal(originPatternProblem('*'), undefined)
  assert.match(originPatternProblem('https://a.example/path')!, /must be an origin/)
  assert.match(originPatternProblem('*.Example.com')!, /\*\.example\.com/)
  assert.match(originPatternProblem('example.com')!, /must be an origin/)
})

test('preflightResponse() allows what is configured and refuses the rest', () => {
  const ask = (origin: string, method: string, headers = 'authorization') =>
    preflightResponse(
      CORS,
      new Request('http://gw/x', {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': method,
          'access-control-request-headers': headers,
        },
      }),
      'rid',
    )
  const ok = ask('https://app.example.com', 'POST', 'Authorization, Content-Type')
  assert.equal(ok.status, 204)
  assert.equal(ok.headers.get('access-control-allow-origin'), 'https://app.example.com')
  assert.equal(ok.headers.get('access-control-allow-methods'), 'GET, POST')
  assert.equal(ok.headers.get('access-control-allow-headers'), 'authorization, content-type')
  assert.equal(ok.headers.get('access-control-allow-credentials'), 'true')
  assert.equal(ok.headers.get('access-control-max-age'), '600')
  for (
    const bad of [
      ask('https://evil.test', 'GET'),
      ask('https://app.example.com', 'DELETE'),
      ask('https://app.example.com', 'GET', 'x-admin'),
    ]
  ) {
    assert.equal(bad.status, 403)
    assert.equal(bad.headers.get('access-control-allow-origin'), null)
  }
})

test('isPreflight() needs OPTIONS, Origin and Access-Control-Request-Method', () => {
  assert.equal(
    isPreflight(
      new Request('http://gw/', {
        method: 'OPTIONS',
        headers: { origin: 'https://a', 'access-control-request-method': 'GET' },
      }),
    ),
    true,
  )
  assert.equal(
    isPreflight(new Request('http://gw/', { method: 'OPTIONS', headers: { origin: 'https://a' } })),
    false,
  )
  assert.equal(
    isPreflight(
      new Request('http://gw/', {
        method: 'GET',
        headers: { origin: 'https://a', 'access-control-request-method': 'GET' },
      }),
    ),
    false,
  )
})

test('addCorsHeaders() echoes the origin and exposes WWW-Authenticate', () => {
  const h = new Headers()
  addCorsHeaders(CORS, 'https://app.example.com', h)
  assert.equal(h.get('access-control-allow-origin'), 'https://app.example.com')
  assert.equal(h.get('access-control-allow-credentials'), 'true')
  assert.match(h.get('access-control-expose-headers')!, /www-authenticate/)
  assert.equal(h.get('vary'), 'Origin')
  const star = new Headers()
  addCorsHeaders({ ...CORS, origins: ['*'], credentials: false }, 'https://x', star)
  assert.equal(star.get('access-control-allow-origin'), '*')
})

test("allowOrigin(): the upstream's Access-Control-* headers are removed, whatever the origin", () => {
  const upstream = () =>
    new Headers({
      'Access-Control-Allow-Origin': 'https://evil.test',
      'access-control-allow-credentials': 'true',
      'access-control-allow-methods': 'DELETE',
      'access-control-allow-headers': '*',
      'access-control-expose-headers': 'x-secret',
      'access-control-max-age': '86400',
      'access-control-allow-private-network': 'true',
      'content-type': 'text/plain',
      'x-access-control-note': 'kept',
    })
  const get = new Request('http://gw.test/x')
  const cors = (h: Headers) => [...h].filter(([n]) => n.startsWith('access-control-'))
  const noCredentials = { ...CORS, credentials: false }
  for (const origin of [null, 'https://evil.test', 'null']) {
    const h = upstream()
    allowOrigin(noCredentials, get, origin, h)
    assert.deepEqual(cors(h), [], String(origin))
    assert.equal(h.get('content-type'), 'text/plain')
    assert.equal(h.get('x-access-control-note'), 'kept')
  }
  const allowed = upstream()
  allowOrigin(noCredentials, get, 'https://app.example.com', allowed)
  assert.deepEqual(cors(allowed), [
    ['access-control-allow-origin', 'https://app.example.com'],
    ['access-control-expose-headers', 'www-authenticate, x-request-id, retry-after'],
  ])
})

test('allowOrigin(): Vary: Origin on every answer, to a missing or refused origin too, once', () => {
  const get = new Request('http://gw.test/x')
  const cases: [string | null, string | null, string][] = [
    [null, null, 'Origin'],
    ['https://evil.test', null, 'Origin'],
    ['https://app.example.com', null, 'Origin'],
    ['https://app.example.com', 'Accept-Encoding', 'Accept-Encoding, Origin'],
    [null, 'accept-encoding, origin', 'accept-encoding, origin'],
    ['https://evil.test', 'Origin,Accept', 'Origin,Accept'],
    [null, '*', '*'],
    [null, 'X-Origin-Id', 'X-Origin-Id, Origin'],
  ]
  for (const [origin, vary, expected] of cases) {
    const h = new Headers(vary === null ? {} : { vary })
    allowOrigin(CORS, get, origin, h)
    assert.equal(h.get('vary'), expected, `${origin} ${vary}`)
  }
  // A preflight's answer is preflightResponse's own: left alone.
  const preflight = new Request('http://gw.test/x', {
    method: 'OPTIONS',
    headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET' },
  })
  const own = new Headers({ 'access-control-allow-origin': 'https://app.example.com' })
  allowOrigin(CORS, preflight, 'https://app.example.com', own)
  assert.deepEqual([...own], [['access-control-allow-origin', 'https://app.example.com']])
})
