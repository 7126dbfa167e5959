/** The Bun adapter (src/adapters/bun.ts) against the adapter contract. */
import assert from 'node:assert/strict'
import { Hono } from 'hono'
import { jwtgate, type JwtgateVariables } from '../../src/adapters/hono.ts'
import { createVerifier, protect } from '../../src/mod.ts'
import { type Handler, runtimeDeps, serve } from '../../src/adapters/bun.ts'
import { createLogger } from '../../src/core/log.ts'
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

test('adapters/bun: a handler that answers no Response (sync or async) gets the generic problem+json 500, logged, as under Deno and Node — not Bun’s empty 204', async () => {
  const lines: string[] = []
  const logger = createLogger({ level: 'info', format: 'json', sink: (line) => lines.push(line) })
  const server = await serve(
    ((request: Request) =>
      request.url.endsWith('/async')
        ? Promise.resolve(undefined)
        : request.url.endsWith('/text')
        ? 'hello'
        : undefined) as unknown as Handler,
    { hostname: '127.0.0.1', port: 0, logger },
  )
  try {
    for (const path of ['/sync', '/async', '/text']) {
      const res = await fetch(`http://127.0.0.1:${server.port}${path}`)
      assert.equal(res.status, 500, path)
      assert.equal(res.headers.get('content-type'), 'application/problem+json', path)
      assert.equal((await res.json()).code, 'internal_error', path)
    }
    const logged = lines.map((l) => JSON.parse(l)).filter((l) => l.event === 'internal_error')
    assert.equal(logged.length, 3)
    assert.ok(logged.every((l) => l.error === 'TypeError'))
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

test('adapters/bun: a guarded handler never gets an HTTP/1.0 request without Host (a relative request.url it would route otherwise): protect, createVerifier, the Hono middleware', async () => {
  // Decided on the relative url `/docs/orders/7` (public /docs/*), Hono's router reads it from
  // the first slash after a scheme it expects, `/orders/7`, and serves the protected route.
  const config = await loadConfig(
    { JWTGATE_SECRET: secret(32).config, JWTGATE_PUBLIC_PATHS: '/docs/*' },
    { local: true },
  )
  const reached: string[] = []
  const app = new Hono<{ Variables: JwtgateVariables }>()
  const verifier = createVerifier(config)
  app.use('*', jwtgate(verifier))
  app.get('/orders/:id', (c) => {
    reached.push(`hono ${c.req.path}`)
    return c.text('order')
  })
  app.get('/docs/*', (c) => c.text('docs'))
  const guarded = protect(config, (request) => {
    reached.push(`protect ${request.url}`)
    return new Response('handled')
  })
  const servers = [
    await serve((request) => app.fetch(request), { hostname: '127.0.0.1', port: 0 }),
    await serve((request, info) => guarded.fetch(request, info), {
      hostname: '127.0.0.1',
      port: 0,
    }),
    await serve(async (request) => {
      const who = await verifier.verify(request)
      if (who instanceof Response) return who
      reached.push(`verify ${request.url}`)
      return new Response('verified')
    }, { hostname: '127.0.0.1', port: 0 }),
  ]
  try {
    for (const server of servers) {
      for (const target of ['/docs/orders/7', '/docs/a', '/orders/7']) {
        const res = (await exchange(server.port, `GET ${target} HTTP/1.0\r\n\r\n`)).responses[0]!
        assert.equal(res.status, 400, `${server.port} ${target}`)
        assert.equal(res.json().code, 'bad_host', target)
      }
      // With Host, the public route is served.
      const res = (await exchange(
        server.port,
        'GET /docs/a HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n',
      )).responses[0]!
      assert.equal(res.status, 200)
    }
    assert.deepEqual(reached, ['protect http://app.test/docs/a', 'verify http://app.test/docs/a'])
    // protect's own health probes reach no handler: answered without Host too (HAProxy's httpchk).
    const probe = (await exchange(servers[1]!.port, 'GET /healthz HTTP/1.0\r\n\r\n')).responses[0]!
    assert.equal(probe.status, 200)
  } finally {
    for (const server of servers) await server.stop(true)
    guarded.close()
    verifier.close()
  }
})
