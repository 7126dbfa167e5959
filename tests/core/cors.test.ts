import assert from 'node:assert/strict'
import {
  addCorsHeaders,
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
