import assert from 'node:assert/strict'
import { adminResponse, healthResponse, isHealthProbe } from '../../src/core/admin.ts'
import { rawPath } from '../../src/core/routing/path.ts'
import { Metrics } from '../../src/core/metrics.ts'
import { test } from '../helpers/t.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

const admin = (path: string, init?: RequestInit) =>
  new Request(`http://127.0.0.1:9090${path}`, {
    ...init,
    headers: { host: '127.0.0.1:9090', ...init?.headers },
  })

/**
 * A request as Bun's server hands over an HTTP/1.0 request without Host: its `url` is the
 * request-target alone (`/metrics`), which `new Request` would refuse and `new URL` throws on.
 */
const relative = (target: string, method = 'GET') =>
  ({ url: target, method, headers: new Headers(), body: null }) as unknown as Request

test('rawPath(): the path of an origin-form or absolute URL, without query or fragment, never a throw', () => {
  const cases: [string, string][] = [
    ['/metrics', '/metrics'],
    ['/metrics?x=1', '/metrics'],
    ['/metrics#f', '/metrics'],
    ['http://127.0.0.1:9090/metrics', '/metrics'],
    ['https://admin.test/revocations?a=/b', '/revocations'],
    ['HTTP://h/readyz', '/readyz'],
    ['http://h', '/'],
    ['http://h?x=/metrics', '/'],
    ['/x/http://h/metrics', '/x/http://h/metrics'],
    // No path: read as the proxy reads a request-target (rawTarget), then not an admin path.
    ['*', '/'],
    ['', '/'],
    ['%', '/'],
    ['metrics', '/'],
  ]
  for (const [url, path] of cases) assert.equal(rawPath(url), path, url)
})

test('adminResponse(): a relative request.url (HTTP/1.0 without Host, under Bun) is answered, not thrown on', async () => {
  const metrics = new Metrics(1_700_000_000_000)
  const res = adminResponse(relative('/metrics'), metrics, true, false)
  assert.equal(res.status, 200)
  assert.equal(await res.text(), metrics.render())
  assert.equal(adminResponse(relative('/readyz?probe'), metrics, true, false).status, 200)
  assert.equal(adminResponse(relative('/nowhere'), metrics, true, false).status, 404)
  assert.equal(adminResponse(relative('*', 'OPTIONS'), metrics, true, false).status, 404)
})

test('isHealthProbe() is GET or HEAD of /healthz or /readyz, exactly', () => {
  for (const method of ['GET', 'HEAD']) {
    assert.equal(isHealthProbe(method, '/healthz'), true)
    assert.equal(isHealthProbe(method, '/readyz'), true)
  }
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
    assert.equal(isHealthProbe(method, '/healthz'), false, method)
    assert.equal(isHealthProbe(method, '/readyz'), false, method)
  }
  for (const path of ['/healthz/', '/readyz/x', '/HEALTHZ', '/health', '/metrics', '/', '']) {
    assert.equal(isHealthProbe('GET', path), false, path)
  }
})

test('healthResponse(): /healthz is 200 "ok" while the process runs, ready or not', async () => {
  for (const [ready, draining] of [[true, false], [false, false], [false, true]] as const) {
    const res = healthResponse('/healthz', 'req-1', ready, draining)
    assert.equal(res.status, 200)
    assert.deepEqual(await res.json(), { status: 'ok' })
    assert.equal(res.headers.get('content-type'), 'application/json')
    assert.equal(res.headers.get('cache-control'), 'no-store')
    assert.equal(res.headers.get('x-request-id'), 'req-1')
  }
})

test('healthResponse(): /readyz is 200 "ok" when ready, 503 "starting" or "draining" otherwise', async () => {
  const answer = async (ready: boolean, draining: boolean) => {
    const res = healthResponse('/readyz', 'req-2', ready, draining)
    assert.equal(res.headers.get('content-type'), 'application/json')
    assert.equal(res.headers.get('cache-control'), 'no-store')
    assert.equal(res.headers.get('x-request-id'), 'req-2')
    return [res.status, ((await res.json()) as { status: string }).status]
  }
  assert.deepEqual(await answer(true, false), [200, 'ok'])
  assert.deepEqual(await answer(false, false), [503, 'starting'])
  assert.deepEqual(await answer(false, true), [503, 'draining'])
})

test('adminResponse(): /metrics renders the Prometheus text of the metrics it is given', async () => {
  const metrics = new Metrics(1_700_000_000_000)
  metrics.countRequest('orders', 'GET', 200, 0.01)
  metrics.rejections.inc(['token_missing'])
  const res = adminResponse(admin('/metrics'), metrics, false, false)
  assert.equal(res.status, 200)
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8')
  const text = await res.text()
  assert.equal(text, metrics.render())
  assert.match(
    text,
    /^jwtgate_requests_total\{route="orders",method_class="read",status="200"\} 1$/m,
  )
  assert.match(text, /^jwtgate_rejections_total\{reason="token_missing"\} 1$/m)
  assert.match(text, /^jwtgate_process_start_time_seconds 1700000000$/m)
  // The query does not change the path.
  assert.equal(await adminResponse(admin('/metrics?x=1'), metrics, false, false).text(), text)
})

test('adminResponse(): /healthz and /readyz answer as the health probes, with a new request id each', async () => {
  const metrics = new Metrics()
  const healthz = adminResponse(admin('/healthz'), metrics, false, true)
  assert.equal(healthz.status, 200)
  assert.deepEqual(await healthz.json(), { status: 'ok' })
  const starting = adminResponse(admin('/readyz'), metrics, false, false)
  assert.equal(starting.status, 503)
  assert.deepEqual(await starting.json(), { status: 'starting' })
  const draining = adminResponse(admin('/readyz'), metrics, false, true)
  assert.equal(draining.status, 503)
  assert.deepEqual(await draining.json(), { status: 'draining' })
  const ready = adminResponse(
    admin('/readyz', { headers: { 'x-request-id': 'mine' } }),
    metrics,
    true,
    false,
  )
  assert.equal(ready.status, 200)
  assert.deepEqual(await ready.json(), { status: 'ok' })
  const ids = [healthz, starting, draining, ready].map((r) => r.headers.get('x-request-id')!)
  for (const id of ids) assert.match(id, UUID)
  assert.equal(new Set(ids).size, 4)
})

test('adminResponse(): any other path is 404 "not found"', async () => {
  for (const path of ['/', '/metrics/', '/healthz/x', '/Metrics', '/orders']) {
    const res = adminResponse(admin(path), new Metrics(), true, false)
    assert.equal(res.status, 404, path)
    assert.equal(res.headers.get('content-type'), 'text/plain')
    assert.equal(await res.text(), 'not found\n')
  }
})
