/**
 * jwtgate end to end, as a user runs it: the same HS256 configuration under the compiled binary
 * and under `deno run`, in front of a real upstream, over real sockets.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import { gunzipSync } from 'node:zlib'
import { b64url, secret, sign } from '../helpers/keys.ts'
import { freePort, type Gateway, sleep, startGateway, TARGETS } from '../helpers/process.ts'
import { recordingUpstream, serve, type TestServer } from '../helpers/serve.ts'
import { expectInvalidToken, expectProblem, TokenLedger } from '../helpers/assertions.ts'
import { rawGet } from '../helpers/raw-http.ts'

const UPLOAD_MB = 50
const GZIPPED_TEXT = 'jwtgate passes compressed bodies through intact. '.repeat(200)

/** The protected API: one route per behaviour under test. */
async function api(request: Request): Promise<Response> {
  const { pathname } = new URL(request.url)
  switch (pathname) {
    case '/hello':
      return new Response('hello from upstream', { headers: { 'content-type': 'text/plain' } })
    case '/created':
      return new Response('{"id":42}', {
        status: 201,
        headers: { location: '/things/42', 'content-type': 'application/json' },
      })
    case '/empty':
      return new Response(null, { status: 204, headers: { etag: '"v1"' } })
    case '/missing':
      return new Response('no such thing', { status: 404 })
    case '/broken':
      return new Response('upstream failure', { status: 500 })
    case '/cookies': {
      const headers = new Headers()
      headers.append('set-cookie', 'a=1; Path=/; HttpOnly')
      headers.append('set-cookie', 'b=2; Path=/; Secure')
      return new Response('two cookies', { headers })
    }
    case '/redirect':
      return new Response(null, { status: 302, headers: { location: '/redirected' } })
    case '/gzip':
      return new Response(Bun.gzipSync(new TextEncoder().encode(GZIPPED_TEXT)), {
        headers: { 'content-type': 'text/plain', 'content-encoding': 'gzip' },
      })
    case '/sse': {
      const encoder = new TextEncoder()
      const body = new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(encoder.encode('data: first\n\n'))
          await sleep(1500)
          controller.enqueue(encoder.encode('data: second\n\n'))
          controller.close()
        },
      })
      return new Response(body, {
        headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' },
      })
    }
    case '/upload': {
      const hasher = new Bun.CryptoHasher('sha256')
      let bytes = 0
      for await (const chunk of request.body ?? []) {
        hasher.update(chunk)
        bytes += chunk.byteLength
      }
      return Response.json({ bytes, sha256: hasher.digest('hex') })
    }
    default:
      return Response.json({ path: pathname })
  }
}

/** `count` distinct 1 MB random chunks, streamed; `sha256` resolves once all were read. */
function randomUpload(
  count: number,
): { body: ReadableStream<Uint8Array>; sha256: Promise<string> } {
  const hasher = new Bun.CryptoHasher('sha256')
  let sent = 0
  let done: (hex: string) => void
  const sha256 = new Promise<string>((resolve) => (done = resolve))
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent === count) {
        controller.close()
        done(hasher.digest('hex'))
        return
      }
      const chunk = new Uint8Array(1024 * 1024)
      for (let at = 0; at < chunk.length; at += 65536) {
        crypto.getRandomValues(chunk.subarray(at, at + 65536))
      }
      hasher.update(chunk)
      sent++
      controller.enqueue(chunk)
    },
  })
  return { body, sha256 }
}

for (const target of TARGETS) {
  describe(`${target.name}: HS256 gateway`, () => {
    const key = secret(32)
    const tokens = new TokenLedger()
    const gateways: Gateway[] = []
    const servers: TestServer[] = []
    let upstream: Awaited<ReturnType<typeof recordingUpstream>>
    let gateway: Gateway
    let token: string

    const bearer = (t: string) => ({ authorization: `Bearer ${tokens.add(t)}` })
    const get = (path: string, headers: Record<string, string> = {}, init: RequestInit = {}) =>
      fetch(`${gateway.url}${path}`, { ...init, headers })

    beforeAll(async () => {
      upstream = await recordingUpstream(api)
      servers.push(upstream)
      gateway = await startGateway(target, {
        JWTGATE_UPSTREAM: upstream.url,
        JWTGATE_SECRET: key.config,
        JWTGATE_FORWARD_CLAIMS: 'sub=X-User-Id',
        JWTGATE_PUBLIC_PATHS: '/health,/docs/*',
      })
      gateways.push(gateway)
      token = await sign({ sub: 'alice' }, { alg: 'HS256', key: key.raw })
    })

    afterAll(async () => {
      await Promise.all(gateways.map((g) => g.kill()))
      await Promise.all(servers.map((s) => s.close()))
    })

    beforeEach(() => {
      upstream.seen.length = 0
    })

    test('a valid HS256 token is proxied with identity headers set by the gateway only', async () => {
      const response = await get('/hello?x=1', {
        ...bearer(token),
        'x-user-id': 'spoofed-admin',
        'x_user_id': 'spoofed-admin',
        'x-forwarded-for': '203.0.113.9',
        'x-request-id': 'e2e-request-1',
      })
      expect(response.status).toBe(200)
      expect(await response.text()).toBe('hello from upstream')
      expect(response.headers.get('content-type')).toBe('text/plain')
      expect(response.headers.get('x-request-id')).toBe('e2e-request-1')
      expect(upstream.seen).toHaveLength(1)
      const seen = upstream.seen[0]!
      expect(seen.path).toBe('/hello')
      expect(seen.search).toBe('?x=1')
      expect(seen.headers.get('x-user-id')).toBe('alice')
      expect(seen.headers.get('x_user_id')).toBeNull()
      expect(seen.headers.get('authorization')).toBeNull()
      expect(seen.headers.get('x-request-id')).toBe('e2e-request-1')
      expect(seen.headers.get('x-forwarded-for')).toBe('127.0.0.1')
      expect(seen.headers.get('x-forwarded-proto')).toBe('http')
      expect(seen.headers.get('x-forwarded-host')).toBe(`127.0.0.1:${gateway.port}`)
    })

    test('a request without a token is 401 with a bare Bearer challenge and never reaches the upstream', async () => {
      const response = await get('/hello')
      await expectProblem(response, 401, 'token_missing')
      expect(response.headers.get('www-authenticate')).toBe('Bearer realm="jwtgate"')
      expect(upstream.seen).toEqual([])
    })

    test('a token with a tampered payload is 401 bad_signature', async () => {
      const [header, , signature] = token.split('.')
      const forged = `${header}.${
        b64url({ sub: 'admin', exp: Math.floor(Date.now() / 1000) + 3600 })
      }.${signature}`
      await expectInvalidToken(await get('/hello', bearer(forged)), 'bad_signature')
      expect(upstream.seen).toEqual([])
    })

    test('an expired token is 401 token_expired', async () => {
      const expired = await sign({ sub: 'alice' }, { alg: 'HS256', key: key.raw, expiresIn: -3600 })
      await expectInvalidToken(await get('/hello', bearer(expired)), 'token_expired')
      expect(upstream.seen).toEqual([])
    })

    test('a garbage bearer credential is 401 token_malformed', async () => {
      await expectInvalidToken(
        await get('/hello', bearer(`garbage-${crypto.randomUUID()}`)),
        'token_malformed',
      )
      expect(upstream.seen).toEqual([])
    })

    test('an alg "none" token is 401 alg_not_allowed', async () => {
      const [, payload, signature] = token.split('.')
      const none = `${b64url({ alg: 'none', typ: 'JWT' })}.${payload}.${signature}`
      await expectInvalidToken(await get('/hello', bearer(none)), 'alg_not_allowed')
      expect(upstream.seen).toEqual([])
    })

    test('an unsecured alg "none" token with its signature stripped is 401 token_malformed', async () => {
      // RFC 7519 §6.1 form: the empty third segment fails the compact-JWS shape check (token.ts)
      // before the algorithm is read.
      const none = `${b64url({ alg: 'none', typ: 'JWT' })}.${
        b64url({ sub: 'admin', exp: Math.floor(Date.now() / 1000) + 3600 })
      }.`
      await expectInvalidToken(await get('/hello', bearer(none)), 'token_malformed')
      expect(upstream.seen).toEqual([])
    })

    test('a token signed with another secret is 401 bad_signature', async () => {
      const other = await sign({ sub: 'alice' }, { alg: 'HS256', key: secret(32).raw })
      await expectInvalidToken(await get('/hello', bearer(other)), 'bad_signature')
      expect(upstream.seen).toEqual([])
    })

    test('public paths are reachable without a token, exactly and below /docs/', async () => {
      for (const path of ['/health', '/docs/a/b']) {
        const response = await get(path)
        expect(response.status).toBe(200)
        expect(await response.json()).toEqual({ path })
      }
      expect(upstream.seen.map((s) => s.path)).toEqual(['/health', '/docs/a/b'])
    })

    test('near-miss public paths (/docsx, /health/x) still require a token', async () => {
      for (const path of ['/docsx', '/health/x']) {
        const response = await get(path)
        await expectProblem(response, 401, 'token_missing')
        expect(response.headers.get('www-authenticate')).toBe('Bearer realm="jwtgate"')
      }
      expect(upstream.seen).toEqual([])
    })

    test('upstream 201 with Location, 204, 404 and 500 pass through unchanged', async () => {
      const created = await get('/created', bearer(token))
      expect(created.status).toBe(201)
      expect(created.headers.get('location')).toBe('/things/42')
      expect(await created.json()).toEqual({ id: 42 })
      const empty = await get('/empty', bearer(token))
      expect(empty.status).toBe(204)
      expect(empty.headers.get('etag')).toBe('"v1"')
      expect(await empty.text()).toBe('')
      const missing = await get('/missing', bearer(token))
      expect(missing.status).toBe(404)
      expect(await missing.text()).toBe('no such thing')
      const broken = await get('/broken', bearer(token))
      expect(broken.status).toBe(500)
      expect(await broken.text()).toBe('upstream failure')
    })

    test('several Set-Cookie headers from the upstream all reach the client', async () => {
      const response = await get('/cookies', bearer(token))
      expect(response.status).toBe(200)
      expect(response.headers.getSetCookie()).toEqual([
        'a=1; Path=/; HttpOnly',
        'b=2; Path=/; Secure',
      ])
    })

    test('an upstream 302 is passed back to the client, not followed', async () => {
      const response = await get('/redirect', bearer(token), { redirect: 'manual' })
      expect(response.status).toBe(302)
      expect(response.headers.get('location')).toBe('/redirected')
      expect(upstream.seen.map((s) => s.path)).toEqual(['/redirect'])
    })

    test('server-sent events stream through: the first event arrives before the upstream finishes', async () => {
      const started = performance.now()
      const response = await get('/sse', { ...bearer(token), accept: 'text/event-stream' })
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toBe('text/event-stream')
      const reader = response.body!.getReader()
      const decoder = new TextDecoder()
      let text = ''
      let firstAt: number | undefined
      for (let i = 0; i < 100; i++) {
        const { done, value } = await reader.read()
        if (done) break
        text += decoder.decode(value, { stream: true })
        if (firstAt === undefined && text.includes('data: first\n\n')) {
          firstAt = performance.now() - started
        }
      }
      const total = performance.now() - started
      expect(text).toBe('data: first\n\ndata: second\n\n')
      expect(firstAt).toBeLessThan(1000)
      expect(total).toBeGreaterThan(1400)
    })

    test(`a ${UPLOAD_MB} MB upload streams through byte for byte`, async () => {
      const upload = randomUpload(UPLOAD_MB)
      const response = await fetch(`${gateway.url}/upload`, {
        method: 'POST',
        headers: { ...bearer(token), 'content-type': 'application/octet-stream' },
        body: upload.body,
        duplex: 'half',
      } as RequestInit)
      expect(response.status).toBe(200)
      const received = (await response.json()) as { bytes: number; sha256: string }
      expect(received.bytes).toBe(UPLOAD_MB * 1024 * 1024)
      expect(received.sha256).toBe(await upload.sha256)
    }, 30_000)

    test('a gzip-encoded upstream body reaches the client with headers that fit its bytes', async () => {
      const response = await rawGet(`${gateway.url}/gzip`, {
        ...bearer(token),
        'accept-encoding': 'gzip',
      })
      expect(response.status).toBe(200)
      const length = response.headers['content-length']
      if (length !== undefined) expect(Number(length)).toBe(response.body.byteLength)
      const encoding = response.headers['content-encoding']
      expect([undefined, 'gzip']).toContain(encoding)
      const decoded = encoding === 'gzip' ? gunzipSync(response.body) : response.body
      expect(new TextDecoder().decode(decoded)).toBe(GZIPPED_TEXT)
    })

    test('an upstream that is down is 502 upstream_unreachable', async () => {
      const down = await startGateway(target, {
        JWTGATE_UPSTREAM: `http://127.0.0.1:${freePort()}`,
        JWTGATE_SECRET: key.config,
      })
      gateways.push(down)
      await expectProblem(
        await fetch(`${down.url}/hello`, { headers: bearer(token) }),
        502,
        'upstream_unreachable',
      )
    })

    test('an upstream slower than JWTGATE_UPSTREAM_TIMEOUT is 504 upstream_timeout', async () => {
      const slow = await serve(async () => {
        await sleep(2000)
        return new Response('too late')
      })
      servers.push(slow)
      const timed = await startGateway(target, {
        JWTGATE_UPSTREAM: slow.url,
        JWTGATE_SECRET: key.config,
        JWTGATE_UPSTREAM_TIMEOUT: '300ms',
      })
      gateways.push(timed)
      const started = performance.now()
      await expectProblem(
        await fetch(`${timed.url}/hello`, { headers: bearer(token) }),
        504,
        'upstream_timeout',
      )
      expect(performance.now() - started).toBeLessThan(1500)
    })

    test('a client that goes away before the upstream answers cancels the upstream request', async () => {
      let upstreamAborted: (() => void) | undefined
      const cancelled = new Promise<void>((resolve) => (upstreamAborted = resolve))
      const slow = await serve(async (request) => {
        request.signal.addEventListener('abort', () => upstreamAborted!())
        await sleep(5000)
        return new Response('too late')
      })
      servers.push(slow)
      const viaSlow = await startGateway(target, {
        JWTGATE_UPSTREAM: slow.url,
        JWTGATE_SECRET: key.config,
      })
      gateways.push(viaSlow)
      const leaving = new AbortController()
      const request = fetch(`${viaSlow.url}/hello`, {
        headers: bearer(token),
        signal: leaving.signal,
      }).catch(() => 'client aborted')
      await sleep(300)
      leaving.abort()
      expect(await request).toBe('client aborted')
      const outcome = await Promise.race([
        cancelled.then(() => 'upstream cancelled'),
        sleep(2000).then(() => 'upstream still waiting'),
      ])
      expect(outcome).toBe('upstream cancelled')
      // Logged as nginx logs it: 499, nobody received an answer; not as an upstream failure.
      for (let i = 0; i < 50 && !viaSlow.stdout().includes('"status":499'); i++) await sleep(20)
      expect(viaSlow.stdout()).toContain('"status":499,"decision":"client_closed"')
    })

    test('SIGTERM stops the gateway promptly with exit code 0 and a shutdown line', async () => {
      // The runner's fetch keeps idle keep-alive connections to the gateway open: they must not hold it.
      const started = performance.now()
      expect(await gateway.kill(2000)).toBe(0)
      expect(performance.now() - started).toBeLessThan(2000)
      expect(gateway.stdout()).toContain('"event":"shutdown","signal":"SIGTERM"')
    })

    test('no log line contains a token', () => {
      const output = gateways.map((g) => g.output()).join('\n')
      expect(output).toContain('"event":"request"')
      tokens.expectAbsentFrom(output)
    })
  })
}
