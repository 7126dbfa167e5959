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
import { loadConfig } from '../../src/core/config/load.ts'
import { ConfigError } from '../../src/core/errors.ts'
import { test } from '../helpers/t.ts'

const CORS: CorsConfig = {
  origins: ['https://app.example.com', '*.example.org'],
  methods: ['GET', 'POST'],
  headers: ['authorization', 'content-type'],
  credentials: true,
  maxAgeSec: 600,
  exposeHeaders: [],
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

test("allowOrigin(): the upstream's Access-Control-* headers are removed, whatever the origin; an allowed one may read the gateway's own headers and those the configuration exposes", () => {
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
    [
      'access-control-expose-headers',
      'www-authenticate, x-request-id, retry-after, ratelimit, ratelimit-policy',
    ],
  ])
  // JWTGATE_CORS_EXPOSE_HEADERS: the upstream's headers the operator lets scripts read.
  const etag = upstream()
  allowOrigin(
    { ...noCredentials, exposeHeaders: ['etag', 'location'] },
    get,
    'https://app.example.com',
    etag,
  )
  assert.equal(
    etag.get('access-control-expose-headers'),
    'www-authenticate, x-request-id, retry-after, ratelimit, ratelimit-policy, etag, location',
  )
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

/** A configuration from the environment with CORS for one origin, and `vars`. */
const corsConfig = (vars: Record<string, string>) =>
  loadConfig({
    JWTGATE_UPSTREAM: 'http://127.0.0.1:9',
    JWTGATE_SECRET: 'a'.repeat(32),
    JWTGATE_CORS_ORIGINS: 'https://app.example.com',
    ...vars,
  })

/** Asserts that `vars` are refused at start, the first issue naming `variable`. */
async function refused(vars: Record<string, string>, variable: string, message = /./) {
  await assert.rejects(corsConfig(vars), (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e))
    assert.equal(e.issues[0]?.path, variable)
    assert.match(e.issues[0]!.message, message)
    return true
  })
}

test('JWTGATE_CORS_METHODS takes methods as the file does: a lower-case or unknown one is refused at start, never a preflight that silently fails', async () => {
  for (const methods of ['get,post,delete', 'GET,*', 'GET,FETCH']) {
    await refused(
      { JWTGATE_CORS_METHODS: methods },
      'JWTGATE_CORS_METHODS',
      /is not a method a preflight asks for/,
    )
  }
  const config = await corsConfig({ JWTGATE_CORS_METHODS: 'GET, DELETE' })
  assert.deepEqual(config.cors?.methods, ['GET', 'DELETE'])
})

test("JWTGATE_CORS_EXPOSE_HEADERS and the file's cors.exposeHeaders: header names, lower-cased; anything else refused at start", async () => {
  const fromEnv = await corsConfig({ JWTGATE_CORS_EXPOSE_HEADERS: 'ETag, X-Total-Count' })
  assert.deepEqual(fromEnv.cors?.exposeHeaders, ['etag', 'x-total-count'])
  await refused({ JWTGATE_CORS_EXPOSE_HEADERS: 'etag, x total' }, 'JWTGATE_CORS_EXPOSE_HEADERS')
  const file = (expose: string[]) =>
    loadConfig({ JWTGATE_CONFIG: 'g.json' }, {
      readFile: () =>
        JSON.stringify({
          upstreams: { api: { url: 'http://127.0.0.1:9' } },
          providers: { main: { secret: 'a'.repeat(32) } },
          routes: [{ name: 'all', path: '/*', upstream: 'api' }],
          cors: { origins: ['https://app.example.com'], exposeHeaders: expose },
        }),
    })
  assert.deepEqual((await file(['ETag'])).cors?.exposeHeaders, ['etag'])
  await assert.rejects(file(['x total']), ConfigError)
})

test('a subdomain pattern names one domain: *.com, *.0.0.1 and *..example.com are refused', () => {
  for (const pattern of ['*.com', 'http://*.com', '*.0.0.1', '*..example.com', '*.example.']) {
    assert.match(
      originPatternProblem(pattern) ?? '',
      /must name the subdomains of one domain/,
      pattern,
    )
  }
  for (const pattern of ['*.example.com', 'http://*.example.co.uk', '*.a-b.example']) {
    assert.equal(originPatternProblem(pattern), undefined, pattern)
  }
})
