import assert from 'node:assert/strict'
import { gatewayFixture } from '../../helpers/gateway.ts'
import { secret, sign } from '../../helpers/keys.ts'
import { test } from '../../helpers/t.ts'

const KEY = secret(32)
const PROXY = '127.0.0.1'

/** A gateway answering checks (auth mode, no upstream) with routes like proxy mode's. */
async function setup(extra = '') {
  return await gatewayFixture({
    file: () => `
mode: auth
${extra}
providers:
  main: { secret: "${KEY.config}" }
rateLimits:
  tight: { rate: 1/1m, routes: [limited] }
routes:
  - { name: public, path: /public/*, auth: public }
  - { name: limited, path: /limited/*, claimHeaders: { sub: X-User-Id } }
  - name: orders
    path: /orders/:id
    methods: [GET]
    claimHeaders: { sub: X-User-Id, email: X-User-Email }
    require: { scopes: { all: [orders:read] } }
  - { name: admin, path: /admin/*, require: { roles: { any: [admin] } } }
`,
  })
}

const token = (claims: Record<string, unknown>) => sign(claims, { alg: 'HS256', key: KEY.raw })

/** A check as nginx sends it: X-Original-Method and X-Original-URI, on some path of its own. */
const nginx = (method: string, uri: string, headers: Record<string, string> = {}) => ({
  headers: { 'x-original-method': method, 'x-original-uri': uri, ...headers },
})
/** A check as Traefik and Caddy send it. */
const traefik = (method: string, uri: string, headers: Record<string, string> = {}) => ({
  headers: { 'x-forwarded-method': method, 'x-forwarded-uri': uri, ...headers },
})

test('an allowed check: 200, no body, the claim headers and X-Request-Id, no-store', async () => {
  const g = await setup()
  try {
    const t = await token({ sub: 'alice', email: 'a@x', scope: 'orders:read' })
    for (const build of [nginx, traefik]) {
      const response = await g.call(
        '/auth',
        build('GET', '/orders/7?x=1', { authorization: `Bearer ${t}` }),
        PROXY,
      )
      assert.equal(response.status, 200)
      assert.equal(await response.text(), '')
      assert.equal(response.headers.get('x-user-id'), 'alice')
      assert.equal(response.headers.get('x-user-email'), 'a@x')
      assert.equal(response.headers.get('cache-control'), 'no-store')
      assert.match(response.headers.get('x-request-id')!, /^[0-9a-f-]{36}$/)
    }
    const line = g.lines.map((l) => JSON.parse(l)).find((l) => l.event === 'request')
    assert.equal(line.path, '/orders/7')
    assert.equal(line.method, 'GET')
    assert.equal(line.route, 'orders')
  } finally {
    await g.close()
  }
})

test('a refused check answers as proxy mode would: 401 with WWW-Authenticate, 403, 404, 429', async () => {
  const g = await setup()
  try {
    const reader = await token({ sub: 'bob', scope: 'orders:read' })
    const missing = await g.call('/auth', nginx('GET', '/orders/7'), PROXY)
    assert.equal(missing.status, 401)
    assert.equal(missing.headers.get('www-authenticate'), 'Bearer realm="jwtgate"')
    assert.equal((await missing.json()).code, 'token_missing')
    const wrongMethod = await g.call(
      '/auth',
      nginx('DELETE', '/orders/7', { authorization: `Bearer ${reader}` }),
      PROXY,
    )
    assert.equal(wrongMethod.status, 404, 'the route matches GET only: the original method decides')
    const admin = await g.call(
      '/auth',
      nginx('GET', '/admin/x', { authorization: `Bearer ${reader}` }),
      PROXY,
    )
    assert.equal(admin.status, 403)
    assert.equal((await admin.json()).code, 'insufficient_role')
    // A public route: allowed, every claim header answered empty (a proxy copying it replaces
    // the client's copy with nothing).
    const open = await g.call('/auth', nginx('GET', '/public/x', { 'x-user-id': 'root' }), PROXY)
    assert.equal(open.status, 200)
    assert.equal(open.headers.get('x-user-id'), '')
    assert.equal(open.headers.get('x-user-email'), '')
    const first = await g.call(
      '/auth',
      nginx('GET', '/limited/a', { authorization: `Bearer ${reader}` }),
      PROXY,
    )
    assert.equal(first.headers.get('ratelimit-policy'), '"tight";q=1;w=60')
    const second = await g.call(
      '/auth',
      nginx('GET', '/limited/a', { authorization: `Bearer ${reader}` }),
      PROXY,
    )
    assert.equal(second.status, 429)
  } finally {
    await g.close()
  }
})

test('path tricks in the original URI are refused: the proxy forwards its own form, not ours', async () => {
  const g = await setup()
  try {
    const plain = await token({ sub: 'eve' })
    const auth = { authorization: `Bearer ${plain}` }
    const tricks = [
      '/public/../admin/x',
      '/public/%2e%2e/admin/x',
      '/public/%2E%2E/admin/x',
      '/admin/../public/x',
      '/admin/%2e%2e/public/x',
      '/admin/./x',
      '/public/.%2e/admin/x',
      '/public%2f..%2fadmin/x',
      '/public/x;/../../admin/x',
      '/admin\\x',
      'admin/x',
      'http://h/admin',
      '/caf\u00c3\u00a9/x',
      '/public/\u00e9',
      '/public/%252e%252e/admin/x',
    ]
    for (const uri of tricks) {
      const response = await g.call('/auth', nginx('GET', uri, auth), PROXY)
      assert.equal(response.status, 400, uri)
      assert.equal(
        (await g.call('/auth', nginx('GET', uri), PROXY)).status,
        400,
        `${uri} (no token)`,
      )
    }
    // Percent-encoded UTF-8 is a path like any other.
    assert.equal(
      (await g.call('/auth', nginx('GET', '/public/caf%C3%A9', auth), PROXY)).status,
      200,
    )
  } finally {
    await g.close()
  }
})

test('both conventions at once are refused; JWTGATE_AUTH_HEADERS pins one and ignores the other', async () => {
  const g = await setup()
  try {
    const both = { ...nginx('GET', '/public/x').headers, ...traefik('GET', '/admin/x').headers }
    const response = await g.call('/auth', { headers: both }, PROXY)
    assert.equal(response.status, 400)
    assert.equal((await response.json()).code, 'auth_headers_conflict')
    const half = await g.call('/auth', { headers: { 'x-original-uri': '/public/x' } }, PROXY)
    assert.equal(half.status, 400)
    assert.equal((await half.json()).code, 'auth_headers_missing')
  } finally {
    await g.close()
  }
  const pinned = await setup('forwardAuth: { headers: forwarded }')
  try {
    // A client's X-Original-URI passed through by Caddy is ignored: the forwarded one decides.
    const both = { ...nginx('GET', '/public/x').headers, ...traefik('GET', '/admin/x').headers }
    assert.equal((await pinned.call('/auth', { headers: both }, PROXY)).status, 401)
    const none = await pinned.call('/auth', nginx('GET', '/public/x'), PROXY)
    assert.equal(none.status, 400)
    assert.equal((await none.json()).code, 'auth_headers_missing')
  } finally {
    await pinned.close()
  }
})

test('checks are taken only from trusted callers (loopback by default)', async () => {
  const g = await setup()
  try {
    const response = await g.call('/auth', nginx('GET', '/public/x'), '198.51.100.7')
    assert.equal(response.status, 403)
    assert.equal((await response.json()).code, 'untrusted_caller')
    assert.equal((await g.call('/auth', nginx('GET', '/public/x'), '::1')).status, 200)
  } finally {
    await g.close()
  }
  const listed = await setup('forwardAuth: { callers: [198.51.100.0/24] }')
  try {
    assert.equal(
      (await listed.call('/auth', nginx('GET', '/public/x'), '198.51.100.7')).status,
      200,
    )
    assert.equal((await listed.call('/auth', nginx('GET', '/public/x'), '127.0.0.1')).status, 403)
  } finally {
    await listed.close()
  }
})

test("Envoy's convention: the check's own method and path, below the check path", async () => {
  const g = await setup('forwardAuth: { path: /ext_authz }')
  try {
    const t = await token({ sub: 'carol', scope: 'orders:read' })
    const allowed = await g.call('/ext_authz/orders/7', {
      headers: { authorization: `Bearer ${t}` },
    }, PROXY)
    assert.equal(allowed.status, 200)
    assert.equal(allowed.headers.get('x-user-id'), 'carol')
    const post = await g.call('/ext_authz/orders/7', {
      method: 'POST',
      headers: { authorization: `Bearer ${t}` },
    }, PROXY)
    assert.equal(post.status, 404)
    assert.equal((await g.call('/ext_authz/admin/x', {}, PROXY)).status, 401)
    assert.equal((await g.call('/ext_authz/public/../admin/x', {}, PROXY)).status, 401)
    // In auth mode no health probe on the main listener: /healthz is a check like any other.
    assert.equal((await g.call('/ext_authz/healthz', {}, PROXY)).status, 404)
  } finally {
    await g.close()
  }
})

test('proxy mode with JWTGATE_AUTH_PATH: checks on that path, everything else proxied', async () => {
  const g = await gatewayFixture({
    env: ({ upstream }) => ({
      JWTGATE_UPSTREAM: upstream.url,
      JWTGATE_SECRET: KEY.config,
      JWTGATE_AUTH_PATH: '/_auth',
      JWTGATE_FORWARD_CLAIMS: 'sub=X-User-Id',
    }),
  })
  try {
    const t = await token({ sub: 'dave' })
    const check = await g.call(
      '/_auth',
      nginx('GET', '/anything', { authorization: `Bearer ${t}` }),
      PROXY,
    )
    assert.equal(check.status, 200)
    assert.equal(check.headers.get('x-user-id'), 'dave')
    assert.equal(g.upstream.seen.length, 0, 'a check never reaches the upstream')
    const proxied = await g.call('/anything', { headers: { authorization: `Bearer ${t}` } })
    assert.equal(proxied.status, 200)
    assert.equal(g.upstream.seen.length, 1)
    assert.equal((await g.call('/_auth', nginx('GET', '/x'), '203.0.113.9')).status, 403)
  } finally {
    await g.close()
  }
})

test("a check's client is the address its proxy reports: one client's refusals never limit another", async () => {
  const g = await gatewayFixture({
    env: () => ({ JWTGATE_MODE: 'auth', JWTGATE_SECRET: KEY.config, JWTGATE_RATE_LIMIT: '2/1m' }),
  })
  try {
    const from = (client: string) =>
      g.call('/auth', nginx('GET', '/x', { 'x-forwarded-for': `198.51.100.1, ${client}` }), PROXY)
    assert.deepEqual(
      [(await from('203.0.113.1')).status, (await from('203.0.113.1')).status],
      [401, 401],
    )
    assert.equal((await from('203.0.113.1')).status, 429)
    assert.equal((await from('203.0.113.2')).status, 401, 'another client behind the same proxy')
    const clients = g.lines.map((l) => JSON.parse(l)).filter((l) => l.event === 'request')
      .map((l) => l.client)
    assert.deepEqual(clients, ['203.0.113.1', '203.0.113.1', '203.0.113.1', '203.0.113.2'])
  } finally {
    await g.close()
  }
})

test('a check without X-Forwarded-For counts as its proxy’s address, and the first one says so (check_without_client), once', async () => {
  const g = await gatewayFixture({
    env: () => ({ JWTGATE_MODE: 'auth', JWTGATE_SECRET: KEY.config }),
  })
  try {
    for (let i = 0; i < 3; i++) {
      assert.equal((await g.call('/auth', nginx('GET', '/x'), PROXY)).status, 401)
    }
    const said = g.lines.map((l) => JSON.parse(l)).filter((l) => l.event === 'check_without_client')
    assert.equal(said.length, 1)
    assert.equal(said[0].caller, PROXY)
    const clients = g.lines.map((l) => JSON.parse(l)).filter((l) => l.event === 'request')
      .map((l) => l.client)
    assert.deepEqual(clients, [PROXY, PROXY, PROXY])
    // With the header: no warning for it.
    await g.call('/auth', nginx('GET', '/x', { 'x-forwarded-for': '203.0.113.1' }), PROXY)
    assert.equal(g.lines.filter((l) => JSON.parse(l).event === 'check_without_client').length, 1)
  } finally {
    await g.close()
  }
})

test('a URI with :// in its path or query is checked as itself, never cut at the ://', async () => {
  const g = await setup('forwardAuth: { path: /ext_authz }')
  try {
    const plain = await token({ sub: 'eve' })
    const auth = { authorization: `Bearer ${plain}` }
    for (const build of [nginx, traefik]) {
      const q = await g.call(
        '/auth',
        build('GET', '/admin/users?next=http://x/public/a', auth),
        PROXY,
      )
      assert.equal(q.status, 403, 'decided as /admin/users')
      const p = await g.call('/auth', build('GET', '/admin/http://x/public/a', auth), PROXY)
      assert.equal(p.status, 400, 'an empty segment: refused')
    }
    const envoy = await g.call(
      '/ext_authz/admin/users?next=http://x/public/a',
      { headers: auth },
      PROXY,
    )
    assert.equal(envoy.status, 403)
  } finally {
    await g.close()
  }
})

test('empty path segments in a checked URI are refused, before or after dot segments', async () => {
  const g = await setup()
  try {
    for (const uri of ['//admin/x', '/public//x', '/x/..//admin/x', '/public/./%2e%2e//admin']) {
      const response = await g.call('/auth', nginx('GET', uri), PROXY)
      assert.equal(response.status, 400, uri)
      assert.equal((await response.json()).code, 'bad_path')
    }
  } finally {
    await g.close()
  }
})

test("JWTGATE_AUTH_HEADERS=path: Envoy's convention alone; a client's X-Original-* headers are ignored", async () => {
  const g = await setup('forwardAuth: { path: /ext_authz, headers: path }')
  try {
    const forged = await g.call(
      '/ext_authz/admin/x',
      nginx('GET', '/public/x', { 'x-forwarded-uri': '/public/y', 'x-forwarded-method': 'GET' }),
      PROXY,
    )
    assert.equal(forged.status, 401, 'decided as /admin/x, whatever the headers say')
  } finally {
    await g.close()
  }
})

test('a check of a WebSocket handshake meets the rules proxying it would: the route, and the origin of a cookie login', async () => {
  const g = await gatewayFixture({
    file: () => `
mode: auth
providers:
  main: { secret: "${KEY.config}", tokenSources: [header:Authorization, cookie:session] }
routes:
  - { name: chat, path: /chat }
  - { name: plain, path: /plain, websockets: false }
`,
  })
  try {
    const t = await token({ sub: 'alice' })
    const handshake = {
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
      'sec-websocket-version': '13',
    }
    const ask = async (uri: string, headers: Record<string, string>) => {
      const response = await g.call('/auth', nginx('GET', uri, { ...handshake, ...headers }), PROXY)
      return response.status === 200 ? 200 : (await response.json()).code
    }
    const cookie = { cookie: `session=${t}` }
    // Cross-site WebSocket hijacking: a page elsewhere opening a socket with the user's cookie.
    assert.equal(
      await ask('/chat', { ...cookie, origin: 'https://evil.example' }),
      'origin_rejected',
    )
    assert.equal(
      await ask('/chat', {
        ...cookie,
        origin: 'https://app.example',
        'x-forwarded-host': 'api.example',
        'x-forwarded-proto': 'https',
      }),
      'origin_rejected',
    )
    // The page's own origin, as the asking proxy reports the original host and scheme.
    assert.equal(
      await ask('/chat', {
        ...cookie,
        origin: 'https://api.example',
        'x-forwarded-host': 'api.example',
        'x-forwarded-proto': 'https',
      }),
      200,
    )
    // A bearer token is no browser's ambient credential: any origin.
    assert.equal(
      await ask('/chat', { authorization: `Bearer ${t}`, origin: 'https://evil.example' }),
      200,
    )
    // A route without WebSockets refuses the handshake, as when proxying it.
    assert.equal(await ask('/plain', { authorization: `Bearer ${t}` }), 'websocket_not_allowed')
    // The same requests without a handshake are plain checks.
    const plain = await g.call(
      '/auth',
      nginx('GET', '/plain', { authorization: `Bearer ${t}`, origin: 'https://evil.example' }),
      PROXY,
    )
    assert.equal(plain.status, 200)
  } finally {
    await g.close()
  }
})

test('a lower-case method in a check is refused (405) as on a proxied request, not decided as GET', async () => {
  const g = await setup()
  try {
    const t = await token({ sub: 'alice', scope: 'orders:read' })
    for (const build of [nginx, traefik]) {
      const response = await g.call(
        '/auth',
        build('get', '/orders/7', { authorization: `Bearer ${t}` }),
        PROXY,
      )
      assert.equal(response.status, 405)
    }
  } finally {
    await g.close()
  }
})

test("an original URI sent twice (a client's copy, then the proxy's) is refused, not decided as the joined text; so is a raw space or quote", async () => {
  const g = await setup()
  try {
    const conventions: [string, string][] = [
      ['x-original-method', 'x-original-uri'],
      ['x-forwarded-method', 'x-forwarded-uri'],
    ]
    for (const [method, uri] of conventions) {
      const headers = new Headers({ [method]: 'GET' })
      headers.append(uri, '/public/x') // the client's
      headers.append(uri, '/admin/secret') // the proxy's, appended instead of replacing
      const response = await g.call('/auth', { headers }, PROXY)
      assert.equal(response.status, 400, uri)
      assert.equal((await response.json()).code, 'bad_path', uri)
      // In the query too: the path alone must not decide it.
      const inQuery = new Headers({ [method]: 'GET' })
      inQuery.append(uri, '/public/x?a=')
      inQuery.append(uri, '/admin/secret')
      assert.equal((await g.call('/auth', { headers: inQuery }, PROXY)).status, 400, `${uri} query`)
    }
    for (const uri of ['/public/a b', '/public/x?q="1"', '/public/<x>']) {
      assert.equal((await g.call('/auth', nginx('GET', uri), PROXY)).status, 400, uri)
    }
    // What browsers leave raw in a query stays allowed.
    assert.equal((await g.call('/auth', nginx('GET', '/public/x?a=b|c&d={e}'), PROXY)).status, 200)
  } finally {
    await g.close()
  }
})

test('a check carrying a header a backend reads as another method, path or proxy is refused (400): the asking proxy would pass it on', async () => {
  const g = await setup('forwardAuth: { path: /ext_authz }')
  try {
    const t = await token({ sub: 'carol', scope: 'orders:read' })
    const auth = { authorization: `Bearer ${t}` }
    const overrides = {
      'x-http-method-override': 'DELETE',
      'X-HTTP-Method': 'DELETE',
      'x-method-override': 'DELETE',
      'X-Original-URL': '/admin/x',
      'x-rewrite-url': '/admin/x',
      proxy: 'http://evil.example:3128',
    }
    for (const [name, value] of Object.entries(overrides)) {
      for (
        const [convention, path, init] of [
          ['nginx', '/auth', nginx('GET', '/orders/7', { ...auth, [name]: value })],
          ['traefik', '/', traefik('GET', '/orders/7', { ...auth, [name]: value })],
          ['envoy', '/ext_authz/orders/7', { headers: { ...auth, [name]: value } }],
        ] as const
      ) {
        const response = await g.call(path, init, PROXY)
        assert.equal(response.status, 400, `${name} (${convention})`)
        assert.equal((await response.json()).code, 'override_header_not_supported', name)
      }
    }
    // Without them, the same checks pass.
    assert.equal((await g.call('/auth', nginx('GET', '/orders/7', auth), PROXY)).status, 200)
    assert.equal((await g.call('/ext_authz/orders/7', { headers: auth }, PROXY)).status, 200)
  } finally {
    await g.close()
  }
})

test("unpinned, a check whose own path lies below the check path is Envoy's: decided on that path, never on headers a client added", async () => {
  const g = await setup('forwardAuth: { path: /ext_authz }')
  try {
    const forged = await g.call(
      '/ext_authz/admin/x',
      nginx('GET', '/public/x'),
      PROXY,
    )
    assert.equal(forged.status, 401, 'decided as /admin/x')
    const forwarded = await g.call('/ext_authz/admin/x', traefik('GET', '/public/x'), PROXY)
    assert.equal(forwarded.status, 401, 'decided as /admin/x')
    // On the check path itself (nginx's auth_request location), the headers carry the original.
    assert.equal((await g.call('/ext_authz', nginx('GET', '/public/x'), PROXY)).status, 200)
  } finally {
    await g.close()
  }
})
