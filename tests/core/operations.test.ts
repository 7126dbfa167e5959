import assert from 'node:assert/strict'
import { gatewayFixture } from '../helpers/gateway.ts'
import { secret, sign } from '../helpers/keys.ts'
import { test } from '../helpers/t.ts'

const HS = secret(32)

/** A gateway over one recording upstream, with `env` over a secret. */
function setup(
  env: Record<string, string> = {},
  respond?: (r: Request) => Response | Promise<Response>,
) {
  return gatewayFixture({
    upstreams: { upstream: respond },
    env: ({ upstream }) => ({
      JWTGATE_UPSTREAM: upstream.url,
      JWTGATE_SECRET: HS.config,
      ...env,
    }),
  })
}
const auth = async (claims: Record<string, unknown> = { sub: 'alice' }) => ({
  authorization: `Bearer ${await sign(claims, { alg: 'HS256', key: HS.raw })}`,
})

test('limits: request headers over JWTGATE_MAX_HEADER_BYTES are 431', async () => {
  const g = await setup({ JWTGATE_MAX_HEADER_BYTES: '2048' })
  try {
    const res = await g.call('/x', { headers: { ...(await auth()), 'x-big': 'a'.repeat(3000) } })
    assert.equal(res.status, 431)
    assert.equal((await res.json()).code, 'headers_too_large')
    assert.equal((await g.call('/x', { headers: await auth() })).status, 200)
    assert.equal(g.upstream.seen.length, 1)
  } finally {
    await g.close()
  }
})

test('limits: a body over JWTGATE_MAX_BODY is 413, by Content-Length or while streaming', async () => {
  const g = await setup(
    { JWTGATE_MAX_BODY: '1k' },
    async (r) => new Response(String((await r.arrayBuffer()).byteLength)),
  )
  try {
    const big = await g.call('/up', {
      method: 'POST',
      body: new Uint8Array(2048),
      headers: { ...(await auth()), 'content-length': '2048' },
    })
    assert.equal(big.status, 413)
    assert.equal((await big.json()).code, 'payload_too_large')
    assert.equal(g.upstream.seen.length, 0)
    let sent = 0
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 4) return controller.close()
        sent++
        controller.enqueue(new Uint8Array(512))
      },
    })
    const streamed = await g.call(
      '/up',
      { method: 'POST', body: stream, headers: await auth(), duplex: 'half' } as RequestInit,
    )
    assert.equal(streamed.status, 413)
    const small = await g.call('/up', {
      method: 'POST',
      body: new Uint8Array(1000),
      headers: await auth(),
    })
    assert.equal(await small.text(), '1000')
  } finally {
    await g.close()
  }
})

test('limits: JWTGATE_RATE_LIMIT answers 429 with Retry-After per subject, and per address without a token', async () => {
  const g = await setup({ JWTGATE_RATE_LIMIT: '2/1m', JWTGATE_PUBLIC_PATHS: '/open' })
  try {
    const alice = await auth({ sub: 'alice' })
    assert.deepEqual([
      (await g.call('/a', { headers: alice })).status,
      (await g.call('/a', { headers: alice })).status,
    ], [200, 200])
    const limited = await g.call('/a', { headers: alice })
    assert.equal(limited.status, 429)
    assert.equal((await limited.json()).code, 'rate_limited')
    assert.ok(Number(limited.headers.get('retry-after')) >= 1)
    assert.equal((await g.call('/a', { headers: await auth({ sub: 'bob' }) })).status, 200)
    assert.deepEqual([
      (await g.call('/open')).status,
      (await g.call('/open')).status,
      (await g.call('/open')).status,
    ], [200, 200, 429])
    assert.equal((await g.call('/open', {}, '192.0.2.2')).status, 200)
  } finally {
    await g.close()
  }
})

test('cors: preflights are answered without a token and never forwarded; errors carry CORS headers', async () => {
  const g = await setup({ JWTGATE_CORS_ORIGINS: 'https://app.example.com' })
  try {
    const pre = await g.call('/x', {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example.com',
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization',
      },
    })
    assert.equal(pre.status, 204)
    assert.equal(pre.headers.get('access-control-allow-origin'), 'https://app.example.com')
    const denied = await g.call('/x', {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.test', 'access-control-request-method': 'GET' },
    })
    assert.equal(denied.status, 403)
    const unauthorized = await g.call('/x', { headers: { origin: 'https://app.example.com' } })
    assert.equal(unauthorized.status, 401)
    assert.equal(unauthorized.headers.get('access-control-allow-origin'), 'https://app.example.com')
    assert.match(unauthorized.headers.get('access-control-expose-headers')!, /www-authenticate/)
    const ok = await g.call('/x', {
      headers: { ...(await auth()), origin: 'https://app.example.com' },
    })
    assert.equal(ok.headers.get('access-control-allow-origin'), 'https://app.example.com')
    const other = await g.call('/x', {
      headers: { ...(await auth()), origin: 'https://evil.test' },
    })
    assert.equal(other.headers.get('access-control-allow-origin'), null)
    assert.equal(g.upstream.seen.length, 2)
  } finally {
    await g.close()
  }
})

test('cors: the Origin is read before the request is proxied (its headers may be edited on the way)', async () => {
  // A client's Connection header names Origin: it is left out upstream, and still answered.
  const g = await setup({ JWTGATE_CORS_ORIGINS: 'https://app.example.com' })
  try {
    const res = await g.call('/x', {
      headers: { ...(await auth()), origin: 'https://app.example.com', connection: 'origin' },
    })
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('access-control-allow-origin'), 'https://app.example.com')
    assert.equal(g.upstream.seen[0]!.headers.get('origin'), null)
  } finally {
    await g.close()
  }
})

test('cors: without configuration an OPTIONS request is an ordinary request', async () => {
  const g = await setup()
  try {
    const res = await g.call('/x', {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET' },
    })
    assert.equal(res.status, 401)
  } finally {
    await g.close()
  }
})

test('limits: a streamed response silent past JWTGATE_STREAM_IDLE_TIMEOUT is cut', async () => {
  const g = await setup({ JWTGATE_STREAM_IDLE_TIMEOUT: '200ms' }, () => {
    let sent = false
    return new Response(
      new ReadableStream({
        async pull(controller) {
          if (!sent) {
            sent = true
            controller.enqueue(new TextEncoder().encode('data: one\n\n'))
            return
          }
          await new Promise((r) => setTimeout(r, 3000))
          controller.close()
        },
      }),
      { headers: { 'content-type': 'text/event-stream' } },
    )
  })
  try {
    const res = await g.call('/events', { headers: await auth() })
    const started = Date.now()
    const reader = res.body!.getReader()
    await reader.read()
    await assert.rejects(async () => {
      for (;;) if ((await reader.read()).done) break
    })
    assert.ok(Date.now() - started < 2000)
  } finally {
    await g.close()
  }
})

test('operations: drain() turns /readyz to 503 while requests still pass', async () => {
  const g = await setup()
  try {
    assert.equal((await g.call('/readyz')).status, 200)
    g.gateway.drain()
    const res = await g.call('/readyz')
    assert.equal(res.status, 503)
    assert.deepEqual(await res.json(), { status: 'draining' })
    assert.equal(g.gateway.ready, false)
    assert.equal((await g.call('/x', { headers: await auth() })).status, 200)
  } finally {
    await g.close()
  }
})

test('operations: othersReady (a worker asking its primary) decides /readyz when this process is ready; a rejection is not ready; /healthz does not ask', async () => {
  let answer: boolean | Error = false
  let asked = 0
  const g = gatewayFixture({
    env: ({ upstream }) => ({ JWTGATE_UPSTREAM: upstream.url, JWTGATE_SECRET: HS.config }),
    deps: {
      othersReady: () => {
        asked++
        return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer)
      },
    },
  })
  const { call, gateway, close } = await g
  try {
    const first = await call('/readyz')
    assert.equal(first.status, 503)
    assert.deepEqual(await first.json(), { status: 'starting' })
    answer = true
    const ready = await call('/readyz')
    assert.equal(ready.status, 200)
    assert.match(ready.headers.get('x-request-id') ?? '', /./)
    answer = new Error('the primary did not answer')
    assert.equal((await call('/readyz')).status, 503)
    assert.equal(asked, 3)
    assert.equal((await call('/healthz')).status, 200)
    assert.equal(asked, 3)
    answer = true
    gateway.drain()
    assert.deepEqual(await (await call('/readyz')).json(), { status: 'draining' })
    assert.equal(asked, 3) // not ready itself: nothing to ask
  } finally {
    await close()
  }
})

test('operations: the admin handler serves metrics that count what happened', async () => {
  const g = await setup()
  try {
    const a = await auth()
    for (let i = 0; i < 3; i++) await (await g.call('/x', { headers: a })).text()
    await g.call('/x')
    await g.call('/x', { headers: { authorization: `${a.authorization}x` } })
    const res = await g.gateway.admin(new Request('http://admin/metrics'))
    assert.match(res.headers.get('content-type')!, /^text\/plain; version=0.0.4/)
    const text = await res.text()
    assert.match(
      text,
      /^jwtgate_requests_total\{route="default",method_class="read",status="200"\} 3$/m,
    )
    assert.match(
      text,
      /^jwtgate_requests_total\{route="default",method_class="read",status="401"\} 2$/m,
    )
    assert.match(text, /^jwtgate_rejections_total\{reason="token_missing"\} 1$/m)
    assert.match(text, /^jwtgate_rejections_total\{reason="bad_signature"\} 1$/m)
    assert.match(text, /^jwtgate_upstream_duration_seconds_count\{upstream="default"\} 3$/m)
    // The same token three times: verified once, then served from the cache.
    assert.match(text, /^jwtgate_token_verification_seconds_count\{provider="default"\} 2$/m)
    assert.match(text, /^jwtgate_token_cache_total\{result="hit"\} 2$/m)
    assert.match(text, /^jwtgate_token_cache_total\{result="miss"\} 2$/m)
    assert.match(text, /^jwtgate_requests_in_flight 0$/m)
    assert.equal((await g.gateway.admin(new Request('http://admin/other'))).status, 404)
    assert.equal((await g.gateway.admin(new Request('http://admin/readyz'))).status, 200)
  } finally {
    await g.close()
  }
})

test('operations: a Host header that is not host[:port] is 400', async () => {
  const g = await setup({ JWTGATE_PUBLIC_PATHS: '/public/*' })
  try {
    for (const host of ['h/public/x', 'a b', 'h?x', 'h, i', 'u@h']) {
      const res = await g.call('/admin', { headers: { host } })
      assert.equal(res.status, 400, host)
      assert.equal((await res.json()).code, 'bad_host')
    }
    assert.equal(
      (await g.call('/public/x', { headers: { host: 'api.example.com:8443' } })).status,
      200,
    )
    assert.equal((await g.call('/public/x', { headers: { host: '[::1]:80' } })).status, 200)
  } finally {
    await g.close()
  }
})
