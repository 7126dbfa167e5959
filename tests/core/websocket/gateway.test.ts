import assert from 'node:assert/strict'
import { loadConfig } from '../../../src/core/config/load.ts'
import { createGateway } from '../../../src/core/gateway.ts'
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
