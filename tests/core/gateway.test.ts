import assert from 'node:assert/strict'
import { gatewayFixture } from '../helpers/gateway.ts'
import { keyPair, secret, sign } from '../helpers/keys.ts'
import { serve } from '../helpers/serve.ts'
import { test } from '../helpers/t.ts'

const HS = secret(32)

/** A gateway over one recording upstream at `/base/`, forwarding `sub` and `roles`. */
function setup(
  env: Record<string, string> = {},
  respond?: (r: Request) => Response | Promise<Response>,
) {
  return gatewayFixture({
    upstreams: { upstream: respond },
    env: ({ upstream }) => ({
      JWTGATE_UPSTREAM: `${upstream.url}/base/`,
      JWTGATE_SECRET: HS.config,
      JWTGATE_FORWARD_CLAIMS: 'sub=X-User-Id,roles=X-Roles',
      ...env,
    }),
  })
}

const token = (claims: Record<string, unknown> = { sub: 'alice' }) =>
  sign(claims, { alg: 'HS256', key: HS.raw })
const bearer = async (claims?: Record<string, unknown>) => ({
  authorization: `Bearer ${await token(claims)}`,
})

test('gateway forwards a request with a valid token, with identity and forwarding headers', async () => {
  const g = await setup()
  try {
    const res = await g.call('/orders/7?x=1', {
      headers: {
        ...(await bearer({ sub: 'alice', roles: ['a', 'b'] })),
        'x-user-id': 'mallory',
        'x-request-id': 'abc',
      },
    })
    assert.equal(res.status, 200)
    assert.deepEqual(await res.json(), { path: '/base/orders/7' })
    assert.equal(res.headers.get('x-request-id'), 'abc')
    const seen = g.upstream.seen[0]!
    assert.equal(seen.search, '?x=1')
    assert.equal(seen.headers.get('x-user-id'), 'alice')
    assert.equal(seen.headers.get('x-roles'), 'a,b')
    assert.equal(seen.headers.get('authorization'), null)
    assert.equal(seen.headers.get('x-forwarded-for'), '192.0.2.7')
    assert.equal(seen.headers.get('x-forwarded-proto'), 'http')
    assert.equal(seen.headers.get('x-forwarded-host'), 'gw.test')
    assert.equal(seen.headers.get('x-request-id'), 'abc')
  } finally {
    await g.close()
  }
})

test('gateway rejects a request without a token and sends nothing upstream', async () => {
  const g = await setup()
  try {
    const res = await g.call('/orders')
    assert.equal(res.status, 401)
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="jwtgate"')
    assert.equal((await res.json()).code, 'token_missing')
    const basic = await g.call('/orders', { headers: { authorization: 'Basic dTpw' } })
    assert.equal(basic.status, 401)
    assert.equal(g.upstream.seen.length, 0)
  } finally {
    await g.close()
  }
})

test('gateway rejects a bad token with invalid_token and sends nothing upstream', async () => {
  const g = await setup()
  try {
    const good = await token()
    for (
      const [auth, code] of [
        [`Bearer ${good.slice(0, -3)}AAA`, 'bad_signature'],
        [`Bearer ${good}.x`, 'token_malformed'],
        [
          `Bearer ${await sign({}, { alg: 'HS256', key: HS.raw, expiresIn: -120 })}`,
          'token_expired',
        ],
      ] as const
    ) {
      const res = await g.call('/x', { headers: { authorization: auth } })
      assert.equal(res.status, 401)
      assert.match(res.headers.get('www-authenticate')!, /error="invalid_token"/)
      assert.equal((await res.json()).code, code)
    }
    assert.equal(g.upstream.seen.length, 0)
  } finally {
    await g.close()
  }
})

test('gateway enforces required scopes (403) and roles', async () => {
  const g = await setup({ JWTGATE_REQUIRED_SCOPES: 'orders:read', JWTGATE_REQUIRED_ROLES: 'admin' })
  try {
    const noScope = await g.call('/x', {
      headers: await bearer({ scope: 'other', roles: ['admin'] }),
    })
    assert.equal(noScope.status, 403)
    assert.equal(
      noScope.headers.get('www-authenticate'),
      'Bearer realm="jwtgate", error="insufficient_scope", error_description="The token lacks a required scope.", scope="orders:read"',
    )
    const noRole = await g.call('/x', {
      headers: await bearer({ scope: 'orders:read', roles: ['user'] }),
    })
    assert.equal(noRole.status, 403)
    assert.equal((await noRole.json()).code, 'insufficient_role')
    assert.equal(g.upstream.seen.length, 0)
    const ok = await g.call('/x', {
      headers: await bearer({ scope: 'orders:read', roles: ['admin'] }),
    })
    assert.equal(ok.status, 200)
  } finally {
    await g.close()
  }
})

test('gateway forwards public paths without a token but never the client claim headers', async () => {
  const g = await setup({ JWTGATE_PUBLIC_PATHS: '/health,/docs/*' })
  try {
    assert.equal(
      (await g.call('/health', {
        headers: { 'x-user-id': 'mallory', X_User_Id: 'm2' } as Record<string, string>,
      })).status,
      200,
    )
    assert.equal((await g.call('/docs/a/b')).status, 200)
    assert.equal((await g.call('/docsx')).status, 401)
    assert.equal((await g.call('/health/x')).status, 401)
    assert.equal((await g.call('/Health')).status, 401)
    assert.equal(g.upstream.seen.length, 2)
    assert.equal(g.upstream.seen[0]!.headers.get('x-user-id'), null)
    assert.equal(g.upstream.seen[0]!.headers.get('x_user_id'), null)
  } finally {
    await g.close()
  }
})

test('gateway removes the token from a query parameter or cookie unless told to forward it', async () => {
  const g = await setup({ JWTGATE_TOKEN_SOURCES: 'query:access_token,cookie:sid' })
  try {
    const t = await token()
    assert.equal((await g.call(`/q?a=1&access_token=${t}&b=2`)).status, 200)
    assert.equal(g.upstream.seen[0]!.search, '?a=1&b=2')
    assert.equal((await g.call('/c', { headers: { cookie: `theme=dark; sid=${t}` } })).status, 200)
    assert.equal(g.upstream.seen[1]!.headers.get('cookie'), 'theme=dark')
  } finally {
    await g.close()
  }
  const keep = await setup({ JWTGATE_FORWARD_TOKEN: 'true' })
  try {
    const auth = await bearer()
    assert.equal((await keep.call('/k', { headers: auth })).status, 200)
    assert.equal(keep.upstream.seen[0]!.headers.get('authorization'), auth.authorization)
  } finally {
    await keep.close()
  }
})

test('gateway passes upstream statuses, headers and redirects back unchanged', async () => {
  const g = await setup({}, (r) => {
    const path = new URL(r.url).pathname
    if (path.endsWith('/created')) {
      return new Response('made', {
        status: 201,
        headers: [['location', '/base/items/1'], ['set-cookie', 'a=1'], ['set-cookie', 'b=2']],
      })
    }
    if (path.endsWith('/redirect')) {
      return new Response(null, {
        status: 302,
        headers: { location: 'https://elsewhere.example/' },
      })
    }
    return new Response('boom', { status: 500 })
  })
  try {
    const auth = await bearer()
    const created = await g.call('/created', { headers: auth })
    assert.equal(created.status, 201)
    assert.equal(created.headers.get('location'), '/base/items/1')
    assert.deepEqual(created.headers.getSetCookie(), ['a=1', 'b=2'])
    assert.equal(await created.text(), 'made')
    const redirect = await g.call('/redirect', { headers: auth })
    assert.equal(redirect.status, 302)
    assert.equal(redirect.headers.get('location'), 'https://elsewhere.example/')
    const failed = await g.call('/fail', { headers: auth })
    assert.equal(failed.status, 500)
    assert.equal(await failed.text(), 'boom')
  } finally {
    await g.close()
  }
})

test('gateway streams a request body upstream intact', async () => {
  const g = await setup({}, async (r) => {
    const digest = await crypto.subtle.digest('SHA-256', await r.arrayBuffer())
    return new Response(btoa(String.fromCharCode(...new Uint8Array(digest))))
  })
  try {
    const body = crypto.getRandomValues(new Uint8Array(60_000))
    const expected = btoa(
      String.fromCharCode(...new Uint8Array(await crypto.subtle.digest('SHA-256', body))),
    )
    const res = await g.call('/upload', { method: 'POST', body, headers: await bearer() })
    assert.equal(await res.text(), expected)
  } finally {
    await g.close()
  }
})

test('gateway streams the response: the first event arrives before the upstream finishes', async () => {
  let release: () => void = () => {}
  const gate = new Promise<void>((r) => (release = r))
  const g = await setup({}, () => {
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(new TextEncoder().encode('data: first\n\n'))
        await gate
        controller.enqueue(new TextEncoder().encode('data: second\n\n'))
        controller.close()
      },
    })
    return new Response(body, { headers: { 'content-type': 'text/event-stream' } })
  })
  try {
    const res = await g.call('/events', { headers: await bearer() })
    const reader = res.body!.getReader()
    const first = await reader.read()
    assert.match(new TextDecoder().decode(first.value), /data: first/)
    release()
    let rest = ''
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      rest += new TextDecoder().decode(value)
    }
    assert.match(rest, /data: second/)
  } finally {
    release()
    await g.close()
  }
})

test('gateway gives the client a body consistent with its Content-Encoding', async () => {
  const text = 'hello '.repeat(200)
  const gz = new Uint8Array(
    await new Response(new Blob([text]).stream().pipeThrough(new CompressionStream('gzip')))
      .arrayBuffer(),
  )
  const g = await setup(
    {},
    () =>
      new Response(gz, {
        headers: {
          'content-encoding': 'gzip',
          'content-length': String(gz.byteLength),
          'content-type': 'text/plain',
        },
      }),
  )
  try {
    const res = await g.call('/gz', { headers: { ...(await bearer()), 'accept-encoding': 'gzip' } })
    const bytes = new Uint8Array(await res.arrayBuffer())
    const length = res.headers.get('content-length')
    if (res.headers.get('content-encoding') === 'gzip') {
      const decoded = await new Response(
        new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip')),
      ).text()
      assert.equal(decoded, text)
    } else {
      assert.equal(new TextDecoder().decode(bytes), text)
    }
    if (length !== null) assert.equal(Number(length), bytes.byteLength)
  } finally {
    await g.close()
  }
})

test('gateway answers 502 when the upstream is unreachable and 504 when it is slow', async () => {
  const closed = await serve(() => new Response('x'))
  await closed.close()
  const down = await setup({ JWTGATE_UPSTREAM: closed.url })
  try {
    const res = await down.call('/x', { headers: await bearer() })
    assert.equal(res.status, 502)
    assert.equal((await res.json()).code, 'upstream_unreachable')
  } finally {
    await down.close()
  }
  const slow = await setup({ JWTGATE_UPSTREAM_TIMEOUT: '200ms' }, async () => {
    await new Promise((r) => setTimeout(r, 1500))
    return new Response('late')
  })
  try {
    const started = Date.now()
    const timedOut = await slow.call('/slow', { headers: await bearer() })
    assert.equal(timedOut.status, 504)
    assert.equal((await timedOut.json()).code, 'upstream_timeout')
    assert.ok(Date.now() - started < 1400)
  } finally {
    await slow.close()
  }
})

test('gateway answers /healthz and /readyz itself, without a token', async () => {
  const g = await setup()
  try {
    assert.equal((await g.call('/healthz')).status, 200)
    assert.deepEqual(await (await g.call('/readyz')).json(), { status: 'ok' })
    assert.equal(g.upstream.seen.length, 0)
  } finally {
    await g.close()
  }
})

test('gateway is not ready and answers 503 while its JWKS has not loaded', async () => {
  const jwks = await serve(() => new Response('down', { status: 503 }))
  const g = await gatewayFixture({
    env: ({ upstream }) => ({
      JWTGATE_UPSTREAM: upstream.url,
      JWTGATE_JWKS_URL: `${jwks.url}/jwks`,
    }),
  })
  try {
    assert.equal(g.gateway.ready, false)
    assert.equal((await g.call('/readyz')).status, 503)
    const rsa = await keyPair('RS256', 'k1')
    const res = await g.call('/x', {
      headers: {
        authorization: `Bearer ${await sign({}, {
          alg: 'RS256',
          key: rsa.privateKey,
          kid: 'k1',
        })}`,
      },
    })
    assert.equal(res.status, 503)
    assert.equal(res.headers.get('retry-after'), '1')
    assert.equal((await g.call('/x')).status, 401)
    assert.equal(g.upstream.seen.length, 0)
  } finally {
    await g.close()
    await jwks.close()
  }
})

test('gateway logs one access line per request with the decision, never the token', async () => {
  const g = await setup()
  try {
    const auth = await bearer({ sub: 'alice', iss: 'https://idp.test' })
    const body = await (await g.call('/ok?access=1', { headers: auth })).text()
    await (await g.call('/no')).text()
    const [ok, no] = g.lines.map((l) => JSON.parse(l))
    assert.equal(ok.event, 'request')
    assert.equal(ok.path, '/ok')
    assert.equal(ok.iss, 'https://idp.test')
    assert.equal(ok.route, 'default')
    assert.equal(ok.bytes_out, new TextEncoder().encode(body).byteLength)
    assert.equal(typeof ok.upstream_ms, 'number')
    assert.equal(typeof ok.duration_ms, 'number')
    assert.equal(ok.decision, 'allowed')
    assert.equal(ok.sub, 'alice')
    assert.equal(ok.status, 200)
    assert.equal(ok.upstream_status, 200)
    assert.equal(no.decision, 'token_missing')
    assert.equal(no.status, 401)
    assert.ok(!g.lines.join('\n').includes(auth.authorization.slice(7)))
  } finally {
    await g.close()
  }
})

test("reload(): the WebSocket limits the server was started with stay (the runtime's server holds its own copy); the rest applies", async () => {
  const { createGateway } = await import('../../src/core/gateway.ts')
  const { loadConfig } = await import('../../src/core/config/load.ts')
  const base = { JWTGATE_UPSTREAM: 'http://127.0.0.1:9', JWTGATE_SECRET: secret(32).config }
  const gateway = createGateway(await loadConfig(base))
  try {
    const started = gateway.config.websockets
    gateway.reload(
      await loadConfig({
        ...base,
        JWTGATE_WEBSOCKET_MAX_BUFFERED: '100mb',
        JWTGATE_WEBSOCKET_MAX_MESSAGE: '8mb',
        JWTGATE_WEBSOCKET_IDLE_TIMEOUT: '10m',
        JWTGATE_WEBSOCKET_MAX_CONNECTIONS: '7',
        JWTGATE_PUBLIC_PATHS: '/open/*',
      }),
    )
    const now = gateway.config.websockets
    assert.deepEqual(
      [now.maxBufferedBytes, now.maxMessageBytes, now.idleTimeoutSec],
      [started.maxBufferedBytes, started.maxMessageBytes, started.idleTimeoutSec],
    )
    assert.equal(now.maxConnections, 7, 'a gateway-only limit applies')
    assert.ok(Object.isFrozen(gateway.config) && Object.isFrozen(now))
    assert.equal(gateway.config.routes.length > 1, true, 'the routes changed')
  } finally {
    gateway.close()
  }
})

test('admin(): a relative request.url (Bun: HTTP/1.0 without Host) is answered; a failure is a logged problem+json 500, never a throw', async () => {
  const ADMIN = 'admin-token-0123456789abcdef0123456789'
  const g = await gatewayFixture({
    env: ({ upstream }) => ({
      JWTGATE_UPSTREAM: upstream.url,
      JWTGATE_SECRET: HS.config,
      JWTGATE_ADMIN_PORT: '0',
      JWTGATE_ADMIN_TOKEN: ADMIN,
    }),
    deps: { revoke: async () => {} },
  })
  // What Bun's server hands over: `new Request` would refuse this URL, and `new URL` throws on it.
  const relative = (target: string, method = 'GET') =>
    ({ url: target, method, headers: new Headers(), body: null }) as unknown as Request
  try {
    const metrics = await g.gateway.admin(relative('/metrics'))
    assert.equal(metrics.status, 200)
    assert.match(await metrics.text(), /^jwtgate_requests_in_flight 0$/m)
    assert.equal((await g.gateway.admin(relative('/readyz'))).status, 200)
    assert.equal((await g.gateway.admin(relative('/revocations', 'POST'))).status, 401)
    assert.equal((await g.gateway.admin(relative('/revocations', 'GET'))).status, 405)
    // An upload the client resets half-way: the client's doing, a 400.
    const broken = new Request('http://admin/revocations', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}` },
      body: new ReadableStream({ pull: (c) => c.error(new TypeError('connection reset')) }),
      duplex: 'half',
    } as RequestInit)
    assert.equal((await g.gateway.admin(broken)).status, 400)
    // A request that fails in the handler's hands (its headers throw): the logged 500.
    const failing = {
      url: '/revocations',
      method: 'POST',
      body: null,
      get headers(): Headers {
        throw new TypeError('connection reset')
      },
    } as unknown as Request
    const failed = await g.gateway.admin(failing)
    assert.equal(failed.status, 500)
    assert.equal(failed.headers.get('content-type'), 'application/problem+json')
    const text = await failed.text()
    assert.equal(JSON.parse(text).code, 'internal_error')
    assert.ok(!text.includes('connection reset'), 'no detail of the error')
    const logged = g.lines.map((l) => JSON.parse(l)).filter((l) => l.event === 'internal_error')
    assert.deepEqual(
      logged.map((l) => [l.level, l.listener, l.error, l.request_id]),
      [['error', 'admin', 'TypeError', failed.headers.get('x-request-id')]],
    )
  } finally {
    await g.close()
  }
})

test("cors: the gateway's policy is the only one: the upstream's Access-Control-* headers go, Vary: Origin on every answer", async () => {
  // An upstream with its own CORS: any Origin reflected, with credentials.
  const g = await setup(
    { JWTGATE_CORS_ORIGINS: 'https://app.example.com', JWTGATE_CORS_CREDENTIALS: 'false' },
    (r) =>
      new Response('secret', {
        headers: {
          'access-control-allow-origin': r.headers.get('origin') ?? '*',
          'Access-Control-Allow-Credentials': 'true',
          'access-control-expose-headers': 'x-internal',
          'access-control-allow-private-network': 'true',
          'access-control-max-age': '86400',
          vary: 'Accept-Encoding',
        },
      }),
  )
  try {
    const a = await bearer()
    const answer = async (origin?: string) => {
      const res = await g.call('/x', {
        headers: origin === undefined ? a : { ...a, origin },
      })
      assert.equal(await res.text(), 'secret')
      const cors = [...res.headers.keys()].filter((n) => n.startsWith('access-control-'))
      return {
        allow: res.headers.get('access-control-allow-origin'),
        credentials: res.headers.get('access-control-allow-credentials'),
        expose: res.headers.get('access-control-expose-headers'),
        cors: cors.length,
        vary: res.headers.get('vary'),
      }
    }
    const allowed = await answer('https://app.example.com')
    assert.equal(allowed.allow, 'https://app.example.com')
    assert.equal(allowed.credentials, null, 'credentials: false is the configuration')
    assert.doesNotMatch(allowed.expose!, /x-internal/)
    assert.equal(allowed.cors, 2, 'allow-origin and expose-headers, the gateway’s own')
    assert.equal(allowed.vary, 'Accept-Encoding, Origin')
    for (const origin of ['https://evil.test', 'null', undefined]) {
      assert.deepEqual(await answer(origin), {
        allow: null,
        credentials: null,
        expose: null,
        cors: 0,
        vary: 'Accept-Encoding, Origin',
      }, String(origin))
    }
    // The gateway's own answers vary by Origin too, to a refused origin as well.
    const refused = await g.call('/x', { headers: { origin: 'https://evil.test' } })
    assert.equal(refused.status, 401)
    assert.equal(refused.headers.get('vary'), 'Origin')
    assert.equal(refused.headers.get('access-control-allow-origin'), null)
  } finally {
    await g.close()
  }
})

test('cors: without configuration the upstream’s own CORS headers pass untouched, and no Vary is added', async () => {
  const g = await setup({}, () =>
    new Response('x', {
      headers: { 'access-control-allow-origin': 'https://any.test', vary: 'Accept-Encoding' },
    }))
  try {
    const res = await g.call('/x', { headers: { ...(await bearer()), origin: 'https://o.test' } })
    await res.text()
    assert.equal(res.headers.get('access-control-allow-origin'), 'https://any.test')
    assert.equal(res.headers.get('vary'), 'Accept-Encoding')
  } finally {
    await g.close()
  }
})

test('a Connection field listing something that is no field name, from the client or the upstream, is no failure: 200, the names it lists removed', async () => {
  const g = await gatewayFixture({
    env: ({ upstream }) => ({ JWTGATE_UPSTREAM: upstream.url, JWTGATE_SECRET: HS.config }),
    deps: {
      // As an upstream's fetch response arrives: its headers as sent, mutable under Bun.
      fetch: (() =>
        Promise.resolve(
          new Response('ok', {
            headers: { connection: 'keep-alive, a b, X-Internal', 'x-internal': '1' },
          }),
        )) as unknown as typeof fetch,
    },
  })
  try {
    for (let i = 0; i < 2; i++) {
      const res = await g.call('/x', {
        headers: { ...(await bearer()), connection: 'a b, X-Client-Only', 'x-client-only': '1' },
      })
      assert.equal(res.status, 200)
      assert.equal(await res.text(), 'ok')
      assert.equal(res.headers.get('x-internal'), null)
      assert.equal(res.headers.get('connection'), null)
    }
    assert.ok(!g.lines.some((l) => JSON.parse(l).event === 'internal_error'))
  } finally {
    await g.close()
  }
})

test('a Content-Length that is not one number (a field sent twice, as runtimes hand it over) is 400 bad_content_length, nothing sent upstream', async () => {
  const g = await setup({ JWTGATE_MAX_BODY: '1000' })
  try {
    for (const length of ['1500, 1500', '5, 5', '+5', '0x5']) {
      const res = await g.call('/x', {
        method: 'POST',
        headers: { ...(await bearer()), 'content-length': length },
        body: 'hello',
      })
      assert.equal(res.status, 400, length)
      assert.equal((await res.json()).code, 'bad_content_length', length)
    }
    assert.equal(g.upstream.seen.length, 0)
    // One number: as before.
    const ok = await g.call('/x', {
      method: 'POST',
      headers: { ...(await bearer()), 'content-length': '5' },
      body: 'hello',
    })
    assert.equal(ok.status, 200)
  } finally {
    await g.close()
  }
})

test('request durations come from a monotonic clock, below a millisecond: a 0.3 ms request is never in the 100 µs bucket', async () => {
  // Date.now() counted whole milliseconds: most such requests showed 0 s, shorter than their own
  // upstream call.
  const g = await setup({}, () => {
    const until = performance.now() + 0.3
    while (performance.now() < until) {
      // the upstream's work
    }
    return new Response('ok')
  })
  try {
    const headers = await bearer()
    for (let i = 0; i < 20; i++) {
      const res = await g.call('/x', { headers })
      assert.equal(res.status, 200)
      await res.arrayBuffer()
    }
    const text = g.gateway.metrics.render()
    const sample = (name: string) =>
      Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN)
    const bucket = (le: string) =>
      Number(
        new RegExp(`^jwtgate_request_duration_seconds_bucket\\{[^}]*le="${le}"\\} (\\S+)$`, 'm')
          .exec(text)?.[1] ?? Number.NaN,
      )
    assert.equal(bucket('0.0001'), 0, text)
    assert.equal(bucket('\\+Inf'), 20)
    assert.ok(sample('jwtgate_request_duration_seconds_sum\\{[^}]*\\}') >= 20 * 0.0003, text)
    const logged = g.lines.map((l) => JSON.parse(l)).filter((l) => l.event === 'request')
    assert.ok(logged.every((l) => Number.isInteger(l.duration_ms)))
  } finally {
    await g.close()
  }
})

test('admin(): bound to loopback, it refuses a Host naming another host (DNS rebinding from a browser), 400 bad_host; bound elsewhere, any Host', async () => {
  for (const bound of ['127.0.0.1', '0.0.0.0']) {
    const g = await gatewayFixture({
      env: ({ upstream }) => ({
        JWTGATE_UPSTREAM: upstream.url,
        JWTGATE_SECRET: HS.config,
        JWTGATE_ADMIN_PORT: '9090',
        JWTGATE_ADMIN_HOST: bound,
      }),
    })
    try {
      const ask = (host: string) =>
        g.gateway.admin(new Request('http://127.0.0.1:9090/metrics', { headers: { host } }))
      for (
        const host of ['127.0.0.1:9090', 'localhost:9090', 'LOCALHOST', '[::1]:9090', '127.8.9.10']
      ) {
        assert.equal((await ask(host)).status, 200, `${bound} ${host}`)
      }
      for (
        const host of ['rebound.example:9090', 'rebound.example', '[2001:db8::1]:9090', '10.0.0.1']
      ) {
        const res = await ask(host)
        if (bound === '0.0.0.0') assert.equal(res.status, 200, `${bound} ${host}`)
        else {
          assert.equal(res.status, 400, `${bound} ${host}`)
          assert.equal((await res.json()).code, 'bad_host')
        }
      }
      assert.ok(!g.lines.some((l) => JSON.parse(l).event === 'internal_error'))
    } finally {
      await g.close()
    }
  }
})

test('JWTGATE_RATE_LIMIT: tokens without sub count for their address, not in one bucket every such token of the issuer shares', async () => {
  const g = await setup({ JWTGATE_RATE_LIMIT: '3/1m' })
  try {
    const machine = await bearer({ azp: 'client-a' })
    for (let i = 0; i < 3; i++) {
      assert.equal((await g.call('/x', { headers: machine }, '198.51.100.1')).status, 200)
    }
    assert.equal((await g.call('/x', { headers: machine }, '198.51.100.1')).status, 429)
    // Another client's sub-less token, from another address: its own bucket.
    const other = await bearer({ azp: 'client-b' })
    assert.equal((await g.call('/x', { headers: other }, '203.0.113.9')).status, 200)
  } finally {
    await g.close()
  }
})

test('admin(): a reload that moves admin.host (a restart-only setting) keeps the Host check of the address the listener was opened on', async () => {
  const { createGateway } = await import('../../src/core/gateway.ts')
  const { loadConfig } = await import('../../src/core/config/load.ts')
  const env = {
    JWTGATE_UPSTREAM: 'http://127.0.0.1:9',
    JWTGATE_SECRET: HS.config,
    JWTGATE_ADMIN_PORT: '9090',
  }
  const gateway = createGateway(await loadConfig(env))
  try {
    gateway.reload(await loadConfig({ ...env, JWTGATE_ADMIN_HOST: '0.0.0.0' }))
    const res = await gateway.admin(
      new Request('http://127.0.0.1:9090/metrics', { headers: { host: 'rebound.example' } }),
    )
    assert.equal(res.status, 400)
    assert.equal((await res.json()).code, 'bad_host')
  } finally {
    gateway.close()
  }
})
