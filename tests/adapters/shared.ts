/**
 * What every runtime adapter must do, written once (not collected: no `.test.`): bun.test.ts and
 * deno.test.ts run it with their runtime's `serve` and `runtimeDeps`; the Node adapter's test does
 * the same checks under plain node.
 */
import assert from 'node:assert/strict'
import type { RuntimeDeps, Servable, ServeOptions, Server } from '../../src/adapters/types.ts'
import { loadConfig } from '../../src/core/config/load.ts'
import { createGateway } from '../../src/core/gateway.ts'
import { secret, sign } from '../helpers/keys.ts'
import { recordingUpstream } from '../helpers/serve.ts'
import { test } from '../helpers/t.ts'

type Serve = (servable: Servable, options?: ServeOptions) => Promise<Server>

/** Registers the adapter contract for `serve` under `name`. */
export function adapterContract(name: string, serve: Serve, runtimeDeps: RuntimeDeps): void {
  test(`${name}: serve(gateway) passes the client's address and the protocol, streams uploads both ways, stops`, async () => {
    const key = secret(32)
    const upstream = await recordingUpstream(async (request) => {
      const body = request.body === null ? 0 : (await request.arrayBuffer()).byteLength
      return Response.json({ body })
    })
    const gateway = createGateway(
      await loadConfig({
        JWTGATE_UPSTREAM: upstream.url,
        JWTGATE_SECRET: key.config,
        JWTGATE_FORWARD_CLAIMS: 'sub=X-User-Id',
      }),
      runtimeDeps,
    )
    const server = await serve(gateway, { hostname: '127.0.0.1', port: 0 })
    try {
      assert.ok(server.port > 0)
      const url = `http://127.0.0.1:${server.port}`
      const token = await sign({ sub: 'alice' }, { alg: 'HS256', key: key.raw })
      const ok = await fetch(`${url}/x`, { headers: { authorization: `Bearer ${token}` } })
      assert.equal(ok.status, 200)
      assert.deepEqual(await ok.json(), { body: 0 })
      const seen = upstream.seen.at(-1)!
      assert.equal(seen.headers.get('x-forwarded-for'), '127.0.0.1')
      assert.equal(seen.headers.get('x-forwarded-proto'), 'http')
      assert.equal(seen.headers.get('x-forwarded-host'), `127.0.0.1:${server.port}`)
      assert.equal(seen.headers.get('x-user-id'), 'alice')
      // A 5 MB upload without a length streams through.
      const chunk = new Uint8Array(64 * 1024).fill(97)
      let sent = 0
      const upload = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent >= 5 * 1024 * 1024) return controller.close()
          sent += chunk.byteLength
          controller.enqueue(chunk)
        },
      })
      const up = await fetch(`${url}/upload`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
        body: upload,
        duplex: 'half',
      } as RequestInit)
      assert.deepEqual(await up.json(), { body: 5 * 1024 * 1024 })
      assert.equal((await fetch(`${url}/x`)).status, 401)
    } finally {
      await server.stop()
      gateway.close()
      await upstream.close()
    }
    await assert.rejects(fetch(`http://127.0.0.1:${server.port}/x`))
  })

  test(`${name}: serve(handler) hands any handler the connection's facts; a taken port rejects`, async () => {
    const server = await serve((_request, info) => Response.json(info), {
      hostname: '127.0.0.1',
      port: 0,
    })
    try {
      const answer = await fetch(`http://127.0.0.1:${server.port}/`)
      assert.deepEqual(await answer.json(), { clientAddress: '127.0.0.1', protocol: 'http' })
      await assert.rejects(
        serve(() => new Response('x'), { hostname: '127.0.0.1', port: server.port }),
      )
    } finally {
      await server.stop(true)
    }
  })

  test(`${name}: a handler that throws or rejects is the generic problem+json 500, its error's name logged under the answer's request id`, async () => {
    const logged: Record<string, unknown>[] = []
    const logger = {
      enabled: () => true,
      log: (level: string, event: string, fields?: Record<string, unknown>) =>
        void logged.push({ level, event, ...fields }),
    }
    const server = await serve(
      (request: Request) => {
        if (request.url.endsWith('/reject')) return Promise.reject(new RangeError('secret detail'))
        throw new TypeError('secret detail')
      },
      { hostname: '127.0.0.1', port: 0, logger },
    )
    try {
      const cases: [string, string][] = [['/throw', 'TypeError'], ['/reject', 'RangeError']]
      for (const [path, name] of cases) {
        const res = await fetch(`http://127.0.0.1:${server.port}${path}`)
        assert.equal(res.status, 500, path)
        assert.equal(res.headers.get('content-type'), 'application/problem+json', path)
        const text = await res.text()
        assert.equal(JSON.parse(text).code, 'internal_error', path)
        assert.doesNotMatch(text, /secret detail/, path)
        const line = logged.at(-1)!
        assert.deepEqual(line, {
          level: 'error',
          event: 'internal_error',
          request_id: res.headers.get('x-request-id'),
          error: name,
        })
      }
      assert.equal(logged.length, 2)
      assert.doesNotMatch(JSON.stringify(logged), /secret detail/)
    } finally {
      await server.stop(true)
    }
  })
}
