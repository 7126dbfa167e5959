import assert from 'node:assert/strict'
import { loadConfig } from '../../../src/core/config/load.ts'
import { createGateway } from '../../../src/core/gateway.ts'
import { secret, sign } from '../../helpers/keys.ts'
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
