/** The Bun adapter (src/adapters/bun.ts) against the adapter contract. */
import assert from 'node:assert/strict'
import { runtimeDeps, serve } from '../../src/adapters/bun.ts'
import { loadConfig } from '../../src/core/config/load.ts'
import { createGateway } from '../../src/core/gateway.ts'
import { secret } from '../helpers/keys.ts'
import { exchange } from '../helpers/raw-http.ts'
import { test } from '../helpers/t.ts'
import { adapterContract } from './shared.ts'

adapterContract('adapters/bun', serve, runtimeDeps)

// Bun-only: its server hands over a relative request.url for an HTTP/1.0 request without Host,
// and shows its own error page (the error, the source) for a handler that throws, unless told not.

test('adapters/bun: a handler that throws or rejects gets the generic problem+json 500, never Bun’s error page', async () => {
  const server = await serve(
    (request) => {
      if (request.url.endsWith('/reject')) return Promise.reject(new Error('secret detail'))
      throw new TypeError('secret detail')
    },
    { hostname: '127.0.0.1', port: 0 },
  )
  try {
    for (const path of ['/throw', '/reject']) {
      const { responses } = await exchange(server.port, `GET ${path} HTTP/1.0\r\n\r\n`)
      const res = responses[0]!
      assert.equal(res.status, 500, path)
      assert.equal(res.headers.get('content-type'), 'application/problem+json', path)
      assert.equal(res.json().code, 'internal_error', path)
      assert.doesNotMatch(res.text(), /secret detail|<html|\.ts\b/i, path)
    }
  } finally {
    await server.stop(true)
  }
})

test('adapters/bun: the admin listener answers an HTTP/1.0 request without Host (a relative request.url)', async () => {
  const gateway = createGateway(
    await loadConfig({ JWTGATE_UPSTREAM: 'http://127.0.0.1:9', JWTGATE_SECRET: secret(32).config }),
    runtimeDeps,
  )
  const server = await serve((request: Request) => gateway.admin(request), {
    hostname: '127.0.0.1',
    port: 0,
  })
  try {
    const metrics = (await exchange(server.port, 'GET /metrics HTTP/1.0\r\n\r\n')).responses[0]!
    assert.equal(metrics.status, 200)
    assert.match(metrics.text(), /^jwtgate_requests_in_flight 0$/m)
    const revoke = 'POST /revocations HTTP/1.0\r\nContent-Length: 0\r\n\r\n'
    const writes = (await exchange(server.port, revoke)).responses[0]!
    assert.equal(writes.status, 403)
    assert.equal(writes.json().code, 'admin_writes_disabled')
  } finally {
    await server.stop(true)
    gateway.close()
  }
})
