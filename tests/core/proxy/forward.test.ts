import assert from 'node:assert/strict'
import { ClientClosedError, LimitError, UpstreamError } from '../../../src/core/errors.ts'
import { requestBody } from '../../../src/core/proxy/body.ts'
import { type BodyState, forward, type ForwardOptions } from '../../../src/core/proxy/forward.ts'
import { recordingUpstream, serve } from '../../helpers/serve.ts'
import { isDeno, test } from '../../helpers/t.ts'

/** The runtime's fetch options, as src/bun.ts and src/deno.ts pass them. */
const INIT: Record<string, unknown> = isDeno ? {} : { decompress: false }

const options = (timeoutMs = 5000): ForwardOptions => ({
  fetch: globalThis.fetch,
  timeoutMs,
  init: INIT,
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A client request as the server hands it over. */
const clientRequest = (init: RequestInit & { headers?: Record<string, string> } = {}) =>
  new Request('http://gw.test/x', { ...init, headers: { host: 'gw.test', ...init.headers } })

/** A stream of `chunks`, then, if `stall`, silence until cancelled. */
function stream(chunks: string[], stall = false): ReadableStream<Uint8Array> {
  const bytes = chunks.map((c) => new TextEncoder().encode(c))
  return new ReadableStream({
    async pull(controller) {
      const next = bytes.shift()
      if (next !== undefined) return controller.enqueue(next)
      if (stall) await new Promise(() => {})
      else controller.close()
    },
  })
}

/** The error `promise` rejects with. */
async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (e) {
    return e
  }
  assert.fail('expected a rejection')
}

/** An upstream that reads the whole body; a client that gave up on it is no error here. */
async function readAll(r: Request): Promise<Response> {
  try {
    return new Response(`read ${(await r.arrayBuffer()).byteLength}`)
  } catch {
    return new Response('the body was cut', { status: 400 })
  }
}

test('forward() sends the method, the given headers and the body, and resolves with the upstream response', async () => {
  const up = await serve(async (r) =>
    Response.json({
      method: r.method,
      path: new URL(r.url).pathname + new URL(r.url).search,
      a: r.headers.get('x-a'),
      host: r.headers.get('host'),
      client: r.headers.get('x-client-only'),
      body: await r.text(),
    }, { status: 201, headers: { 'x-up': 'yes' } })
  )
  try {
    const request = clientRequest({
      method: 'PUT',
      body: 'hello upstream',
      headers: { 'x-client-only': 'not forwarded' },
    })
    const res = await forward(
      request,
      request.body,
      `${up.url}/base/x?y=1`,
      new Headers({ 'x-a': '1' }),
      options(),
    )
    assert.equal(res.status, 201)
    assert.equal(res.headers.get('x-up'), 'yes')
    assert.deepEqual(await res.json(), {
      method: 'PUT',
      path: '/base/x?y=1',
      a: '1',
      host: new URL(up.url).host,
      client: null,
      body: 'hello upstream',
    })
  } finally {
    await up.close()
  }
})

test('forward() streams a body without a length, and the response body as it comes', async () => {
  const up = await serve(async (r) => {
    const got = await r.text()
    const reply = stream([`got ${got.length}: `, got.toUpperCase()])
    return new Response(reply, { headers: { 'content-type': 'text/plain' } })
  })
  try {
    const request = clientRequest({ method: 'POST' })
    const res = await forward(
      request,
      stream(['abc', 'def', 'ghi']),
      up.url,
      new Headers(),
      options(),
    )
    assert.equal(res.status, 200)
    assert.equal(await res.text(), 'got 9: ABCDEFGHI')
  } finally {
    await up.close()
  }
})

test('forward() passes a redirect back to the client instead of following it', async () => {
  const up = await recordingUpstream(() =>
    new Response(null, { status: 302, headers: { location: '/elsewhere' } })
  )
  try {
    const request = clientRequest()
    const res = await forward(request, null, `${up.url}/x`, new Headers(), options())
    assert.equal(res.status, 302)
    assert.equal(res.headers.get('location'), '/elsewhere')
    assert.deepEqual(up.seen.map((s) => s.path), ['/x'])
  } finally {
    await up.close()
  }
})

test('forward() gives up with upstream_timeout (504) when no response headers arrive in time', async () => {
  const up = await serve(async () => {
    await sleep(1500)
    return new Response('late')
  })
  try {
    const started = Date.now()
    const e = await failure(forward(clientRequest(), null, up.url, new Headers(), options(150)))
    assert.ok(e instanceof UpstreamError, String(e))
    assert.equal(e.code, 'upstream_timeout')
    assert.equal(e.status, 504)
    assert.ok(Date.now() - started < 1000)
  } finally {
    await up.close()
  }
})

test('forward(): the timeout covers the headers only, not a slow body', async () => {
  const up = await serve(() =>
    new Response(
      new ReadableStream({
        async start(c) {
          c.enqueue(new TextEncoder().encode('a'))
          await sleep(400)
          c.enqueue(new TextEncoder().encode('b'))
          c.close()
        },
      }),
    )
  )
  try {
    const res = await forward(clientRequest(), null, up.url, new Headers(), options(150))
    assert.equal(await res.text(), 'ab')
  } finally {
    await up.close()
  }
})

test('forward() reports an upstream that cannot be reached as upstream_unreachable (502)', async () => {
  const gone = await serve(() => new Response('x'))
  const url = gone.url
  await gone.close()
  const e = await failure(forward(clientRequest(), null, url, new Headers(), options()))
  assert.ok(e instanceof UpstreamError, String(e))
  assert.equal(e.code, 'upstream_unreachable')
  assert.equal(e.status, 502)
})

test('forward(): a client that goes away before the headers is ClientClosedError (499), not a timeout', async () => {
  let sawAbort = false
  const up = await serve(async (r) => {
    r.signal.addEventListener('abort', () => (sawAbort = true))
    await sleep(1500)
    return new Response('late')
  })
  try {
    const client = new AbortController()
    const request = new Request('http://gw.test/x', {
      headers: { host: 'gw.test' },
      signal: client.signal,
    })
    setTimeout(() => client.abort(), 100)
    const started = Date.now()
    const e = await failure(forward(request, null, up.url, new Headers(), options(5000)))
    assert.ok(e instanceof ClientClosedError, String(e))
    assert.equal(e.code, 'client_closed')
    assert.equal(e.status, 499)
    assert.ok(Date.now() - started < 1000)
    await sleep(100)
    assert.equal(sawAbort, true)
  } finally {
    await up.close()
  }
})

test('forward(): a watched request body over its cap is payload_too_large (413), not an upstream failure', async () => {
  const up = await serve(readAll)
  try {
    const request = clientRequest({
      method: 'POST',
      body: stream(['x'.repeat(600), 'y'.repeat(600)]),
    })
    const state: BodyState & { bytesIn: number | undefined } = {
      requestBodyEnd: undefined,
      bytesIn: undefined,
    }
    const body = requestBody(
      request,
      { maxBodyBytes: 1000, streamIdleMs: 5000 },
      undefined,
      Date.now,
      state,
    )
    const e = await failure(forward(request, body, up.url, new Headers(), options(), state))
    assert.ok(e instanceof LimitError, String(e))
    assert.equal(e.code, 'payload_too_large')
    assert.equal(e.status, 413)
    assert.equal(state.requestBodyEnd, 'too_large')
  } finally {
    await up.close()
  }
})

test('forward(): a watched request body that stalls is request_timeout (408)', async () => {
  const up = await serve(readAll)
  try {
    const request = clientRequest({ method: 'POST', body: stream(['start'], true) })
    const state = { requestBodyEnd: undefined, bytesIn: undefined } as BodyState & {
      bytesIn: number | undefined
    }
    const body = requestBody(
      request,
      { maxBodyBytes: undefined, streamIdleMs: 150 },
      undefined,
      Date.now,
      state,
    )
    const started = Date.now()
    const e = await failure(forward(request, body, up.url, new Headers(), options(), state))
    assert.ok(e instanceof LimitError, String(e))
    assert.equal(e.code, 'request_timeout')
    assert.equal(e.status, 408)
    assert.equal(state.requestBodyEnd, 'idle')
    assert.ok(Date.now() - started < 2000)
  } finally {
    await up.close()
  }
})
