/**
 * Cross-site request forgery on a cookie login (origin.ts): a request a cookie authenticated that
 * may change state must come from the gateway's own origin or one CORS lets send credentials —
 * proxied, asked about by another proxy (forward authentication), and before a guarded handler
 * (`protect`, `createVerifier`). WebSocket handshakes: tests/core/websocket/gateway.test.ts.
 */
import assert from 'node:assert/strict'
import { loadConfig } from '../../src/core/config/load.ts'
import { createVerifier, protect } from '../../src/core/guard.ts'
import { FIXTURE_HOST, gatewayFixture } from '../helpers/gateway.ts'
import { secret, sign } from '../helpers/keys.ts'
import { test } from '../helpers/t.ts'

const KEY = secret(32)
const EVIL = 'https://evil.example'
const token = (claims: Record<string, unknown>) => sign(claims, { alg: 'HS256', key: KEY.raw })

test('proxied: a cookie-authenticated POST, PUT, PATCH or DELETE from another origin is 403 origin_rejected, never upstream; own origin, no Origin, a safe method, a bearer header or a CORS origin with credentials pass', async () => {
  const g = await gatewayFixture({
    env: ({ upstream }) => ({
      JWTGATE_UPSTREAM: upstream.url,
      JWTGATE_SECRET: KEY.config,
      JWTGATE_TOKEN_SOURCES: 'header:Authorization,cookie:session',
      JWTGATE_CORS_ORIGINS: 'https://app.example',
      JWTGATE_CORS_CREDENTIALS: 'true',
    }),
  })
  try {
    const t = await token({ sub: 'alice' })
    const send = async (method: string, headers: Record<string, string>) => {
      const response = await g.call('/orders/7', { method, headers })
      return response.status === 200 ? 200 : `${response.status} ${(await response.json()).code}`
    }
    const cookie = { cookie: `session=${t}` }
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      assert.equal(await send(method, { ...cookie, origin: EVIL }), '403 origin_rejected', method)
      assert.equal(await send(method, { ...cookie, origin: 'null' }), '403 origin_rejected', method)
      // An http page of the gateway's host, the client having connected with http: its own.
      assert.equal(await send(method, { ...cookie, origin: `http://${FIXTURE_HOST}` }), 200)
      assert.equal(await send(method, cookie), 200, 'no Origin: no browser sent it')
      assert.equal(await send(method, { ...cookie, origin: 'https://app.example' }), 200)
      assert.equal(
        await send(method, { authorization: `Bearer ${t}`, origin: EVIL }),
        200,
        'a bearer header is no ambient credential',
      )
    }
    for (const method of ['GET', 'HEAD', 'OPTIONS']) {
      assert.equal(await send(method, { ...cookie, origin: EVIL }), 200, method)
    }
    assert.equal(
      g.upstream.seen.filter((s) =>
        s.headers.get('origin') === EVIL && s.method !== 'GET' &&
        s.method !== 'HEAD' && s.method !== 'OPTIONS' && s.headers.has('cookie')
      ).length,
      0,
    )
  } finally {
    await g.close()
  }
})

test("proxied: refused cross-site writes use up none of the user's rate limit; no Host (HTTP/2 under Deno) takes the URL's authority; behind a trusted proxy the origin is the one it reports", async () => {
  const g = await gatewayFixture({
    env: ({ upstream }) => ({
      JWTGATE_UPSTREAM: upstream.url,
      JWTGATE_SECRET: KEY.config,
      JWTGATE_TOKEN_SOURCES: 'cookie:session',
      JWTGATE_RATE_LIMIT: '3/1m',
    }),
  })
  const behind = await gatewayFixture({
    env: ({ upstream }) => ({
      JWTGATE_UPSTREAM: upstream.url,
      JWTGATE_SECRET: KEY.config,
      JWTGATE_TOKEN_SOURCES: 'cookie:session',
      JWTGATE_TRUSTED_PROXIES: '1',
    }),
  })
  try {
    const cookie = `session=${await token({ sub: 'alice' })}`
    const post = async (origin: string) =>
      (await g.call('/orders/7', { method: 'POST', headers: { cookie, origin } })).status
    for (let i = 0; i < 5; i++) assert.equal(await post(EVIL), 403)
    assert.equal(await post(`http://${FIXTURE_HOST}`), 200)
    // HTTP/2 carries no Host header: the authority the browser wrote is in the URL.
    const h2 = (origin: string) =>
      g.gateway.fetch(
        new Request(`http://${FIXTURE_HOST}/orders/7`, {
          method: 'POST',
          headers: { cookie, origin },
        }),
        { clientAddress: '127.0.0.1', protocol: 'http' },
      )
    assert.equal((await h2(`http://${FIXTURE_HOST}`)).status, 200)
    assert.equal((await h2(EVIL)).status, 403)
    const reported = (origin: string) =>
      behind.call('/orders/7', {
        method: 'POST',
        headers: {
          cookie,
          origin,
          'x-forwarded-host': 'api.example',
          'x-forwarded-proto': 'https',
        },
      })
    assert.equal((await reported('https://api.example')).status, 200)
    assert.equal((await reported(`http://${FIXTURE_HOST}`)).status, 403)
  } finally {
    await g.close()
    await behind.close()
  }
})

test("proxied: a cross-site write with a token short of the route's requirements is refused for its origin, before the requirements, whose refusals count against the user", async () => {
  const g = await gatewayFixture({
    env: ({ upstream }) => ({
      JWTGATE_UPSTREAM: upstream.url,
      JWTGATE_SECRET: KEY.config,
      JWTGATE_TOKEN_SOURCES: 'cookie:session',
      JWTGATE_REQUIRED_SCOPES: 'admin',
      JWTGATE_RATE_LIMIT: '3/1m',
    }),
  })
  try {
    const cookie = `session=${await token({ sub: 'alice', scope: 'read' })}`
    const post = async (origin: string) => {
      const response = await g.call('/orders/7', { method: 'POST', headers: { cookie, origin } })
      return `${response.status} ${(await response.json()).code}`
    }
    for (let i = 0; i < 5; i++) assert.equal(await post(EVIL), '403 origin_rejected', `#${i + 1}`)
    // The user's own post: refused for the scope, the limits untouched by the five above.
    assert.equal(await post(`http://${FIXTURE_HOST}`), '403 insufficient_scope')
  } finally {
    await g.close()
  }
})

test('forward authentication: a check about a cookie-authenticated POST from another origin is refused; from the original host and scheme the asking proxy reports, allowed', async () => {
  const g = await gatewayFixture({
    file: () => `
mode: auth
providers:
  main: { secret: "${KEY.config}", tokenSources: [header:Authorization, cookie:session] }
routes:
  - { name: orders, path: /orders/* }
`,
  })
  try {
    const cookie = `session=${await token({ sub: 'alice' })}`
    const ask = async (method: string, headers: Record<string, string>) => {
      const response = await g.call('/auth', {
        headers: { 'x-original-method': method, 'x-original-uri': '/orders/7', cookie, ...headers },
      }, '127.0.0.1')
      return response.status === 200 ? 200 : (await response.json()).code
    }
    const reported = { 'x-forwarded-host': 'api.example', 'x-forwarded-proto': 'https' }
    assert.equal(await ask('POST', { origin: EVIL, ...reported }), 'origin_rejected')
    assert.equal(
      await ask('DELETE', { origin: 'https://app.example', ...reported }),
      'origin_rejected',
    )
    assert.equal(await ask('POST', { origin: 'https://api.example', ...reported }), 200)
    assert.equal(await ask('GET', { origin: EVIL, ...reported }), 200)
  } finally {
    await g.close()
  }
})

test('protect() and createVerifier(): a cookie-authenticated POST from another origin never reaches the handler; _method in the query neither', async () => {
  const file = JSON.stringify({
    providers: {
      main: { issuer: 'https://idp.test', secret: KEY.config, tokenSources: ['cookie:session'] },
    },
    routes: [{ name: 'orders', path: '/orders/*' }],
  })
  const config = await loadConfig({ JWTGATE_CONFIG: 'app.json' }, {
    readFile: () => file,
    local: true,
  })
  let reached = 0
  const guarded = protect(config, () => new Response(String(++reached)))
  const verifier = createVerifier(config)
  const cookie = `session=${await token({ iss: 'https://idp.test', sub: 'alice' })}`
  const post = (url: string, origin?: string) =>
    new Request(url, {
      method: 'POST',
      headers: { host: 'app.test', cookie, ...(origin === undefined ? {} : { origin }) },
    })
  const info = { protocol: 'https' as const }
  try {
    for (
      const [url, origin, code] of [
        ['https://app.test/orders/7', EVIL, 'origin_rejected'],
        [
          'https://app.test/orders/7?_method=DELETE',
          'https://app.test',
          'method_override_not_supported',
        ],
      ] as const
    ) {
      const refused = await guarded.fetch(post(url, origin), info)
      assert.equal((await refused.json()).code, code, url)
      const verified = await verifier.verify(post(url, origin), info)
      assert.ok(verified instanceof Response, url)
      assert.equal((await verified.json()).code, code, url)
    }
    assert.equal(reached, 0)
    // No protocol from the server (the Hono middleware passes none): the URL's scheme.
    const http = post('http://app.test/orders/7', 'http://app.test')
    assert.equal((await guarded.fetch(http)).status, 200)
    assert.ok(
      !((await verifier.verify(post('http://app.test/orders/7', 'http://app.test'))) instanceof
        Response),
    )
    assert.equal(
      (await guarded.fetch(post('https://app.test/orders/7', 'http://app.test'))).status,
      403,
    )
    reached = 0
    assert.equal(
      (await guarded.fetch(post('https://app.test/orders/7', 'https://app.test'), info)).status,
      200,
    )
    assert.ok(
      !((await verifier.verify(post('https://app.test/orders/7'), info)) instanceof Response),
    )
    assert.equal(reached, 1)
  } finally {
    guarded.close()
    verifier.close()
  }
})
