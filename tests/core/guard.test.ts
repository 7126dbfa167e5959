import assert from 'node:assert/strict'
import { loadConfig } from '../../src/core/config/load.ts'
import { ConfigError } from '../../src/core/errors.ts'
import { createVerifier, type Guarded, protect } from '../../src/core/guard.ts'
import { createLogger } from '../../src/core/log.ts'
import { RevocationList } from '../../src/core/revocation/list.ts'
import { secret, sign } from '../helpers/keys.ts'
import { test } from '../helpers/t.ts'

const HS = secret(32)
const token = (claims: Record<string, unknown>) => sign(claims, { alg: 'HS256', key: HS.raw })
const request = (path: string, token?: string, method = 'GET') =>
  new Request(`http://app.test${path}`, {
    method,
    headers: token === undefined
      ? { host: 'app.test' }
      : { host: 'app.test', authorization: `Bearer ${token}` },
  })

/** A file configuration with no upstream at all: routes guard the handler. */
const FILE = JSON.stringify({
  providers: {
    main: { issuer: 'https://idp.test', secret: HS.config },
  },
  routes: [
    { name: 'health', path: '/health', auth: 'public' },
    { name: 'orders', path: '/orders/:id', require: { scopes: { all: ['orders:read'] } } },
  ],
})
const local = () =>
  loadConfig({ JWTGATE_CONFIG: 'app.json' }, { readFile: () => FILE, local: true })

test('loadConfig({ local: true }) needs no upstream, from the environment or a file; without it one is required', async () => {
  const env = await loadConfig({ JWTGATE_SECRET: HS.config }, { local: true })
  assert.deepEqual(env.upstreams, [])
  assert.deepEqual((await local()).routes.map((r) => [r.name, r.upstream]), [['health', ''], [
    'orders',
    '',
  ]])
  await assert.rejects(
    loadConfig({ JWTGATE_SECRET: HS.config }),
    (e: unknown) => e instanceof ConfigError && e.issues.some((i) => i.path === 'JWTGATE_UPSTREAM'),
  )
  await assert.rejects(
    loadConfig({ JWTGATE_CONFIG: 'app.json' }, { readFile: () => FILE }),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.issues.map((i) => `${i.path}: ${i.message}`).includes('routes[0].upstream: is required'),
  )
})

test('protect(): allowed requests reach the handler with the claims, route and params; refusals never do', async () => {
  const seen: Guarded[] = []
  const guarded = protect(await local(), (req, who) => {
    seen.push(who)
    return Response.json({ path: new URL(req.url).pathname, sub: who.claims?.sub ?? null })
  })
  try {
    const reader = await token({ iss: 'https://idp.test', sub: 'alice', scope: 'orders:read' })
    const ok = await guarded.fetch(request('/orders/7', reader))
    assert.equal(ok.status, 200)
    assert.deepEqual(await ok.json(), { path: '/orders/7', sub: 'alice' })
    assert.ok(ok.headers.get('x-request-id'))
    assert.deepEqual(seen.map((w) => [w.route, w.params, w.claims?.sub]), [[
      'orders',
      { id: '7' },
      'alice',
    ]])
    const publicAnswer = await guarded.fetch(request('/health'))
    assert.deepEqual([publicAnswer.status, seen.at(-1)?.claims], [200, undefined])
    const before = seen.length
    const missing = await guarded.fetch(request('/orders/7'))
    assert.equal(missing.status, 401)
    assert.equal(missing.headers.get('www-authenticate'), 'Bearer realm="jwtgate"')
    const noScope = await guarded.fetch(
      request('/orders/7', await token({ iss: 'https://idp.test', sub: 'bob' })),
    )
    assert.equal(noScope.status, 403)
    assert.equal((await noScope.json()).code, 'insufficient_scope')
    assert.equal((await guarded.fetch(request('/nowhere', reader))).status, 404)
    assert.equal(seen.length, before)
    assert.equal(guarded.metrics.render().includes('jwtgate_requests_total{route="orders"'), true)
  } finally {
    guarded.close()
  }
})

test('createVerifier(): the claims, route and params, or the refusal to send back', async () => {
  const verifier = createVerifier(await local())
  try {
    const reader = await token({ iss: 'https://idp.test', sub: 'alice', scope: 'orders:read' })
    const who = await verifier.verify(request('/orders/9', reader))
    assert.ok(!(who instanceof Response))
    assert.deepEqual([who.route, who.params, who.claims?.sub], ['orders', { id: '9' }, 'alice'])
    const refused = await verifier.verify(request('/orders/9', `${reader}x`))
    assert.ok(refused instanceof Response)
    assert.equal(refused.status, 401)
    assert.match(refused.headers.get('www-authenticate')!, /error="invalid_token"/)
    assert.equal((await refused.json()).code, 'bad_signature')
    const forbidden = await verifier.verify(
      request('/orders/9', await token({ iss: 'https://idp.test' })),
    )
    assert.ok(forbidden instanceof Response && forbidden.status === 403)
    const bad = await verifier.verify(request('/orders/%2e%2e%2fx', reader))
    assert.ok(bad instanceof Response && bad.status === 400)
  } finally {
    verifier.close()
  }
})

test('createVerifier() with a revocation list: a revoked token is the 401 token_revoked to send back', async () => {
  const revocations = new RevocationList()
  const verifier = createVerifier(await local(), { revocations })
  try {
    const reader = await token({
      iss: 'https://idp.test',
      sub: 'alice',
      scope: 'orders:read',
      iat: Math.floor(Date.now() / 1000) - 10,
    })
    assert.ok(!((await verifier.verify(request('/orders/9', reader))) instanceof Response))
    revocations.add(
      {
        kind: 'sub',
        sub: 'alice',
        iss: undefined,
        before: Math.floor(Date.now() / 1000),
        until: Math.floor(Date.now() / 1000) + 60,
      },
      Date.now(),
    )
    const refused = await verifier.verify(request('/orders/9', reader))
    assert.ok(refused instanceof Response)
    assert.equal(refused.status, 401)
    assert.equal((await refused.json()).code, 'token_revoked')
  } finally {
    verifier.close()
  }
})

test('createVerifier() and protect() given no list for a configuration that names revocations: refused at creation, strict or not', async () => {
  for (const strict of [true, false]) {
    const text = JSON.parse(FILE)
    text.revocations = { file: '/var/lib/jwtgate/revoked.jsonl', strict }
    const config = await loadConfig({ JWTGATE_CONFIG: 'app.json' }, {
      readFile: () => JSON.stringify(text),
      local: true,
    })
    assert.throws(
      () => createVerifier(config),
      /revocations file for revocations, but no RevocationList/,
    )
    assert.throws(() => protect(config, () => new Response('reached')), TypeError)
    // An empty list checks none, on purpose.
    const verifier = createVerifier(config, { revocations: new RevocationList() })
    const reader = await token({ iss: 'https://idp.test', sub: 'alice', scope: 'orders:read' })
    const verified = await verifier.verify(request('/orders/9', reader))
    assert.ok(!(verified instanceof Response), String(strict))
    verifier.close()
  }
})

/**
 * `response` with headers that refuse every edit, as a fetch() response's do under Deno and
 * undici (Bun's are mutable, and so is its Response.redirect's: Deno's is not).
 */
function immutable(response: Response): Response {
  const headers = new Headers(response.headers)
  for (const method of ['set', 'append', 'delete'] as const) {
    Object.defineProperty(headers, method, {
      value: () => {
        throw new TypeError('Headers are immutable')
      },
    })
  }
  return Object.defineProperty(response, 'headers', { value: headers })
}

test('protect(): a handler response with immutable headers still gets the request id, rate-limit fields and CORS; fetch never rejects', async () => {
  const config = await loadConfig({ JWTGATE_CONFIG: 'app.json' }, {
    local: true,
    readFile: () =>
      JSON.stringify({
        providers: { main: { issuer: 'https://idp.test', secret: HS.config } },
        cors: { origins: ['https://app.example.com'] },
        rateLimits: { 'per-address': { rate: '100/1m', key: 'address', routes: ['limited'] } },
        routes: [
          { name: 'login', path: '/login', auth: 'public' },
          { name: 'limited', path: '/limited', auth: 'public' },
        ],
      }),
  })
  const handlers: [string, () => Response][] = [
    ['Response.redirect', () => Response.redirect('https://app.example.com/done', 302)],
    ['immutable headers', () =>
      immutable(
        new Response('moved', {
          status: 302,
          statusText: 'Found here',
          headers: { location: '/done', 'x-handler': 'yes' },
        }),
      )],
  ]
  for (const [name, handler] of handlers) {
    const lines: string[] = []
    const logger = createLogger({ level: 'info', format: 'json', sink: (l) => lines.push(l) })
    const guarded = protect(config, handler, { logger })
    try {
      for (const path of ['/login', '/limited']) {
        for (const origin of [undefined, 'https://app.example.com']) {
          const headers: Record<string, string> = { host: 'app.test', 'x-request-id': 'rid-1' }
          if (origin !== undefined) headers.origin = origin
          const res = await guarded.fetch(new Request(`http://app.test${path}`, { headers }), {
            clientAddress: '192.0.2.1',
          })
          const what = `${name} ${path} ${origin}`
          assert.equal(res.status, 302, what)
          assert.ok(res.headers.get('location')?.endsWith('/done'), what)
          assert.equal(res.headers.get('x-request-id'), 'rid-1', what)
          assert.equal(res.headers.get('access-control-allow-origin'), origin ?? null, what)
          assert.equal(res.headers.get('vary'), 'Origin', what)
          const limited = path === '/limited' ? '"per-address";q=100;w=60' : null
          assert.equal(res.headers.get('ratelimit-policy'), limited, what)
          if (name === 'immutable headers') {
            assert.equal(res.statusText, 'Found here', what)
            assert.equal(res.headers.get('x-handler'), 'yes', what)
            assert.equal(await res.text(), 'moved', what)
          }
        }
      }
      assert.match(guarded.metrics.render(), /^jwtgate_requests_in_flight 0$/m, name)
      const access = lines.map((l) => JSON.parse(l)).filter((l) => l.event === 'request')
      assert.deepEqual(access.map((l) => l.status), [302, 302, 302, 302], name)
    } finally {
      guarded.close()
    }
  }
})

test('protect(): fetch never rejects, even when a response refuses the CORS headers after taking the request id', async () => {
  const config = await loadConfig({ JWTGATE_CONFIG: 'app.json' }, {
    local: true,
    readFile: () =>
      JSON.stringify({
        providers: { main: { issuer: 'https://idp.test', secret: HS.config } },
        cors: { origins: ['https://app.example.com'] },
        routes: [{ name: 'login', path: '/login', auth: 'public' }],
      }),
  })
  const lines: string[] = []
  const logger = createLogger({ level: 'info', format: 'json', sink: (l) => lines.push(l) })
  let cancelled = false
  const guarded = protect(config, () => {
    const response = new Response(
      new ReadableStream({ cancel: () => void (cancelled = true) }),
    )
    const set = response.headers.set.bind(response.headers)
    Object.defineProperty(response.headers, 'set', {
      value: (name: string, value: string) => {
        if (name !== 'x-request-id') throw new TypeError('Headers are immutable')
        set(name, value)
      },
    })
    return response
  }, { logger })
  try {
    const res = await guarded.fetch(
      new Request('http://app.test/login', {
        headers: { host: 'app.test', origin: 'https://app.example.com' },
      }),
    )
    assert.equal(res.status, 500)
    assert.equal((await res.json()).code, 'internal_error')
    assert.equal(res.headers.get('access-control-allow-origin'), 'https://app.example.com')
    assert.equal(cancelled, true, "the handler's body is cancelled")
    assert.match(guarded.metrics.render(), /^jwtgate_requests_in_flight 0$/m)
    const events = lines.map((l) => JSON.parse(l))
    assert.deepEqual(events.filter((l) => l.event === 'request').map((l) => l.status), [500])
    assert.deepEqual(events.filter((l) => l.event === 'internal_error').map((l) => l.error), [
      'TypeError',
    ])
  } finally {
    guarded.close()
  }
})

/** A request as Deno hands one over: its url as the client wrote it, dot segments unresolved. */
const raw = (url: string, headers: Record<string, string> = {}) =>
  ({
    url,
    method: 'GET',
    headers: new Headers({ host: 'app.test', ...headers }),
    body: null,
    signal: new AbortController().signal,
  }) as unknown as Request

const DOTS_FILE = JSON.stringify({
  providers: { main: { issuer: 'https://idp.test', secret: HS.config } },
  routes: [
    { name: 'assets', path: '/assets/*', auth: 'public' },
    { name: 'rest', path: '/*' },
  ],
})

test('protect() and createVerifier(): a path with dot segments, plain or escaped, is 400 bad_path and never reaches the handler', async () => {
  // Decided as the public /assets/…, a handler routing on request.url (Hono under Deno) serves
  // /admin/* with it.
  const config = await loadConfig(
    { JWTGATE_CONFIG: 'app.json' },
    { readFile: () => DOTS_FILE, local: true },
  )
  let reached = 0
  const guarded = protect(config, () => {
    reached++
    return new Response('handler')
  })
  const verifier = createVerifier(config)
  try {
    for (
      const path of [
        '/admin/../assets/a.css',
        '/admin/%2e%2e/assets/a.css',
        '/admin/.%2E/assets/a.css',
        '/admin/./../assets/a.css',
        '/assets/./a.css',
      ]
    ) {
      const res = await guarded.fetch(raw(`http://app.test${path}`))
      assert.equal(res.status, 400, path)
      assert.equal((await res.json()).code, 'bad_path', path)
      const verified = await verifier.verify(raw(`http://app.test${path}`))
      assert.ok(verified instanceof Response && verified.status === 400, path)
    }
    assert.equal(reached, 0)
    // Dots inside a segment are no dot segment.
    assert.equal((await guarded.fetch(raw('http://app.test/assets/a..b.css'))).status, 200)
    assert.equal(reached, 1)
  } finally {
    guarded.close()
    verifier.close()
  }
})

test('protect() and createVerifier(): a WebSocket handshake meets the route and origin rules a proxied one does', async () => {
  const file = JSON.stringify({
    providers: {
      main: { issuer: 'https://idp.test', secret: HS.config, tokenSources: ['cookie:session'] },
    },
    routes: [
      { name: 'feed', path: '/feed', websockets: false },
      { name: 'ws', path: '/ws' },
    ],
  })
  const config = await loadConfig(
    { JWTGATE_CONFIG: 'app.json' },
    { readFile: () => file, local: true },
  )
  const guarded = protect(config, () => new Response('upgraded by the handler'))
  const verifier = createVerifier(config)
  const victim = await token({ iss: 'https://idp.test', sub: 'victim' })
  const handshake = (path: string, origin: string) =>
    new Request(`https://app.test${path}`, {
      headers: {
        host: 'app.test',
        cookie: `session=${victim}`,
        origin,
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        'sec-websocket-version': '13',
      },
    })
  const info = { protocol: 'https' as const }
  try {
    for (
      const [path, origin, code] of [
        ['/ws', 'https://evil.example', 'origin_rejected'],
        ['/feed', 'https://app.test', 'websocket_not_allowed'],
      ] as const
    ) {
      const res = await guarded.fetch(handshake(path, origin), info)
      assert.equal(res.status, 403, path)
      assert.equal((await res.json()).code, code, path)
      const verified = await verifier.verify(handshake(path, origin), info)
      assert.ok(verified instanceof Response, path)
      assert.equal((await verified.json()).code, code, path)
    }
    // From its own origin, a handshake to a route that takes WebSockets is the handler's.
    assert.equal((await guarded.fetch(handshake('/ws', 'https://app.test'), info)).status, 200)
    assert.ok(
      !((await verifier.verify(handshake('/ws', 'https://app.test'), info)) instanceof Response),
    )
  } finally {
    guarded.close()
    verifier.close()
  }
})

test('createVerifier() with a revocation list: a token older than the longest token lifetime is 401 token_too_old', async () => {
  const verifier = createVerifier(await local(), { revocations: new RevocationList() })
  try {
    const old = await token({
      iss: 'https://idp.test',
      sub: 'alice',
      scope: 'orders:read',
      iat: Math.floor(Date.now() / 1000) - 25 * 3600,
      exp: Math.floor(Date.now() / 1000) + 3600,
    })
    const refused = await verifier.verify(request('/orders/9', old))
    assert.ok(refused instanceof Response)
    assert.equal(refused.status, 401)
    assert.equal((await refused.json()).code, 'token_too_old')
  } finally {
    verifier.close()
  }
})

test('loadConfig({ local: true }) refuses claim headers and headers to strip (env and file): a guarded handler gets the client’s request, and would read the client’s X-User-Id', async () => {
  const cases: [Record<string, string>, string | undefined, string[]][] = [
    [{ JWTGATE_FORWARD_CLAIMS: 'sub=X-User-Id' }, undefined, ['JWTGATE_FORWARD_CLAIMS']],
    [{ JWTGATE_STRIP_HEADERS: 'X-Internal-*' }, undefined, ['JWTGATE_STRIP_HEADERS']],
    [{ JWTGATE_STRIP_HEADERS: 'X-Role' }, undefined, ['JWTGATE_STRIP_HEADERS']],
    [
      { JWTGATE_CONFIG: 'app.json' },
      JSON.stringify({
        providers: { main: { issuer: 'https://idp.test', secret: HS.config } },
        stripHeaders: ['X-Role'],
        routes: [
          { name: 'a', path: '/a/*' },
          { name: 'b', path: '/*', claimHeaders: { sub: 'X-User-Id' } },
        ],
      }),
      ['routes[1].claimHeaders', 'stripHeaders'],
    ],
  ]
  for (const [env, file, paths] of cases) {
    const vars = file === undefined ? { JWTGATE_SECRET: HS.config, ...env } : env
    await assert.rejects(
      loadConfig(vars, { local: true, readFile: () => file ?? '' }),
      (e: unknown) =>
        e instanceof ConfigError &&
        JSON.stringify(e.issues.map((i) => i.path)) === JSON.stringify(paths) &&
        e.issues.every((i) => /not applied to a handler guarded in this process/.test(i.message)),
      JSON.stringify(env),
    )
    // The proxy, and forward authentication's answers, carry them.
    if (file === undefined) await loadConfig({ JWTGATE_UPSTREAM: 'http://127.0.0.1:9', ...vars })
  }
  await loadConfig({
    JWTGATE_SECRET: HS.config,
    JWTGATE_MODE: 'auth',
    JWTGATE_FORWARD_CLAIMS: 'sub=X-User-Id',
  })
})

test('protect() and createVerifier() refuse claim headers and headers to strip however the configuration was loaded, and so does a reload; a reload that names a revocation store with no list is refused', async () => {
  // The proxy's own configuration (not { local: true }), handed to protect.
  const proxyConfig = await loadConfig({
    JWTGATE_UPSTREAM: 'http://127.0.0.1:9',
    JWTGATE_SECRET: HS.config,
    JWTGATE_FORWARD_CLAIMS: 'sub=X-User-Id',
  })
  const refused = (e: unknown) =>
    e instanceof ConfigError && e.issues.some((i) => i.path === 'JWTGATE_FORWARD_CLAIMS')
  assert.throws(() => protect(proxyConfig, () => new Response('reached')), refused)
  assert.throws(() => createVerifier(proxyConfig), refused)
  const plain = await loadConfig({ JWTGATE_SECRET: HS.config }, { local: true })
  const guarded = protect(plain, (request) => new Response(request.headers.get('x-user-id')))
  try {
    assert.throws(() => guarded.reload(proxyConfig), refused)
    assert.equal(guarded.config, plain)
    const redis = await loadConfig(
      { JWTGATE_SECRET: HS.config, JWTGATE_REDIS_URL: 'redis://127.0.0.1:1' },
      { local: true },
    )
    assert.throws(() => guarded.reload(redis), /no RevocationList was given/)
    assert.equal(guarded.config, plain)
  } finally {
    guarded.close()
  }
})

test('protect() and createVerifier(): a body announcing trailers or transfer-coded but chunked is refused 400 before the handler (Deno and Node hand such bodies over)', async () => {
  const config = await loadConfig(
    { JWTGATE_SECRET: HS.config, JWTGATE_PUBLIC_PATHS: '/public/*' },
    { local: true },
  )
  let reached = 0
  const guarded = protect(config, () => {
    reached++
    return new Response('handler')
  })
  const verifier = createVerifier(config)
  try {
    const cases: [Record<string, string>, string][] = [
      [{ 'transfer-encoding': 'gzip, chunked' }, 'transfer_coding_not_supported'],
      [{ 'transfer-encoding': 'chunked', trailer: 'x-sum' }, 'trailers_not_supported'],
    ]
    for (const [headers, code] of cases) {
      const res = await guarded.fetch(raw('http://app.test/public/x', headers))
      assert.equal(res.status, 400, code)
      assert.equal((await res.json()).code, code)
      const verified = await verifier.verify(raw('http://app.test/public/x', headers))
      assert.ok(verified instanceof Response && verified.status === 400, code)
    }
    assert.equal(reached, 0)
    const chunked = await guarded.fetch(
      raw('http://app.test/public/x', { 'transfer-encoding': 'chunked' }),
    )
    assert.equal(chunked.status, 200)
  } finally {
    guarded.close()
    verifier.close()
  }
})
