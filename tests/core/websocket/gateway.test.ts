import assert from 'node:assert/strict'
import { loadConfig } from '../../../src/core/config/load.ts'
import { createGateway } from '../../../src/core/gateway.ts'
import { protect } from '../../../src/core/guard.ts'
import { secret, sign } from '../../helpers/keys.ts'
import { recordingUpstream } from '../../helpers/serve.ts'
import { test } from '../../helpers/t.ts'

const K = secret(32)
const HANDSHAKE = {
  host: 'gw.test',
  upgrade: 'websocket',
  connection: 'Upgrade',
  'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
  'sec-websocket-version': '13',
}

async function gateway(extra: Record<string, string> = {}) {
  const config = await loadConfig({
    // Never dialled: every request here is refused before the upstream.
    JWTGATE_UPSTREAM: 'http://127.0.0.1:9',
    JWTGATE_SECRET: K.config,
    JWTGATE_PUBLIC_PATHS: '/public/*',
    ...extra,
  })
  return createGateway(config, {
    WebSocket: class {
      constructor() {
        throw new Error('the upstream must not be dialled')
      }
    } as never,
  })
}

const upgrade = async (g: Awaited<ReturnType<typeof gateway>>, path: string, token?: string) => {
  const headers = new Headers(HANDSHAKE)
  if (token !== undefined) headers.set('authorization', `Bearer ${token}`)
  const response = await g.fetch(new Request(`http://gw.test${path}`, { headers }), {
    clientAddress: '127.0.0.1',
    upgrade: () => {
      throw new Error('not upgraded in these tests')
    },
  })
  const body = response.status === 101 ? {} : await response.json()
  return { status: response.status, code: (body as { code?: string }).code }
}

test('JWTGATE_WEBSOCKETS=false: every upgrade is 403 websocket_not_allowed, after the token check', async () => {
  const g = await gateway({ JWTGATE_WEBSOCKETS: 'false' })
  const t = await sign({ sub: 'a', exp: Math.floor(Date.now() / 1000) + 60 }, {
    alg: 'HS256',
    key: K.raw,
  })
  try {
    assert.deepEqual(await upgrade(g, '/chat'), { status: 401, code: 'token_missing' })
    assert.deepEqual(await upgrade(g, '/chat', t), { status: 403, code: 'websocket_not_allowed' })
  } finally {
    g.close()
  }
})

test('with env configuration, upgrades go on routes that authenticate, not on JWTGATE_PUBLIC_PATHS', async () => {
  const g = await gateway()
  try {
    assert.deepEqual(await upgrade(g, '/public/x'), { status: 403, code: 'websocket_not_allowed' })
  } finally {
    g.close()
  }
})

test('a server that cannot upgrade (no ConnectionInfo.upgrade): 501 websocket_unsupported', async () => {
  const g = await gateway()
  const t = await sign({ sub: 'a', exp: Math.floor(Date.now() / 1000) + 60 }, {
    alg: 'HS256',
    key: K.raw,
  })
  try {
    const response = await g.fetch(
      new Request('http://gw.test/chat', {
        headers: { ...HANDSHAKE, authorization: `Bearer ${t}` },
      }),
    )
    assert.equal(response.status, 501)
    assert.equal((await response.json()).code, 'websocket_unsupported')
  } finally {
    g.close()
  }
})

const cookieToken = () =>
  sign({ sub: 'a', exp: Math.floor(Date.now() / 1000) + 60 }, { alg: 'HS256', key: K.raw })

/** An upgrade carrying the token in a cookie, from `origin`, to a gateway reached over `protocol`. */
async function fromOrigin(
  g: Awaited<ReturnType<typeof gateway>>,
  origin: string,
  protocol: 'http' | 'https' = 'https',
  host = 'gw.test',
  extra: Record<string, string> = {},
) {
  const headers = new Headers({
    ...HANDSHAKE,
    host,
    origin,
    cookie: `session=${await cookieToken()}`,
    ...extra,
  })
  const response = await g.fetch(new Request(`http://${host}/chat`, { headers }), {
    clientAddress: '127.0.0.1',
    protocol,
    upgrade: () => {
      throw new Error('not upgraded in these tests')
    },
  })
  // Past the origin check the (refusing) upstream is dialled: 502.
  return response.status === 502 ? 'passed' : (await response.json()).code
}

test('a cookie-authenticated upgrade behind a trusted TLS-terminating proxy: its own origin is the scheme and host the proxy reports', async () => {
  const behind = await gateway({
    JWTGATE_TOKEN_SOURCES: 'cookie:session',
    JWTGATE_TRUSTED_PROXIES: '1',
  })
  const https = { 'x-forwarded-proto': 'https' }
  const renamed = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example.com' }
  try {
    // The listener is plain http; the client used https through the proxy.
    assert.equal(
      await fromOrigin(behind, 'http://gw.test', 'http', 'gw.test', https),
      'origin_rejected',
    )
    assert.equal(await fromOrigin(behind, 'https://gw.test', 'http', 'gw.test', https), 'passed')
    // A proxy that rewrites Host: the host it reports is the gateway's own.
    assert.equal(
      await fromOrigin(behind, 'https://api.example.com', 'http', 'gw.test', renamed),
      'passed',
    )
    assert.equal(
      await fromOrigin(behind, 'https://gw.test', 'http', 'gw.test', renamed),
      'origin_rejected',
    )
  } finally {
    behind.close()
  }
  // Without trusted proxies a client's X-Forwarded-* are not believed.
  const direct = await gateway({ JWTGATE_TOKEN_SOURCES: 'cookie:session' })
  try {
    assert.equal(
      await fromOrigin(direct, 'https://api.example.com', 'https', 'gw.test', renamed),
      'origin_rejected',
    )
    assert.equal(await fromOrigin(direct, 'http://gw.test', 'http', 'gw.test', https), 'passed')
  } finally {
    direct.close()
  }
})

test("a cookie-authenticated upgrade: the gateway's own origin over https (or http when reached so), or a CORS origin with credentials", async () => {
  const plain = await gateway({ JWTGATE_TOKEN_SOURCES: 'cookie:session' })
  try {
    assert.equal(await fromOrigin(plain, 'https://gw.test'), 'passed')
    assert.equal(await fromOrigin(plain, 'https://GW.test:443', 'https', 'gw.test:443'), 'passed')
    assert.equal(await fromOrigin(plain, 'http://gw.test', 'http'), 'passed')
    // An http page may not use the cookie of a gateway reached over https.
    assert.equal(await fromOrigin(plain, 'http://gw.test', 'https'), 'origin_rejected')
    for (
      const origin of [
        'https://evil.test',
        'null',
        'https://gw.test.evil.test',
        'https://gw.test:8443',
      ]
    ) {
      assert.equal(await fromOrigin(plain, origin), 'origin_rejected', origin)
    }
  } finally {
    plain.close()
  }
  // CORS origins without credentials (or "*") never make a cookie usable cross-site.
  const open = await gateway({
    JWTGATE_TOKEN_SOURCES: 'cookie:session',
    JWTGATE_CORS_ORIGINS: '*',
  })
  const listed = await gateway({
    JWTGATE_TOKEN_SOURCES: 'cookie:session',
    JWTGATE_CORS_ORIGINS: 'https://app.test',
  })
  const credentialed = await gateway({
    JWTGATE_TOKEN_SOURCES: 'cookie:session',
    JWTGATE_CORS_ORIGINS: 'https://app.test',
    JWTGATE_CORS_CREDENTIALS: 'true',
  })
  try {
    assert.equal(await fromOrigin(open, 'https://evil.test'), 'origin_rejected')
    assert.equal(await fromOrigin(listed, 'https://app.test'), 'origin_rejected')
    assert.equal(await fromOrigin(credentialed, 'https://app.test'), 'passed')
    assert.equal(await fromOrigin(credentialed, 'https://evil.test'), 'origin_rejected')
  } finally {
    open.close()
    listed.close()
    credentialed.close()
  }
})

test("refused cookie-authenticated handshakes (a foreign origin, a route without WebSockets, also with a token short of the route's requirements) use up none of the user's rate limit: proxied, asked about, guarded", async () => {
  const cookie = `session=${await cookieToken()}`
  const modes = {
    proxied: {
      env: { JWTGATE_UPSTREAM: 'http://127.0.0.1:9' },
      request: (headers: Record<string, string>) => new Request('http://gw.test/chat', { headers }),
    },
    // nginx's auth_request passes the client's headers: the handshake's, and the original URI.
    asked: {
      env: { JWTGATE_MODE: 'auth' },
      request: (headers: Record<string, string>) =>
        new Request('http://gw.test/auth', {
          headers: {
            'x-original-method': 'GET',
            'x-original-uri': '/chat',
            'x-forwarded-for': '192.0.2.7',
            ...headers,
          },
        }),
    },
    guarded: {
      env: {},
      request: (headers: Record<string, string>) => new Request('http://gw.test/chat', { headers }),
    },
  }
  for (const [mode, { env, request }] of Object.entries(modes)) {
    for (
      const [refusal, extra, origin, after] of [
        ['origin_rejected', {}, 'https://evil.test', undefined],
        ['websocket_not_allowed', { JWTGATE_WEBSOCKETS: 'false' }, 'http://gw.test', undefined],
        // Refused for its origin before the requirements, whose own refusals count.
        [
          'origin_rejected',
          { JWTGATE_REQUIRED_SCOPES: 'admin' },
          'https://evil.test',
          'insufficient_scope',
        ],
      ] as const
    ) {
      const config = await loadConfig({
        JWTGATE_SECRET: K.config,
        JWTGATE_TOKEN_SOURCES: 'cookie:session',
        JWTGATE_RATE_LIMIT: '3/1m',
        ...env,
        ...extra,
      }, { local: mode === 'guarded' })
      const g = mode === 'guarded'
        ? protect(config, () => new Response('handled'))
        : createGateway(config, {
          WebSocket: class {
            constructor() {
              throw new Error('the upstream must not be dialled')
            }
          } as never,
        })
      const info = {
        clientAddress: '127.0.0.1',
        protocol: 'http' as const,
        upgrade: () => {
          throw new Error('not upgraded in these tests')
        },
      }
      try {
        for (let i = 0; i < 5; i++) {
          const response = await g.fetch(request({ ...HANDSHAKE, cookie, origin }), info)
          assert.equal(response.status, 403, `${mode} ${refusal} #${i + 1}`)
          assert.equal((await response.json()).code, refusal, `${mode} #${i + 1}`)
        }
        // The user's own next request is within the limit (3 a minute): none was used up.
        const answered = await g.fetch(request({ host: 'gw.test', cookie }), info)
        if (after === undefined) {
          assert.notEqual(answered.status, 429, `${mode} ${refusal}`)
          assert.notEqual(answered.status, 403, `${mode} ${refusal}`)
        } else {
          assert.equal(answered.status, 403, `${mode} ${after}`)
          assert.equal((await answered.json()).code, after, mode)
        }
      } finally {
        g.close()
      }
    }
  }
})

test('an upgrade that comes in once shutdown has begun (drain) is 503 shutting_down, the upstream never dialled', async () => {
  const g = await gateway()
  try {
    g.drain()
    const t = await cookieToken()
    assert.deepEqual(await upgrade(g, '/chat', t), { status: 503, code: 'shutting_down' })
  } finally {
    g.close()
  }
})

test('a handshake the runtime would refuse (no Connection: Upgrade, version 8, no key, POST) is 400 before the upstream', async () => {
  const g = await gateway()
  const t = await cookieToken()
  try {
    const variants: Record<string, string | undefined>[] = [
      { connection: 'keep-alive' },
      { 'sec-websocket-version': '8' },
      { 'sec-websocket-key': undefined },
    ]
    for (const change of variants) {
      const headers = new Headers({ ...HANDSHAKE, authorization: `Bearer ${t}` })
      for (const [name, value] of Object.entries(change)) {
        if (value === undefined) headers.delete(name)
        else headers.set(name, value)
      }
      const response = await g.fetch(new Request('http://gw.test/chat', { headers }), {
        upgrade: () => {
          throw new Error('not upgraded')
        },
      })
      assert.equal(response.status, 400, JSON.stringify(change))
      assert.equal((await response.json()).code, 'bad_upgrade')
    }
  } finally {
    g.close()
  }
})

test('Sec-WebSocket-Protocol on a plain request never reaches the upstream (it may carry a token)', async () => {
  const upstream = await recordingUpstream()
  const config = await loadConfig({ JWTGATE_UPSTREAM: upstream.url, JWTGATE_SECRET: K.config })
  const g = createGateway(config)
  const t = await cookieToken()
  try {
    const response = await g.fetch(
      new Request('http://gw.test/x', {
        headers: {
          host: 'gw.test',
          authorization: `Bearer ${t}`,
          'sec-websocket-protocol': `bearer, ${t}`,
        },
      }),
    )
    assert.equal(response.status, 200)
    await response.arrayBuffer()
    assert.equal(upstream.seen[0]!.headers.get('sec-websocket-protocol'), null)
    assert.ok(!JSON.stringify([...upstream.seen[0]!.headers]).includes(t))
  } finally {
    g.close()
    await upstream.close()
  }
})
