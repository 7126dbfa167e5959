/**
 * jwtgate in production, end to end (issue 5): the access log field by field and the no-secrets
 * grep, /metrics on the admin listener, graceful shutdown, a JWK Set that goes down after start,
 * TLS, CORS, limits, the rate limit, and no Server header. The binary and `deno run` alike.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { keyPair, secret, sign } from '../helpers/keys.ts'
import {
  BINARY,
  freePort,
  type Gateway,
  listenAddress,
  type LogEvent,
  runTarget,
  sleep,
  startGateway,
  TARGETS,
} from '../helpers/process.ts'
import { recordingUpstream } from '../helpers/serve.ts'
import { jwksServer, otherKey, selfSigned, TempDir } from '../helpers/files.ts'
import { expectInvalidToken, expectProblem, TokenLedger } from '../helpers/assertions.ts'
import { keepAlive, probeConnect } from '../helpers/raw-http.ts'
import { parsePrometheus, sampleValue } from '../helpers/prometheus.ts'
import { pollUntil, within } from '../helpers/wait.ts'

const ISSUER = 'https://issuer.test'
const SLOW_MS = 1500
const HANG_MS = 5000
const SSE_SILENCE_MS = 3000

/** The upstream: /slow* answers after 1.5 s, /hang* after 5 s, /sse sends one event then is silent 3 s, /server sends a Server header; a body is read and counted. */
async function api(request: Request): Promise<Response> {
  const { pathname } = new URL(request.url)
  if (pathname.startsWith('/slow')) await sleep(SLOW_MS)
  if (pathname.startsWith('/hang')) await sleep(HANG_MS)
  if (pathname === '/sse') {
    const encoder = new TextEncoder()
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(encoder.encode('data: first\n\n'))
        await sleep(SSE_SILENCE_MS)
        try {
          controller.enqueue(encoder.encode('data: late\n\n'))
          controller.close()
        } catch {
          // the gateway already gave up on this stream
        }
      },
    })
    return new Response(body, {
      headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' },
    })
  }
  if (pathname === '/server') {
    return new Response('from upstream', {
      headers: { server: 'upstream-httpd/1.0', 'content-type': 'text/plain' },
    })
  }
  if (request.body !== null) {
    let bytes = 0
    try {
      for await (const chunk of request.body) bytes += chunk.byteLength
    } catch {
      return new Response('body aborted', { status: 400 })
    }
    return Response.json({ path: pathname, bytes })
  }
  return Response.json({ path: pathname })
}

/** Waits (bounded) for the access-log line of `requestId`: it is written when the body has been sent. */
async function requestLine(gateway: Gateway, requestId: string): Promise<LogEvent> {
  let found: LogEvent | undefined
  await pollUntil(
    () => {
      found = gateway.events('request').find((e) => e.request_id === requestId)
      return found !== undefined
    },
    3000,
    20,
  )
  return found!
}

/** Fields an access-log line may carry (anything else could be a leak). */
const ACCESS_FIELDS = new Set([
  'time',
  'level',
  'event',
  // With more than one worker (JWTGATE_WORKERS, `auto` on a machine of several cores).
  'worker',
  'request_id',
  'client',
  'method',
  'path',
  'route',
  'status',
  'decision',
  'requirement',
  'sub',
  'iss',
  'upstream',
  'upstream_status',
  'upstream_ms',
  'duration_ms',
  'bytes_in',
  'bytes_out',
  'end',
])

function expectCommonFields(
  line: LogEvent,
  requestId: string,
  method: string,
  path: string,
  status: number,
  decision: string,
): void {
  for (const key of Object.keys(line)) {
    expect(ACCESS_FIELDS.has(key) ? key : `unexpected field ${key}`).toBe(key)
  }
  expect(line.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
  expect(Math.abs(Date.parse(line.time as string) - Date.now())).toBeLessThan(60_000)
  expect(line.level).toBe('info')
  expect(line.event).toBe('request')
  expect(line.request_id).toBe(requestId)
  expect(line.client).toBe('127.0.0.1')
  expect(line.method).toBe(method)
  expect(line.path).toBe(path)
  expect(line.route).toBe('default')
  expect(line.status).toBe(status)
  expect(line.decision).toBe(decision)
  expect(Number.isInteger(line.duration_ms)).toBe(true)
  expect(line.duration_ms as number).toBeGreaterThanOrEqual(0)
  expect(line.duration_ms as number).toBeLessThan(5000)
}

async function metricsOf(gateway: Gateway) {
  const response = await fetch(`${gateway.adminUrl}/metrics`, { signal: AbortSignal.timeout(3000) })
  expect(response.status).toBe(200)
  expect(response.headers.get('content-type')).toStartWith('text/plain; version=0.0.4')
  return parsePrometheus(await response.text())
}

for (const target of TARGETS) {
  describe(`${target.name}: operations`, () => {
    const key = secret(32)
    const tokens = new TokenLedger()
    const gateways: Gateway[] = []
    const cleanups: (() => unknown)[] = []
    const files = new TempDir()
    let upstream: Awaited<ReturnType<typeof recordingUpstream>>

    const token = (sub: string, extra: Record<string, unknown> = {}) =>
      sign({ sub, iss: ISSUER, scope: 'orders:read', ...extra }, { alg: 'HS256', key: key.raw })
        .then((t) => tokens.add(t))
    const bearer = async (sub: string, extra: Record<string, unknown> = {}) => ({
      authorization: `Bearer ${await token(sub, extra)}`,
    })
    const seenAt = (path: string) => upstream.seen.filter((s) => s.path === path)

    async function gatewayWith(
      env: Record<string, string>,
      options: { admin?: boolean } = {},
    ): Promise<Gateway> {
      const gateway = await startGateway(target, {
        JWTGATE_UPSTREAM: upstream.url,
        JWTGATE_SECRET: key.config,
        JWTGATE_ISSUER: ISSUER,
        ...env,
      }, options)
      gateways.push(gateway)
      return gateway
    }

    beforeAll(async () => {
      upstream = await recordingUpstream(api)
      cleanups.push(() => upstream.close())
    })

    afterAll(async () => {
      await Promise.all(gateways.map((g) => g.kill(1000)))
      await Promise.all(cleanups.map((c) => c()))
      files.remove()
    })

    describe('access log', () => {
      let gateway: Gateway
      const cookieSecret = `theme-${crypto.randomUUID()}`
      const lines: Record<string, { response: Response; body: string; line: LogEvent }> = {}

      async function logged(name: string, path: string, init: RequestInit = {}): Promise<void> {
        const response = await fetch(`${gateway.url}${path}`, {
          ...init,
          signal: AbortSignal.timeout(5000),
        })
        const body = await response.text()
        const requestId = response.headers.get('x-request-id')
        expect(requestId).toBeTruthy()
        lines[name] = { response, body, line: await requestLine(gateway, requestId!) }
      }

      beforeAll(async () => {
        gateway = await gatewayWith({
          JWTGATE_LOG_LEVEL: 'info',
          JWTGATE_TOKEN_SOURCES: 'header:Authorization,query:access_token,cookie:session',
          JWTGATE_REQUIRED_SCOPES: 'orders:read',
        })
        await logged('allowed', '/orders/7?page=2', { headers: await bearer('alice') })
        await logged('missing', '/orders/7?page=2')
        await logged('forbidden', '/orders/7', {
          headers: await bearer('bob', { scope: 'orders:list' }),
        })
        await logged('post', '/orders?dry=1', {
          method: 'POST',
          headers: {
            cookie: `session=${await token('carol')}; theme=${cookieSecret}`,
            'content-type': 'application/octet-stream',
          },
          body: new Uint8Array(1234).fill(7),
        })
        await logged('query', `/orders/9?access_token=${await token('dave')}&page=3`)
      })

      test('an allowed GET: every field, bytes_out equal to the body length, no query string in the path', () => {
        const { response, body, line } = lines.allowed!
        expect(response.status).toBe(200)
        expectCommonFields(
          line,
          response.headers.get('x-request-id')!,
          'GET',
          '/orders/7',
          200,
          'allowed',
        )
        expect(line.sub).toBe('alice')
        expect(line.iss).toBe(ISSUER)
        expect(line.upstream).toBe('default')
        expect(line.upstream_status).toBe(200)
        expect(Number.isInteger(line.upstream_ms)).toBe(true)
        expect(line.upstream_ms as number).toBeGreaterThanOrEqual(0)
        expect(line.upstream_ms as number).toBeLessThanOrEqual(line.duration_ms as number)
        expect(line.bytes_out).toBe(new TextEncoder().encode(body).byteLength)
        expect(line.requirement).toBeUndefined()
        expect(line.end).toBeUndefined()
      })

      test('a 401: decision token_missing, no subject and no upstream fields', () => {
        const { response, line } = lines.missing!
        expect(response.status).toBe(401)
        expectCommonFields(
          line,
          response.headers.get('x-request-id')!,
          'GET',
          '/orders/7',
          401,
          'token_missing',
        )
        for (
          const field of ['sub', 'iss', 'upstream', 'upstream_status', 'upstream_ms', 'requirement']
        ) expect(`${field}=${line[field]}`).toBe(`${field}=undefined`)
      })

      test('a 403: decision insufficient_scope with the subject and issuer of the (valid) token; no upstream fields', () => {
        const { response, line } = lines.forbidden!
        expect(response.status).toBe(403)
        expectCommonFields(
          line,
          response.headers.get('x-request-id')!,
          'GET',
          '/orders/7',
          403,
          'insufficient_scope',
        )
        for (const field of ['upstream', 'upstream_status', 'upstream_ms']) {
          expect(`${field}=${line[field]}`).toBe(`${field}=undefined`)
        }
        expect({ sub: line.sub, iss: line.iss }).toEqual({ sub: 'bob', iss: ISSUER })
      })

      test('rejections report bytes_out too: the 401 and 403 lines carry the problem body length', () => {
        const sizes = (['missing', 'forbidden'] as const).map((name) => ({
          name,
          bytes_out: lines[name]!.line.bytes_out,
        }))
        expect(sizes).toEqual(
          (['missing', 'forbidden'] as const).map((name) => ({
            name,
            bytes_out: new TextEncoder().encode(lines[name]!.body).byteLength,
          })),
        )
      })

      test('a POST with a 1234-byte body through a cookie token: bytes_in 1234, the cookie removed upstream', () => {
        const { response, body, line } = lines.post!
        expect(response.status).toBe(200)
        expect(JSON.parse(body)).toEqual({ path: '/orders', bytes: 1234 })
        expectCommonFields(
          line,
          response.headers.get('x-request-id')!,
          'POST',
          '/orders',
          200,
          'allowed',
        )
        expect(line.sub).toBe('carol')
        expect(line.bytes_in).toBe(1234)
        expect(line.bytes_out).toBe(new TextEncoder().encode(body).byteLength)
        const seen = upstream.seen.find((s) =>
          s.headers.get('x-request-id') === response.headers.get('x-request-id')
        )
        expect(seen?.headers.get('cookie')).toBe(`theme=${cookieSecret}`)
      })

      test('a token in the query string: the logged path has no query, the upstream query has no token', () => {
        const { response, line } = lines.query!
        expect(response.status).toBe(200)
        expectCommonFields(
          line,
          response.headers.get('x-request-id')!,
          'GET',
          '/orders/9',
          200,
          'allowed',
        )
        expect(line.sub).toBe('dave')
        const seen = upstream.seen.find((s) =>
          s.headers.get('x-request-id') === response.headers.get('x-request-id')
        )
        expect(seen?.search).toBe('?page=3')
      })

      test('the whole output of the run holds no token, no secret, no cookie value and no "Bearer "', async () => {
        expect(await gateway.kill(3000)).toBe(0)
        const output = gateway.output()
        expect(output).toContain('"event":"stopped"')
        tokens.expectAbsentFrom(output)
        expect(output.includes(key.config)).toBe(false)
        expect(output.includes(key.config.slice('base64:'.length))).toBe(false)
        expect(output.includes(cookieSecret)).toBe(false)
        expect(output.includes('Bearer ')).toBe(false)
        expect(output.toLowerCase().includes('authorization":')).toBe(false)
      })
    })

    describe('metrics', () => {
      test('/metrics on the admin port after a known sequence: counters, histograms, in-flight 0, start time', async () => {
        const started = Date.now() / 1000
        const gateway = await gatewayWith({}, { admin: true })
        // Distinct tokens: each is a verified-token cache miss, so each is verified and timed.
        const goods = [
          await bearer('metrics-1'),
          await bearer('metrics-2'),
          await bearer('metrics-3'),
        ]
        const forged = tokens.add(
          await sign({ sub: 'mallory', iss: ISSUER }, { alg: 'HS256', key: secret(32).raw }),
        )
        const statuses: number[] = []
        const hit = async (path: string, headers: Record<string, string>) => {
          const response = await fetch(`${gateway.url}${path}`, {
            headers,
            signal: AbortSignal.timeout(5000),
          })
          await response.text()
          statuses.push(response.status)
        }
        for (const n of [1, 2, 3]) await hit(`/m/${n}`, goods[n - 1]!)
        await hit('/m/4', {})
        await hit('/m/5', {})
        await hit('/m/6', { authorization: `Bearer ${forged}` })
        expect(statuses).toEqual([200, 200, 200, 401, 401, 401])

        // The log line, and the counters with it, are written once the body is sent.
        let metrics = await metricsOf(gateway)
        await pollUntil(
          async () => {
            metrics = await metricsOf(gateway)
            return sampleValue(metrics.samples, 'jwtgate_requests_total', {
              route: 'default',
              method_class: 'read',
              status: '200',
            }) === 3
          },
          3000,
          50,
        )
        const { samples, types } = metrics
        const value = (name: string, labels: Record<string, string> = {}) =>
          sampleValue(samples, name, labels)
        expect(
          value('jwtgate_requests_total', {
            route: 'default',
            method_class: 'read',
            status: '200',
          }),
        ).toBe(3)
        expect(
          value('jwtgate_requests_total', {
            route: 'default',
            method_class: 'read',
            status: '401',
          }),
        ).toBe(3)
        expect(value('jwtgate_rejections_total', { reason: 'token_missing' })).toBe(2)
        expect(value('jwtgate_rejections_total', { reason: 'bad_signature' })).toBe(1)
        expect(value('jwtgate_request_duration_seconds_count', { route: 'default' })).toBe(6)
        expect(value('jwtgate_request_duration_seconds_bucket', { route: 'default', le: '+Inf' }))
          .toBe(6)
        expect(value('jwtgate_upstream_duration_seconds_count', { upstream: 'default' })).toBe(3)
        // Three tokens verified and one that failed: failures are timed too.
        expect(value('jwtgate_token_verification_seconds_count', { provider: 'default' })).toBe(4)
        expect(value('jwtgate_token_cache_total', { result: 'miss' })).toBe(4)
        expect(value('jwtgate_token_cache_total', { result: 'hit' })).toBe(0)
        expect(value('jwtgate_requests_in_flight')).toBe(0)
        const startTime = value('jwtgate_process_start_time_seconds')!
        expect(startTime).toBeGreaterThan(started - 5)
        expect(startTime).toBeLessThanOrEqual(Date.now() / 1000)
        expect(types.get('jwtgate_requests_total')).toBe('counter')
        expect(types.get('jwtgate_rejections_total')).toBe('counter')
        expect(types.get('jwtgate_request_duration_seconds')).toBe('histogram')
        expect(types.get('jwtgate_upstream_duration_seconds')).toBe('histogram')
        expect(types.get('jwtgate_token_verification_seconds')).toBe('histogram')
        expect(types.get('jwtgate_requests_in_flight')).toBe('gauge')
        expect(types.get('jwtgate_process_start_time_seconds')).toBe('gauge')
        // Bounded labels: route names, never raw paths.
        expect(samples.filter((s) => Object.values(s.labels).some((v) => v.startsWith('/'))))
          .toEqual([])

        // A token seen before is a cache hit: counted, not verified again.
        await hit('/m/7', goods[0]!)
        expect(statuses.at(-1)).toBe(200)
        await pollUntil(
          async () => {
            const again = (await metricsOf(gateway)).samples
            return sampleValue(again, 'jwtgate_requests_total', {
              route: 'default',
              method_class: 'read',
              status: '200',
            }) === 4
          },
          3000,
          50,
        )
        const after = (await metricsOf(gateway)).samples
        expect(sampleValue(after, 'jwtgate_token_cache_total', { result: 'hit' })).toBe(1)
        expect(
          sampleValue(after, 'jwtgate_token_verification_seconds_count', { provider: 'default' }),
        ).toBe(4)
      })

      test('/metrics on the main listener is not the metrics: 401 without a token, proxied with one', async () => {
        const gateway = await gatewayWith({}, { admin: true })
        const before = seenAt('/metrics').length
        await expectProblem(await fetch(`${gateway.url}/metrics`), 401, 'token_missing')
        expect(seenAt('/metrics').length).toBe(before)
        const response = await fetch(`${gateway.url}/metrics`, { headers: await bearer('scraper') })
        expect(response.status).toBe(200)
        const text = await response.text()
        expect(JSON.parse(text)).toEqual({ path: '/metrics' })
        expect(text).not.toContain('jwtgate_requests_total')
        expect(seenAt('/metrics').length).toBe(before + 1)
        // The admin port serves only its own paths.
        const other = await fetch(`${gateway.adminUrl}/orders`)
        expect(other.status).toBe(404)
        await other.body?.cancel()
      })
    })

    describe('graceful shutdown', () => {
      /** Starts GET `path` with a valid token; resolves once the upstream holds it. */
      async function inFlight(gateway: Gateway, path: string) {
        const before = seenAt(path).length
        const headers = await bearer('slow-user')
        let settledAt: number | undefined
        const result = fetch(`${gateway.url}${path}`, {
          headers,
          signal: AbortSignal.timeout(8000),
        }).then(
          async (r) => {
            const body = await r.text()
            settledAt = performance.now()
            return { status: r.status, body }
          },
          (e: unknown) => {
            settledAt = performance.now()
            return { status: 0, body: String(e) }
          },
        )
        await pollUntil(() => seenAt(path).length > before, 3000, 10)
        return { result, settledAt: () => settledAt }
      }

      test('SIGHUP and SIGTERM sent as soon as the start line is out are handled (one process and workers): reload, then exit 0', async () => {
        for (const workers of ['1', '2']) {
          const gateway = await gatewayWith({ JWTGATE_WORKERS: workers })
          // startGateway returns on the start line: the signals go at once.
          gateway.signal('SIGHUP')
          await pollUntil(() => gateway.events('reload').length === 1, 5000, 5)
          gateway.signal('SIGTERM')
          expect([workers, await within(gateway.exited, 5000, 'still running')]).toEqual([
            workers,
            0,
          ])
          expect(gateway.events('stopped')).toHaveLength(1)
        }
      })

      test('SIGTERM with a slow request in flight: /readyz 503, new connections refused, the request completes, exit 0', async () => {
        const gateway = await gatewayWith({ JWTGATE_SHUTDOWN_TIMEOUT: '10s' }, { admin: true })
        const ready = await fetch(`${gateway.adminUrl}/readyz`)
        expect(ready.status).toBe(200)
        await ready.body?.cancel()
        const probe = await keepAlive(gateway.port)
        cleanups.push(probe.close)
        expect(await probe.get('/readyz')).toBe(200)
        const slow = await inFlight(gateway, '/slow/drain')
        const signalled = performance.now()
        gateway.signal('SIGTERM')

        await pollUntil(
          async () => {
            const readyz = await fetch(`${gateway.adminUrl}/readyz`, {
              signal: AbortSignal.timeout(1000),
            })
            const body = await readyz.text()
            return readyz.status === 503 && JSON.parse(body).status === 'draining'
          },
          1000,
          25,
        )
        await pollUntil(async () => (await probeConnect(gateway.port, 500)) === 'refused', 1000, 25)
        // A probe on a connection opened before the signal never sees "ready" again (503, or the idle connection is closed).
        expect([503, 'closed']).toContain(await probe.get('/readyz', 1000))
        expect(slow.settledAt()).toBeUndefined() // both observed while the request was still in flight

        expect(await slow.result).toEqual({
          status: 200,
          body: JSON.stringify({ path: '/slow/drain' }),
        })
        expect(await within(gateway.exited, 3000, 'still running')).toBe(0)
        expect(gateway.exitedAt()!).toBeGreaterThanOrEqual(slow.settledAt()! - 50)
        expect(gateway.exitedAt()! - signalled).toBeLessThan(SLOW_MS + 1500)
        const shutdown = gateway.events('shutdown')
        expect(shutdown).toHaveLength(1)
        expect(shutdown[0]).toMatchObject({ signal: 'SIGTERM', in_flight: 1, timeout_ms: 10_000 })
        expect(gateway.events('request').find((e) => e.path === '/slow/drain')).toMatchObject({
          status: 200,
          decision: 'allowed',
        })
        expect(gateway.events('stopped')).toHaveLength(1)
        expect(gateway.events('shutdown_timeout')).toEqual([])
      })

      test('JWTGATE_SHUTDOWN_TIMEOUT=500ms with an upstream that never answers: exit 0 within ~2 s, shutdown_timeout logged', async () => {
        const gateway = await gatewayWith({ JWTGATE_SHUTDOWN_TIMEOUT: '500ms' })
        const hung = await inFlight(gateway, '/hang/timeout')
        const signalled = performance.now()
        gateway.signal('SIGTERM')
        const code = await within(gateway.exited, 4000, 'still running')
        const elapsed = (gateway.exitedAt() ?? performance.now()) - signalled
        expect({
          code,
          stderr: gateway.output().split('\n').filter((l) => !l.startsWith('{')).join('\n'),
        }).toEqual({ code: 0, stderr: '' })
        expect(elapsed).toBeGreaterThanOrEqual(450)
        expect(elapsed).toBeLessThan(2000)
        expect(gateway.events('shutdown_timeout')).toMatchObject([{
          level: 'warn',
          timeout_ms: 500,
        }])
        expect(gateway.events('stopped')).toHaveLength(1)
        const cut = await hung.result
        expect(cut.status).not.toBe(200)
      })

      test('a second signal exits at once, with the request still in flight', async () => {
        const gateway = await gatewayWith({ JWTGATE_SHUTDOWN_TIMEOUT: '10s' })
        const hung = await inFlight(gateway, '/hang/forced')
        gateway.signal('SIGTERM')
        await pollUntil(() => gateway.events('shutdown').length === 1, 2000, 10)
        expect(await within(gateway.exited, 200, 'still running')).toBe('still running')
        const second = performance.now()
        gateway.signal('SIGINT')
        const code = await within(gateway.exited, 2000, 'still running')
        expect(typeof code).toBe('number')
        expect(gateway.exitedAt()! - second).toBeLessThan(1000)
        expect(gateway.events('shutdown_forced')).toMatchObject([{ signal: 'SIGINT' }])
        expect(gateway.events('request').find((e) => e.path === '/hang/forced')).toBeUndefined()
        const cut = await hung.result
        expect(cut.status).not.toBe(200)
      })
    })

    test('a JWK Set that goes down after start: known kids still verify, /readyz stays 200, an unknown kid is 401 unknown_key', async () => {
      const k1 = await keyPair('ES256', 'ops-k1')
      const stranger = await keyPair('ES256', 'ops-k9', false)
      const jwks = jwksServer([k1.publicJwk])
      let jwksUp = true
      cleanups.push(() => jwksUp && jwks.stop())
      const gateway = await startGateway(
        target,
        {
          JWTGATE_UPSTREAM: upstream.url,
          JWTGATE_JWKS_URL: jwks.url,
          JWTGATE_JWKS_COOLDOWN: '0s',
          JWTGATE_JWKS_TIMEOUT: '1s',
        },
        { admin: true },
      )
      gateways.push(gateway)
      const readyz = async (url: string) => {
        const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) })
        await response.body?.cancel()
        return response.status
      }
      await pollUntil(async () => (await readyz(gateway.url)) === 200, 5000, 50)
      const known = () =>
        sign({ sub: 'jwks-user' }, { alg: 'ES256', key: k1.privateKey, kid: 'ops-k1' }).then((t) =>
          tokens.add(t)
        )
      const get = (t: string) =>
        fetch(`${gateway.url}/jwks-down`, {
          headers: { authorization: `Bearer ${t}` },
          signal: AbortSignal.timeout(5000),
        })

      const first = await get(await known())
      expect(first.status).toBe(200)
      await first.body?.cancel()

      await jwks.stop()
      jwksUp = false
      for (let i = 0; i < 3; i++) {
        const response = await get(await known())
        expect(response.status).toBe(200)
        expect(await response.json()).toEqual({ path: '/jwks-down' })
      }
      expect(await readyz(gateway.url)).toBe(200)
      expect(await readyz(gateway.adminUrl!)).toBe(200)

      const unknown = tokens.add(
        await sign({ sub: 'jwks-user' }, { alg: 'ES256', key: stranger.privateKey, kid: 'ops-k9' }),
      )
      await expectInvalidToken(await get(unknown), 'unknown_key')
      // Known keys are not forgotten after the failed refetch.
      const after = await get(await known())
      expect(after.status).toBe(200)
      await after.body?.cancel()
      expect(await readyz(gateway.url)).toBe(200)

      await pollUntil(() => gateway.events('jwks_failed').length > 0, 3000, 25)
      expect(gateway.events('jwks_failed')[0]).toMatchObject({ level: 'warn', keeping_keys: true })
      const { samples } = await metricsOf(gateway)
      expect(
        sampleValue(samples, 'jwtgate_jwks_fetches_total', {
          provider: 'default',
          result: 'success',
        }),
      ).toBeGreaterThanOrEqual(1)
      expect(
        sampleValue(samples, 'jwtgate_jwks_fetches_total', {
          provider: 'default',
          result: 'failure',
        }),
      ).toBeGreaterThanOrEqual(1)
      expect(sampleValue(samples, 'jwtgate_rejections_total', { reason: 'unknown_key' })).toBe(1)
      expect(sampleValue(samples, 'jwtgate_rejections_total', { reason: 'keys_unavailable' }))
        .toBeUndefined()
    })

    describe('TLS', () => {
      test('HTTPS with a self-signed certificate: 200 with a token, 401 without, X-Forwarded-Proto https upstream', async () => {
        const cert = selfSigned(files.dir, `gw-${target.name.length}`)
        const gateway = await gatewayWith({
          JWTGATE_TLS_CERT: cert.cert,
          JWTGATE_TLS_KEY: cert.key,
        })
        expect(gateway.events('start')[0]).toMatchObject({ tls: true })
        const url = `https://127.0.0.1:${gateway.port}`
        const tls = { ca: cert.certPem }
        const response = await fetch(
          `${url}/tls/ok`,
          {
            headers: await bearer('tls-user'),
            tls,
            signal: AbortSignal.timeout(5000),
          } as RequestInit,
        )
        expect(response.status).toBe(200)
        expect(await response.json()).toEqual({ path: '/tls/ok' })
        const seen = seenAt('/tls/ok')
        expect(seen).toHaveLength(1)
        expect(seen[0]!.headers.get('x-forwarded-proto')).toBe('https')
        const missing = await fetch(
          `${url}/tls/ok`,
          { tls, signal: AbortSignal.timeout(5000) } as RequestInit,
        )
        await expectProblem(missing, 401, 'token_missing')
        expect(seenAt('/tls/ok')).toHaveLength(1)
        // The certificate is checked, not ignored: without the CA the handshake fails.
        const untrusted = await fetch(`${url}/tls/ok`, { signal: AbortSignal.timeout(5000) }).then(
          (r) => r.status,
          () => 'refused',
        )
        expect(untrusted).toBe('refused')
      })

      test('an unreadable certificate: check exits 1 naming JWTGATE_TLS_CERT', async () => {
        const cert = selfSigned(files.dir, `check-${target.name.length}`)
        const result = await runTarget(target, ['check'], {
          JWTGATE_UPSTREAM: upstream.url,
          JWTGATE_SECRET: key.config,
          JWTGATE_TLS_CERT: `${files.dir}/no-such-cert.pem`,
          JWTGATE_TLS_KEY: cert.key,
        })
        expect(result.code).toBe(1)
        expect(result.stderr).toContain('JWTGATE_TLS_CERT: cannot read the file it names')
        expect(result.stderr).not.toContain('JWTGATE_TLS_KEY')
      })

      test('a key that does not match the certificate: serve exits non-zero with a clear message and never listens', async () => {
        const cert = selfSigned(files.dir, `mismatch-${target.name.length}`)
        const wrongKey = otherKey(files.dir, `wrong-${target.name.length}`)
        const port = freePort()
        const result = await runTarget(target, ['serve'], {
          JWTGATE_HOST: '127.0.0.1',
          JWTGATE_PORT: String(port),
          JWTGATE_UPSTREAM: upstream.url,
          JWTGATE_SECRET: key.config,
          JWTGATE_TLS_CERT: cert.cert,
          JWTGATE_TLS_KEY: wrongKey,
        }, 5000)
        expect(result.code).not.toBe(0)
        expect(listenAddress(result.stdout)).toBeUndefined()
        expect(result.stderr).toContain('check that the certificate and key match')
        expect(await probeConnect(port, 500)).toBe('refused')
      })
    })

    describe('CORS', () => {
      let gateway: Gateway
      const preflight = (origin: string, path = '/cors/x') =>
        fetch(`${gateway.url}${path}`, {
          method: 'OPTIONS',
          headers: {
            origin,
            'access-control-request-method': 'POST',
            'access-control-request-headers': 'authorization, content-type',
          },
          signal: AbortSignal.timeout(5000),
        })

      beforeAll(async () => {
        gateway = await gatewayWith({
          JWTGATE_CORS_ORIGINS: 'https://app.example.com,*.example.org',
          JWTGATE_CORS_CREDENTIALS: 'true',
        })
      })

      test('a preflight from an allowed origin: 204 with the allowances, answered by the gateway without a token', async () => {
        const response = await preflight('https://app.example.com')
        expect(response.status).toBe(204)
        expect(await response.text()).toBe('')
        expect(response.headers.get('access-control-allow-origin')).toBe('https://app.example.com')
        expect(response.headers.get('access-control-allow-methods')?.split(/,\s*/)).toContain(
          'POST',
        )
        expect(response.headers.get('access-control-allow-headers')?.split(/,\s*/).sort()).toEqual([
          'authorization',
          'content-type',
        ])
        expect(response.headers.get('access-control-allow-credentials')).toBe('true')
        expect(response.headers.get('access-control-max-age')).toBe('600')
        expect(response.headers.get('vary')).toContain('Origin')
        expect(seenAt('/cors/x')).toEqual([])
      })

      test('a preflight from https://evil.test: 403 without any Access-Control-Allow-* header, not forwarded', async () => {
        const response = await preflight('https://evil.test')
        expect(response.status).toBe(403)
        await response.body?.cancel()
        expect([...response.headers.keys()].filter((h) => h.startsWith('access-control-'))).toEqual(
          [],
        )
        expect(seenAt('/cors/x')).toEqual([])
      })

      test('*.example.org allows https://a.example.org but not https://example.org.evil.test', async () => {
        const sub = await preflight('https://a.example.org')
        expect(sub.status).toBe(204)
        expect(sub.headers.get('access-control-allow-origin')).toBe('https://a.example.org')
        const lookalike = await preflight('https://example.org.evil.test')
        expect(lookalike.status).toBe(403)
        expect(lookalike.headers.get('access-control-allow-origin')).toBeNull()
        const suffix = await preflight('https://evilexample.org')
        expect(suffix.status).toBe(403)
        await Promise.all([sub, lookalike, suffix].map((r) => r.body?.cancel()))
        expect(seenAt('/cors/x')).toEqual([])
      })

      test('a 401 for an allowed origin carries ACAO, credentials and Expose-Headers with www-authenticate; not for another origin', async () => {
        const response = await fetch(`${gateway.url}/cors/x`, {
          headers: { origin: 'https://app.example.com' },
        })
        await expectProblem(response, 401, 'token_missing')
        expect(response.headers.get('access-control-allow-origin')).toBe('https://app.example.com')
        expect(response.headers.get('access-control-allow-credentials')).toBe('true')
        const exposed = (response.headers.get('access-control-expose-headers') ?? '').split(/,\s*/)
          .map((h) => h.toLowerCase())
        expect(exposed).toContain('www-authenticate')
        expect(exposed).toContain('x-request-id')
        const evil = await fetch(`${gateway.url}/cors/x`, {
          headers: { origin: 'https://example.org.evil.test' },
        })
        await expectProblem(evil, 401, 'token_missing')
        expect(evil.headers.get('access-control-allow-origin')).toBeNull()
        // An allowed, authenticated request is proxied and carries the CORS headers too.
        const ok = await fetch(`${gateway.url}/cors/ok`, {
          headers: { origin: 'https://a.example.org', ...(await bearer('cors-user')) },
        })
        expect(ok.status).toBe(200)
        await ok.body?.cancel()
        expect(ok.headers.get('access-control-allow-origin')).toBe('https://a.example.org')
        expect(seenAt('/cors/x')).toEqual([])
      })

      test('without CORS configured, OPTIONS is just a request: 401 without a token, no CORS headers', async () => {
        const plain = await gatewayWith({})
        const response = await fetch(`${plain.url}/cors/plain`, {
          method: 'OPTIONS',
          headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' },
        })
        await expectProblem(response, 401, 'token_missing')
        expect([...response.headers.keys()].filter((h) => h.startsWith('access-control-'))).toEqual(
          [],
        )
        expect(seenAt('/cors/plain')).toEqual([])
        const withToken = await fetch(`${plain.url}/cors/plain`, {
          method: 'OPTIONS',
          headers: await bearer('options-user'),
        })
        expect(withToken.status).toBe(200)
        await withToken.body?.cancel()
        expect(seenAt('/cors/plain').map((s) => s.method)).toEqual(['OPTIONS'])
      })
    })

    describe('limits', () => {
      let gateway: Gateway

      beforeAll(async () => {
        gateway = await gatewayWith({
          JWTGATE_MAX_HEADER_BYTES: '4096',
          JWTGATE_MAX_TOKEN_BYTES: '512',
          JWTGATE_MAX_BODY: '1k',
          JWTGATE_STREAM_IDLE_TIMEOUT: '1s',
        })
      })

      test('request headers over JWTGATE_MAX_HEADER_BYTES (4096): 431, not forwarded', async () => {
        const response = await fetch(`${gateway.url}/limits/headers`, {
          headers: { ...(await bearer('limits')), 'x-filler': 'a'.repeat(6 * 1024) },
        })
        await expectProblem(response, 431, 'headers_too_large')
        expect(seenAt('/limits/headers')).toEqual([])
        const fine = await fetch(`${gateway.url}/limits/headers`, {
          headers: { ...(await bearer('limits')), 'x-filler': 'a'.repeat(2 * 1024) },
        })
        expect(fine.status).toBe(200)
        await fine.body?.cancel()
      })

      test('a token over JWTGATE_MAX_TOKEN_BYTES (512): 401 invalid_token, not forwarded', async () => {
        const long = await token('limits', { pad: 'p'.repeat(600) })
        expect(long.length).toBeGreaterThan(512)
        expect(long.length).toBeLessThan(2048)
        await expectInvalidToken(
          await fetch(`${gateway.url}/limits/token`, {
            headers: { authorization: `Bearer ${long}` },
          }),
          'token_malformed',
        )
        expect(seenAt('/limits/token')).toEqual([])
      })

      test('JWTGATE_MAX_BODY=1k: a 2 KB body with Content-Length is 413 and the upstream sees nothing; 1 KB passes', async () => {
        const response = await fetch(`${gateway.url}/limits/body`, {
          method: 'POST',
          headers: await bearer('limits'),
          body: new Uint8Array(2048),
        })
        await expectProblem(response, 413, 'payload_too_large')
        expect(seenAt('/limits/body')).toEqual([])
        const fits = await fetch(`${gateway.url}/limits/body`, {
          method: 'POST',
          headers: await bearer('limits'),
          body: new Uint8Array(1024),
        })
        expect(fits.status).toBe(200)
        expect(await fits.json()).toEqual({ path: '/limits/body', bytes: 1024 })
      })

      test('JWTGATE_MAX_BODY=1k: a 2 KB chunked body (a stream, no Content-Length) is 413', async () => {
        let pulls = 0
        const body = new ReadableStream<Uint8Array>({
          pull(controller) {
            if (pulls++ < 4) controller.enqueue(new Uint8Array(512).fill(1))
            else controller.close()
          },
        })
        const response = await fetch(`${gateway.url}/limits/stream`, {
          method: 'POST',
          headers: await bearer('limits'),
          body,
          duplex: 'half',
          signal: AbortSignal.timeout(5000),
        } as RequestInit)
        await expectProblem(response, 413, 'payload_too_large')
      })

      test('JWTGATE_STREAM_IDLE_TIMEOUT=1s: an upload that stalls after its first chunk is 408 request_timeout after ~1 s', async () => {
        let pulls = 0
        const body = new ReadableStream<Uint8Array>({
          async pull(controller) {
            if (pulls++ === 0) return controller.enqueue(new Uint8Array(100).fill(2))
            await sleep(3000)
            try {
              controller.close()
            } catch {
              // the request is over
            }
          },
        })
        const started = performance.now()
        const response = await fetch(`${gateway.url}/limits/stall`, {
          method: 'POST',
          headers: await bearer('limits'),
          body,
          duplex: 'half',
          signal: AbortSignal.timeout(6000),
        } as RequestInit)
        await expectProblem(response, 408, 'request_timeout')
        const elapsed = performance.now() - started
        expect(elapsed).toBeGreaterThan(700)
        expect(elapsed).toBeLessThan(2500)
      })

      test('JWTGATE_STREAM_IDLE_TIMEOUT=1s: an SSE stream silent after its first event ends after ~1 s', async () => {
        const started = performance.now()
        const response = await fetch(`${gateway.url}/sse`, {
          headers: { ...(await bearer('limits')), accept: 'text/event-stream' },
          signal: AbortSignal.timeout(6000),
        })
        expect(response.status).toBe(200)
        const reader = response.body!.getReader()
        const decoder = new TextDecoder()
        let text = ''
        let firstAt: number | undefined
        let ending = 'none'
        for (let i = 0; i < 20; i++) {
          const read = await reader.read().then((r) => r, (e: unknown) => ({ error: e }))
          if ('error' in read) {
            ending = 'error'
            break
          }
          if (read.done) {
            ending = 'closed'
            break
          }
          text += decoder.decode(read.value, { stream: true })
          if (firstAt === undefined && text.includes('data: first\n\n')) firstAt = performance.now()
        }
        const endedAt = performance.now()
        expect(text).toBe('data: first\n\n')
        expect(['error', 'closed']).toContain(ending)
        expect(firstAt).toBeDefined()
        expect(endedAt - firstAt!).toBeGreaterThan(700)
        expect(endedAt - firstAt!).toBeLessThan(2500)
        expect(endedAt - started).toBeLessThan(SSE_SILENCE_MS)
        // The access line is written when the stream ends, and says how it ended.
        const requestId = response.headers.get('x-request-id')!
        expect(await requestLine(gateway, requestId)).toMatchObject({
          path: '/sse',
          status: 200,
          upstream_status: 200,
          end: 'idle',
          bytes_out: 13,
        })
      })
    })

    // No body cap, and a stream idle timeout no shorter than the upstream timeout: on Bun the
    // server's connection idle timeout enforces it and chunked uploads pass untouched (their
    // chunks never go through JavaScript); Deno's server has no such timeout, so it watches.
    describe('stream idle timeout without a body cap', () => {
      const serverEnforced = target === BINARY
      let gateway: Gateway

      beforeAll(async () => {
        gateway = await gatewayWith({
          JWTGATE_STREAM_IDLE_TIMEOUT: '2s',
          JWTGATE_UPSTREAM_TIMEOUT: '2s',
        })
      })

      test('a 4 MB chunked upload arrives whole', async () => {
        let sent = 0
        const body = new ReadableStream<Uint8Array>({
          pull(controller) {
            if (sent >= 4 * 2 ** 20) return controller.close()
            sent += 64 * 1024
            controller.enqueue(new Uint8Array(64 * 1024).fill(7))
          },
        })
        const response = await fetch(
          `${gateway.url}/idle/upload`,
          {
            method: 'POST',
            headers: await bearer('idle'),
            body,
            duplex: 'half',
            signal: AbortSignal.timeout(10_000),
          } as RequestInit,
        )
        expect(response.status).toBe(200)
        expect(await response.json()).toEqual({ path: '/idle/upload', bytes: 4 * 2 ** 20 })
        const line = await requestLine(gateway, response.headers.get('x-request-id')!)
        // Counted only where it was watched.
        expect(line.bytes_in).toBe(serverEnforced ? undefined : 4 * 2 ** 20)
      })

      test(
        "an upload that stalls is cut within the timeouts (the watch's 408 or the upstream deadline, whichever first)",
        async () => {
          let pulls = 0
          const body = new ReadableStream<Uint8Array>({
            async pull(controller) {
              if (pulls++ === 0) return controller.enqueue(new Uint8Array(100).fill(2))
              await sleep(8000)
            },
          })
          const started = performance.now()
          const response = await fetch(
            `${gateway.url}/idle/stall`,
            {
              method: 'POST',
              headers: await bearer('idle'),
              body,
              duplex: 'half',
              signal: AbortSignal.timeout(8000),
            } as RequestInit,
          )
          const elapsed = performance.now() - started
          // Both limits are 2 s: whichever fires first answers (the watch's 408 or the deadline's 504).
          expect([408, 504]).toContain(response.status)
          expect(['request_timeout', 'upstream_timeout']).toContain(
            ((await response.json()) as { code: string }).code,
          )
          expect(elapsed).toBeGreaterThan(1500)
          expect(elapsed).toBeLessThan(5000)
        },
        10_000,
      )

      // Deno's server has no connection idle timeout.
      test.if(serverEnforced)(
        'an idle keep-alive connection is closed by the server, so idle clients hold nothing',
        async () => {
          const { port } = new URL(gateway.url)
          let closedAt: number | undefined
          let answered = false
          const started = performance.now()
          const socket = await Bun.connect({
            hostname: '127.0.0.1',
            port: Number(port),
            socket: {
              data(_s, data) {
                if (new TextDecoder().decode(data).startsWith('HTTP/1.1 200')) answered = true
              },
              close() {
                closedAt = performance.now()
              },
            },
          })
          socket.write(
            `GET /idle/keepalive HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${
              (await bearer('idle')).authorization
            }\r\n\r\n`,
          )
          for (let i = 0; i < 500 && closedAt === undefined; i++) await sleep(20)
          socket.end()
          expect(answered).toBe(true)
          expect(closedAt).toBeDefined()
          expect(closedAt! - started).toBeGreaterThan(1500)
        },
        15_000,
      )
    })

    test('JWTGATE_RATE_LIMIT=3/1m: the 4th request of one subject is 429 with Retry-After; another subject passes; anonymous requests are limited by address', async () => {
      const gateway = await gatewayWith({
        JWTGATE_RATE_LIMIT: '3/1m',
        JWTGATE_PUBLIC_PATHS: '/rate/public/*',
      })
      const ann = await bearer('rate-ann')
      for (let i = 0; i < 3; i++) {
        const response = await fetch(`${gateway.url}/rate/ann`, { headers: ann })
        expect(response.status).toBe(200)
        await response.body?.cancel()
      }
      const limited = await fetch(`${gateway.url}/rate/ann`, { headers: ann })
      const retryAfter = limited.headers.get('retry-after')
      await expectProblem(limited, 429, 'rate_limited')
      expect(retryAfter).toMatch(/^[1-9]\d*$/)
      expect(Number(retryAfter)).toBeLessThanOrEqual(60)
      expect(seenAt('/rate/ann')).toHaveLength(3)
      // The same subject with a fresh token is the same bucket.
      const again = await fetch(`${gateway.url}/rate/ann`, { headers: await bearer('rate-ann') })
      expect(again.status).toBe(429)
      await again.body?.cancel()
      const ben = await fetch(`${gateway.url}/rate/ben`, { headers: await bearer('rate-ben') })
      expect(ben.status).toBe(200)
      await ben.body?.cancel()
      // Without a token (a public path), the client address is the key.
      const anonymous: number[] = []
      for (let i = 0; i < 4; i++) {
        const response = await fetch(`${gateway.url}/rate/public/${i}`)
        anonymous.push(response.status)
        if (response.status === 429) {
          expect(response.headers.get('retry-after')).toMatch(/^[1-9]\d*$/)
        }
        await response.body?.cancel()
      }
      expect(anonymous).toEqual([200, 200, 200, 429])
    })

    test('the gateway adds no Server (or other identifying) header; an upstream Server header passes as it is', async () => {
      const gateway = await gatewayWith({}, { admin: true })
      const direct = await fetch(`${upstream.url}/plain`)
      await direct.body?.cancel()
      expect(direct.headers.get('server')).toBeNull()
      const responses = await Promise.all([
        fetch(`${gateway.url}/plain`, { headers: await bearer('server-user') }),
        fetch(`${gateway.url}/plain`),
        fetch(`${gateway.url}/healthz`),
        fetch(`${gateway.adminUrl}/metrics`),
      ])
      expect(responses.map((r) => r.status)).toEqual([200, 401, 200, 200])
      for (const response of responses) {
        await response.body?.cancel()
        for (const name of ['server', 'x-powered-by', 'via']) {
          expect(`${name}: ${response.headers.get(name)}`).toBe(`${name}: null`)
        }
      }
      const passed = await fetch(`${gateway.url}/server`, { headers: await bearer('server-user') })
      expect(await passed.text()).toBe('from upstream')
      expect(passed.headers.get('server')).toBe('upstream-httpd/1.0')
    })

    test('no output of any gateway in this suite holds a token, the secret or "Bearer "', () => {
      const output = gateways.map((g) => g.output()).join('\n')
      expect(output).toContain('"event":"request"')
      tokens.expectAbsentFrom(output)
      expect(output.includes(key.config.slice('base64:'.length))).toBe(false)
      expect(output.includes('Bearer ')).toBe(false)
    })
  })
}
