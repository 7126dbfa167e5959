/**
 * fetch-json.ts on its own, against real servers on 127.0.0.1: which URLs may be fetched, and
 * fetchJson's refusals (status, redirect, size, time, JSON), each a FetchDocumentError with a
 * message safe to log. (How a key source logs and retries them: jwks.test.ts.)
 */
import assert from 'node:assert/strict'
import {
  FetchDocumentError,
  fetchJson,
  insecureUrlProblem,
  isLoopbackHost,
  MAX_DOCUMENT_BYTES,
} from '../../../src/core/auth/fetch-json.ts'
import { type Handler, serve, type TestServer } from '../../helpers/serve.ts'
import { test } from '../../helpers/t.ts'

/** What a test server saw: requests by path, and the headers of the last one. */
interface Seen {
  readonly hits: Record<string, number>
  last?: Headers
}

/** A server on 127.0.0.1 that counts requests by path and keeps the headers of the last one. */
async function server(handler: Handler): Promise<TestServer & Seen> {
  const seen: Seen = { hits: {} }
  const s = await serve((request) => {
    const path = new URL(request.url).pathname
    seen.hits[path] = (seen.hits[path] ?? 0) + 1
    seen.last = request.headers
    return handler(request)
  })
  return Object.assign(seen, s)
}

/** The FetchDocumentError message `promise` rejects with. */
async function failure(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (e) {
    assert.ok(e instanceof FetchDocumentError, `expected FetchDocumentError, got ${e}`)
    return e.message
  }
  assert.fail('expected the fetch to fail')
}

const get = (url: string, timeoutMs = 2000, maxBytes?: number) =>
  fetchJson(globalThis.fetch, url, timeoutMs, maxBytes)

test('isLoopbackHost() knows localhost, 127.0.0.0/8 and ::1 only', () => {
  for (const host of ['localhost', 'LOCALHOST', '127.0.0.1', '127.255.0.9', '::1', '[::1]']) {
    assert.equal(isLoopbackHost(host), true, host)
  }
  for (
    const host of [
      'localhost.example.com',
      '127.0.0.1.nip.io',
      '128.0.0.1',
      '10.0.0.1',
      '0.0.0.0',
      '::',
      '::ffff:127.0.0.1',
      'example.com',
    ]
  ) {
    assert.equal(isLoopbackHost(host), false, host)
  }
})

test('insecureUrlProblem() allows https, and http only on loopback or when allowed', () => {
  assert.equal(insecureUrlProblem('https://idp.example.com/jwks', false), undefined)
  assert.equal(insecureUrlProblem('http://127.0.0.1:8080/jwks', false), undefined)
  assert.equal(insecureUrlProblem('http://localhost/jwks', false), undefined)
  assert.equal(insecureUrlProblem('http://[::1]:9/jwks', false), undefined)
  assert.equal(
    insecureUrlProblem('http://idp.example.com/jwks', false),
    'must be an https:// URL (http is allowed only for loopback hosts, or with JWTGATE_ALLOW_INSECURE_JWKS=true)',
  )
  assert.equal(insecureUrlProblem('http://idp.example.com/jwks', true), undefined)
  // Allowing http never allows another scheme.
  for (const url of ['ftp://idp.example.com/jwks', 'file:///etc/jwks.json', 'ws://127.0.0.1/']) {
    assert.equal(insecureUrlProblem(url, true), 'must be an https:// URL', url)
  }
  for (const url of ['', 'idp.example.com/jwks', '/jwks', 'http://']) {
    assert.equal(insecureUrlProblem(url, true), 'is not a valid URL', url)
  }
})

test('fetchJson() GETs a JSON document, asking for JSON', async () => {
  const doc = { keys: [{ kty: 'EC', kid: 'a' }], n: 1 }
  const s = await server(() => Response.json(doc))
  try {
    assert.deepEqual(await get(`${s.url}/jwks`), doc)
    assert.equal(s.hits['/jwks'], 1)
    assert.equal(s.last!.get('accept'), 'application/json')
    // Any JSON value is returned as parsed; the caller checks its shape.
    const text = await server(() => new Response('[1,"two",null]'))
    try {
      assert.deepEqual(await get(text.url), [1, 'two', null])
    } finally {
      await text.close()
    }
  } finally {
    await s.close()
  }
})

test('fetchJson() follows no redirect and refuses any status but 200', async () => {
  const s = await server((r) => {
    const path = new URL(r.url).pathname
    if (path === '/moved') return Response.redirect(`${new URL(r.url).origin}/jwks`, 302)
    if (path === '/permanent') return Response.redirect(`${new URL(r.url).origin}/jwks`, 308)
    if (path === '/jwks') return Response.json({ keys: [] })
    if (path === '/empty') return new Response(null, { status: 204 })
    return new Response('{"error":"boom"}', { status: path === '/missing' ? 404 : 500 })
  })
  try {
    assert.equal(
      await failure(get(`${s.url}/moved`)),
      'HTTP status 302 (redirects are not followed)',
    )
    assert.equal(
      await failure(get(`${s.url}/permanent`)),
      'HTTP status 308 (redirects are not followed)',
    )
    assert.equal(s.hits['/jwks'], undefined)
    assert.equal(await failure(get(`${s.url}/missing`)), 'HTTP status 404')
    assert.equal(await failure(get(`${s.url}/fail`)), 'HTTP status 500')
    assert.equal(await failure(get(`${s.url}/empty`)), 'HTTP status 204')
  } finally {
    await s.close()
  }
})

test('fetchJson() refuses a body that is not JSON, without echoing it', async () => {
  const bodies: Record<string, string> = {
    '/html': '<html>secret-looking page</html>',
    '/empty': '',
    '/truncated': '{"keys":[',
  }
  const s = await server((r) => new Response(bodies[new URL(r.url).pathname] ?? ''))
  try {
    for (const path of Object.keys(bodies)) {
      const message = await failure(get(`${s.url}${path}`))
      assert.equal(message, 'response is not valid JSON', path)
    }
  } finally {
    await s.close()
  }
})

test('fetchJson() caps the size: by Content-Length before reading, and while reading a stream', async () => {
  const limit = 100
  const json = (n: number) => `"${'x'.repeat(n - 2)}"`
  const s = await server((r) => {
    const path = new URL(r.url).pathname
    if (path === '/exact') return new Response(json(limit))
    if (path === '/declared') return new Response(json(limit + 1))
    // No Content-Length: 50 chunks of 40 bytes.
    let sent = 0
    return new Response(
      new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent++ === 50) return controller.close()
          controller.enqueue(new TextEncoder().encode(' '.repeat(40)))
        },
      }),
    )
  })
  try {
    assert.equal(await get(`${s.url}/exact`, 2000, limit), 'x'.repeat(limit - 2))
    assert.equal(
      await failure(get(`${s.url}/declared`, 2000, limit)),
      `response is larger than ${limit} bytes`,
    )
    const probe = await fetch(`${s.url}/stream`)
    assert.equal(probe.headers.get('content-length'), null, 'the stream has no length')
    await probe.body?.cancel()
    assert.equal(
      await failure(get(`${s.url}/stream`, 2000, limit)),
      `response is larger than ${limit} bytes`,
    )
    assert.equal(MAX_DOCUMENT_BYTES, 1024 * 1024)
  } finally {
    await s.close()
  }
})

test('fetchJson() gives up on a server that does not answer, or stops sending, within the timeout', async () => {
  let release: () => void = () => {}
  const gate = new Promise<void>((r) => (release = r))
  const s = await server(async (r) => {
    if (new URL(r.url).pathname === '/silent') {
      await gate
      return Response.json({})
    }
    // Headers at once, then a body that never ends.
    return new Response(
      new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(new TextEncoder().encode('{"keys":'))
          await gate
          controller.close()
        },
      }),
      { headers: { 'content-type': 'application/json' } },
    )
  })
  try {
    let started = Date.now()
    assert.equal(await failure(get(`${s.url}/silent`, 200)), 'no response within 200 ms')
    assert.ok(Date.now() - started < 1500, `gave up after ${Date.now() - started} ms`)
    started = Date.now()
    assert.equal(
      await failure(get(`${s.url}/stalled`, 200)),
      'the response body could not be read in time',
    )
    assert.ok(Date.now() - started < 1500, `gave up after ${Date.now() - started} ms`)
  } finally {
    release()
    await s.close()
  }
})

test('fetchJson() reports a refused connection without details', async () => {
  const s = await serve(() => new Response('{}'))
  await s.close()
  assert.equal(await failure(get(`${s.url}/jwks`)), 'connection failed')
})
