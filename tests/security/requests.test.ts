/**
 * The hostile-request corpus (issue 3, "Proof"): request bytes that `fetch` would normalise or
 * refuse to send, written verbatim over a raw TCP socket to the running gateway, in front of an
 * upstream that records each request exactly as it arrived on the wire (raw.ts). Each test
 * asserts the status and what the upstream received, or that it received nothing.
 *
 * Bun and Deno rewrite some request-targets before the gateway sees them (Bun resolves dot
 * segments and turns `\` into `/`); where the runtimes differ, the test asserts what must hold
 * either way: the request is rejected, or the upstream receives exactly the path the gateway
 * evaluated (its access log line) and that path is not wrongly public.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import { secret, sign } from '../helpers/keys.ts'
import { type Gateway, startGateway, TARGETS } from '../helpers/process.ts'
import { expectRawRejected, MARKER } from '../helpers/assertions.ts'
import {
  type Exchange,
  exchange,
  type RawResponse,
  type RawUpstream,
  rawUpstream,
  type UpstreamRequest,
} from '../helpers/raw-http.ts'

const PUBLIC_PATHS = '/public/*,/status'
const CLAIM_HEADER = 'x-user-id'

/** Header names a backend may fold into X-User-Id. */
const fold = (name: string) => name.toLowerCase().replace(/[_.]/g, '-')

/** One access log line of the gateway (JSON), found by request id. */
interface AccessLine {
  readonly request_id: string
  readonly method: string
  readonly path: string | undefined
  readonly status: number
  readonly decision: string
}

/** Waits (bounded) for the access line of `id`; undefined when the gateway never saw the request. */
async function accessLine(
  gateway: Gateway,
  id: string,
  timeoutMs = 1000,
): Promise<AccessLine | undefined> {
  const needle = `"request_id":"${id}"`
  for (let waited = 0; waited <= timeoutMs; waited += 25) {
    for (const line of gateway.stdout().split('\n')) {
      if (line.includes(needle) && line.includes('"event":"request"')) {
        return JSON.parse(line) as AccessLine
      }
    }
    await Bun.sleep(25)
  }
  return undefined
}

for (const target of TARGETS) {
  describe(`${target.name}: hostile requests over a raw socket`, () => {
    const key = secret(32)
    const gateways: Gateway[] = []
    let upstream: RawUpstream
    let gateway: Gateway
    /** The same, with JWTGATE_FORWARD_TOKEN=true. */
    let forwarding: Gateway
    let token: string
    let counter = 0

    beforeAll(async () => {
      upstream = await rawUpstream()
      const env = {
        JWTGATE_UPSTREAM: upstream.url,
        JWTGATE_SECRET: key.config,
        JWTGATE_PUBLIC_PATHS: PUBLIC_PATHS,
        JWTGATE_FORWARD_CLAIMS: 'sub=X-User-Id',
      }
      ;[gateway, forwarding] = await Promise.all([
        startGateway(target, env),
        startGateway(target, { ...env, JWTGATE_FORWARD_TOKEN: 'true' }),
      ])
      gateways.push(gateway, forwarding)
      token = await sign({ sub: 'alice' }, { alg: 'HS256', key: key.raw })
    })

    afterAll(async () => {
      await Promise.all(gateways.map((g) => g.kill()))
      await upstream.close()
    })

    beforeEach(() => {
      upstream.seen.length = 0
    })

    const auth = () => `Authorization: Bearer ${token}`

    interface Sent extends Exchange {
      readonly id: string
      readonly response: RawResponse | undefined
      /** What the upstream received for this request (matched by X-Request-Id). */
      readonly seen: UpstreamRequest[]
    }

    /**
     * Sends `requestLine`, a Host header, a unique X-Request-Id, `headers` and Connection: close,
     * byte for byte; reads the response.
     */
    async function send(
      requestLine: string,
      headers: readonly string[] = [],
      options: { via?: Gateway; host?: string } = {},
    ): Promise<Sent> {
      const via = options.via ?? gateway
      const id = `sec-req-${process.pid}-${++counter}`
      const lines = [
        requestLine,
        `Host: ${options.host ?? `127.0.0.1:${via.port}`}`,
        `X-Request-Id: ${id}`,
        ...headers,
        'Connection: close',
      ]
      const result = await exchange(via.port, `${lines.join('\r\n')}\r\n\r\n`)
      return {
        ...result,
        id,
        response: result.responses[0],
        seen: upstream.seen.filter((s) => s.headers.get('x-request-id') === id),
      }
    }

    /** The request was refused before the upstream: by the gateway (status), or by the runtime (4xx or a closed connection). */
    function expectRefused(sent: Sent, statuses: readonly number[]): void {
      expect({ forwarded: upstream.seen.map((s) => s.target) }).toEqual({ forwarded: [] })
      if (sent.response === undefined) expect(sent.closed).toBe(true)
      else expect(statuses).toContain(sent.response.status)
    }

    /**
     * Either refused with one of `statuses`, or forwarded (200) with the upstream receiving exactly
     * the path the gateway evaluated, which `allowed` must accept.
     */
    async function expectRefusedOrExact(
      sent: Sent,
      statuses: readonly number[],
      allowed: (path: string) => boolean,
    ): Promise<void> {
      if (sent.response === undefined || sent.response.status !== 200) {
        return expectRefused(sent, statuses)
      }
      const line = await accessLine(gateway, sent.id)
      expect(line?.path).toBeDefined()
      expect(sent.seen.map((s) => s.target)).toEqual([line!.path!])
      expect({ path: line!.path, allowed: allowed(line!.path!) }).toEqual({
        path: line!.path,
        allowed: true,
      })
    }

    describe('request-target normalisation', () => {
      test('encoded slash: /public/..%2Fadmin and /public/a%2fb are 400 bad_path', async () => {
        for (
          const path of [
            '/public/..%2Fadmin',
            '/public/..%2fadmin',
            '/public/a%2Fb',
            '/public%2F..%2Fadmin',
          ]
        ) {
          expectRawRejected((await send(`GET ${path} HTTP/1.1`)).response, 'bad_path', 400)
        }
        expect(upstream.seen).toEqual([])
      })

      test('encoded backslash: /public/..%5Cadmin is 400 bad_path', async () => {
        for (const path of ['/public/..%5Cadmin', '/public/..%5cadmin', '/public/%5C']) {
          expectRawRejected((await send(`GET ${path} HTTP/1.1`)).response, 'bad_path', 400)
        }
        expect(upstream.seen).toEqual([])
      })

      test('raw backslash: /public/..\\admin without a token is never forwarded as public (400, or 401 for /admin)', async () => {
        const sent = await send('GET /public/..\\admin HTTP/1.1')
        expectRefused(sent, [400, 401])
        if (sent.response?.status === 401) {
          expect((await accessLine(gateway, sent.id))?.path).toBe('/admin')
        }
      })

      test('raw backslash: /public\\x is 400, or the upstream receives exactly the evaluated /public/x', async () => {
        await expectRefusedOrExact(
          await send('GET /public\\x HTTP/1.1'),
          [400],
          (p) => p === '/public/x',
        )
      })

      test('raw backslash with a valid token: 400, or the upstream receives exactly the evaluated path', async () => {
        await expectRefusedOrExact(
          await send('GET /orders\\..\\admin HTTP/1.1', [auth()]),
          [400],
          (p) => p === '/admin',
        )
      })

      test('path parameters: /public;x/../admin without a token is 400 or 401, never public', async () => {
        const sent = await send('GET /public;x/../admin HTTP/1.1')
        expectRefused(sent, [400, 401])
      })

      test('path parameters: /public/x;y=z is 400 bad_path', async () => {
        expectRawRejected((await send('GET /public/x;y=z HTTP/1.1')).response, 'bad_path', 400)
        expect(upstream.seen).toEqual([])
      })

      test('encoded dot segments: /public/%2e%2e/admin (any case, half-encoded) without a token is 401 or 400', async () => {
        for (
          const path of [
            '/public/%2e%2e/admin',
            '/public/%2E%2E/admin',
            '/public/.%2e/admin',
            '/public/%2e./admin',
            '/public/%2e%2e%2fadmin',
          ]
        ) {
          const sent = await send(`GET ${path} HTTP/1.1`)
          expectRefused(sent, [400, 401])
        }
      })

      test('overlong and broken UTF-8 escapes: /public/%c0%ae%c0%ae/admin and its kind are 400 bad_path, never forwarded', async () => {
        // A lenient decoder behind the gateway reads %C0%AE as `.`: forwarded, the request would
        // climb from /public to /admin after the rules had decided it as public.
        for (
          const path of [
            '/public/%c0%ae%c0%ae/admin',
            '/public/%C0%AE%C0%AE/admin',
            '/public/%e0%80%ae%e0%80%ae/admin',
            '/public/%c0%af',
            '/public/%ed%a0%80',
            '/public/%f4%90%80%80',
            '/public/%80',
            '/public/%c3',
          ]
        ) {
          expectRawRejected((await send(`GET ${path} HTTP/1.1`)).response, 'bad_path', 400)
        }
        expect(upstream.seen).toEqual([])
      })

      test('/public/../admin without a token is 401 or 400, never forwarded as public', async () => {
        for (
          const path of [
            '/public/../admin',
            '/public/./../admin',
            '/public/x/../../admin',
            '/public/%2e/../admin',
          ]
        ) {
          const sent = await send(`GET ${path} HTTP/1.1`)
          expectRefused(sent, [400, 401])
          if (sent.response?.status === 401) {
            expect((await accessLine(gateway, sent.id))?.path).not.toStartWith('/public/')
          }
        }
      })

      test('dot segments climbing above the root are 400 (or resolved by the runtime and then 401)', async () => {
        for (const path of ['/..', '/../public/x/../../admin', '/%2e%2e/admin']) {
          expectRefused(await send(`GET ${path} HTTP/1.1`), [400, 401])
        }
      })

      test('NUL: %00 is 400 bad_path; a raw NUL byte is refused', async () => {
        expectRawRejected((await send('GET /public/a%00b HTTP/1.1')).response, 'bad_path', 400)
        expectRefused(await send('GET /public/a\u0000b HTTP/1.1'), [400, 505])
        for (const escape of ['%0a', '%0D', '%7F', '%1b']) {
          expectRawRejected(
            (await send(`GET /public/a${escape}b HTTP/1.1`)).response,
            'bad_path',
            400,
          )
        }
        expect(upstream.seen).toEqual([])
      })

      test('# in the request-target is 400 bad_path', async () => {
        for (const path of ['/public/x#/../../admin', '/admin#', '/public/x?a=1#frag']) {
          expectRawRejected((await send(`GET ${path} HTTP/1.1`)).response, 'bad_path', 400)
        }
        expect(upstream.seen).toEqual([])
      })

      test('bad percent-encodings are 400 bad_path', async () => {
        for (const path of ['/public/%', '/public/%2', '/public/%zz', '/public/%%32%65']) {
          expectRawRejected((await send(`GET ${path} HTTP/1.1`)).response, 'bad_path', 400)
        }
        expect(upstream.seen).toEqual([])
      })

      test('the query never takes part in path rules: /admin?/public/x without a token is 401', async () => {
        for (const target of ['/admin?/public/x', '/admin?x=/public/y', '/admin?/../public/x']) {
          expectRawRejected((await send(`GET ${target} HTTP/1.1`)).response, 'token_missing')
        }
        expect(upstream.seen).toEqual([])
      })
    })

    describe('method override in the query', () => {
      test('_method in any spelling a backend reads as it is 400 method_override_not_supported, with a token or on a public path; nothing goes upstream', async () => {
        const overrides = [
          '_method=DELETE',
          '%5Fmethod=DELETE',
          '%5fmethod=PUT',
          '.method=DELETE',
          '[method=DELETE',
          '_method[]=DELETE',
          '_method',
          'a=1;_method=DELETE',
          'page=2&_%6Dethod=PATCH',
          '_method%00=DELETE', // PHP cuts a name at a NUL
          '_method%00x=DELETE',
          '%5Fmethod%00%E9=DELETE', // every good escape decoded, beside a bad one
        ]
        for (const query of overrides) {
          for (
            const [line, headers] of [[`POST /orders/7?${query} HTTP/1.1`, [auth()]], [
              `POST /public/x?${query} HTTP/1.1`,
              [],
            ]] as const
          ) {
            const { response } = await send(line, [...headers, 'Content-Length: 0'])
            expect({ line, status: response?.status }).toEqual({ line, status: 400 })
            expectRawRejected(response, 'method_override_not_supported', 400)
          }
        }
        expect(upstream.seen).toEqual([])
      })

      test('the controls: a parameter of another name, or _method as a value, goes upstream as sent', async () => {
        // PHP drops a name's leading spaces: `+method` is `method`.
        for (
          const query of ['method=x', '_methods=x', 'q=_method', 'x_method=1', '+method=x', 'q=%20']
        ) {
          const sent = await send(`POST /orders/7?${query} HTTP/1.1`, [auth(), 'Content-Length: 0'])
          expect({ query, status: sent.response?.status }).toEqual({ query, status: 200 })
          expect(sent.seen.map((s) => s.target)).toEqual([`/orders/7?${query}`])
        }
      })
    })

    describe('public paths are segment-aware and case-sensitive', () => {
      test('/publicity is 401, not public', async () => {
        expectRawRejected((await send('GET /publicity HTTP/1.1')).response, 'token_missing')
        expectRawRejected((await send('GET /public.x HTTP/1.1')).response, 'token_missing')
        expect(upstream.seen).toEqual([])
      })

      test('/PUBLIC/x and /Public/x are 401', async () => {
        expectRawRejected((await send('GET /PUBLIC/x HTTP/1.1')).response, 'token_missing')
        expectRawRejected((await send('GET /Public/x HTTP/1.1')).response, 'token_missing')
        expectRawRejected((await send('GET /%50ublic/x HTTP/1.1')).response, 'token_missing')
        expect(upstream.seen).toEqual([])
      })

      test('/public/x is public and reaches the upstream as exactly /public/x (the control)', async () => {
        const sent = await send('GET /public/x HTTP/1.1')
        expect(sent.response?.status).toBe(200)
        expect(sent.seen.map((s) => s.target)).toEqual(['/public/x'])
      })

      test('/public/* does not cover /public itself (README: "not /docs itself")', async () => {
        expectRawRejected((await send('GET /public HTTP/1.1')).response, 'token_missing')
        expect(upstream.seen).toEqual([])
      })

      test('the exact public path /status does not cover /status/ or /status// (README: "that path exactly")', async () => {
        const control = await send('GET /status HTTP/1.1')
        expect(control.response?.status).toBe(200)
        upstream.seen.length = 0
        expectRawRejected((await send('GET /status/ HTTP/1.1')).response, 'token_missing')
        // An empty segment is refused before routing, whichever route the path would match.
        expectRawRejected((await send('GET /status// HTTP/1.1')).response, 'bad_path', 400)
        expect(upstream.seen).toEqual([])
      })

      test('absolute-form GET http://evil.example/public/x: path rules apply to /public/x, the upstream is the configured one', async () => {
        const sent = await send('GET http://evil.example/public/x HTTP/1.1')
        expect(sent.response?.status).toBe(200)
        expect(sent.seen.map((s) => s.target)).toEqual(['/public/x'])
        expect((await accessLine(gateway, sent.id))?.path).toBe('/public/x')
        upstream.seen.length = 0
        expectRawRejected(
          (await send('GET http://evil.example/admin HTTP/1.1')).response,
          'token_missing',
        )
        expectRefused(await send('GET http://evil.example/public/../admin HTTP/1.1'), [400, 401])
        expectRawRejected(
          (await send('GET https://127.0.0.1/admin?x=http://evil.example/public/x HTTP/1.1'))
            .response,
          'token_missing',
        )
        expect(upstream.seen).toEqual([])
      })

      test('absolute-form https://… over plain HTTP does not make X-Forwarded-Proto https', async () => {
        for (
          const line of [
            'GET https://evil.example/public/x HTTP/1.1',
            'GET https://evil.example:443/public/x HTTP/1.1',
          ]
        ) {
          const sent = await send(line)
          if (sent.response?.status !== 200) {
            expectRefused(sent, [400])
            continue
          }
          expect({
            line,
            forwarded: sent.seen.map((s) => [s.target, s.headers.get('x-forwarded-proto')]),
          }).toEqual({ line, forwarded: [['/public/x', 'http']] })
        }
      })

      test('a Host header carrying a path (Host: h/public/x, GET /admin) does not make /admin public', async () => {
        for (const host of [`127.0.0.1:${gateway.port}/public/x`, 'h/public/a?', 'h/public/']) {
          const sent = await send('GET /admin HTTP/1.1', [], { host })
          expect({ host, forwarded: upstream.seen.map((s) => s.target) }).toEqual({
            host,
            forwarded: [],
          })
          expectRefused(sent, [400, 401])
          if (sent.response?.status === 401) {
            expect((await accessLine(gateway, sent.id))?.path).toBe('/admin')
          }
        }
      })
    })

    describe('headers the gateway owns', () => {
      test('spoofed identity headers on a public path (X-User-Id, x_user_id, X-User.Id, X_USER.ID) never reach the upstream', async () => {
        const spoofs = ['X-User-Id', 'x_user_id', 'X-User.Id', 'X_USER.ID', 'x-user_id']
        const sent = await send(
          'GET /public/x HTTP/1.1',
          spoofs.map((name) => `${name}: ${MARKER}-admin`),
        )
        expect(sent.response?.status).toBe(200)
        expect(sent.seen).toHaveLength(1)
        expect(sent.seen[0]!.headers.list.filter(([name]) => fold(name) === CLAIM_HEADER)).toEqual(
          [],
        )
        expect(sent.seen[0]!.headers.list.filter(([, value]) => value.includes(MARKER))).toEqual([])
      })

      test("spoofed identity headers with a valid token: the upstream gets only the gateway's X-User-Id", async () => {
        const sent = await send('GET /orders HTTP/1.1', [
          auth(),
          `X-User-Id: ${MARKER}`,
          `x_user_id: ${MARKER}`,
          `X-User.Id: ${MARKER}`,
        ])
        expect(sent.response?.status).toBe(200)
        expect(sent.seen[0]!.headers.list.filter(([name]) => fold(name) === CLAIM_HEADER)).toEqual([
          [CLAIM_HEADER, 'alice'],
        ])
      })

      test('a valid token without the forwarded claim: a spoofed X-User-Id is still removed, none is sent', async () => {
        const noSub = await sign({ scope: 'x' }, { alg: 'HS256', key: key.raw })
        const sent = await send('GET /orders HTTP/1.1', [
          `Authorization: Bearer ${noSub}`,
          `X-User-Id: ${MARKER}`,
          `x_user_id: ${MARKER}`,
        ])
        expect(sent.response?.status).toBe(200)
        expect(sent.seen[0]!.headers.list.filter(([name]) => fold(name) === CLAIM_HEADER)).toEqual(
          [],
        )
      })

      test("on a public path the client's Bearer token is not forwarded (JWTGATE_FORWARD_TOKEN unset)", async () => {
        const sent = await send('GET /public/x HTTP/1.1', [auth()])
        expect(sent.response?.status).toBe(200)
        expect(sent.seen[0]!.headers.all('authorization')).toEqual([])
      })

      test('an obs-fold continuation line or "Name : value" cannot smuggle X-User-Id', async () => {
        for (
          const headers of [['X-Other: a', ` X-User-Id: ${MARKER}`], [`X-User-Id : ${MARKER}`], [
            `X-User-Id\t: ${MARKER}`,
          ]]
        ) {
          const sent = await send('GET /public/x HTTP/1.1', headers)
          for (const seen of sent.seen) {
            expect(seen.headers.list.filter(([, value]) => value.includes(MARKER))).toEqual([])
          }
          if (sent.response !== undefined) expect([200, 400]).toContain(sent.response.status)
        }
      })

      test('path-override headers (X-Original-URL, X-Rewrite-URL, X-Forwarded-Uri, X-Forwarded-Prefix, X-Forwarded-Path) are removed', async () => {
        const overrides = [
          'X-Original-URL: /admin',
          'X-Rewrite-URL: /admin',
          'X-Forwarded-Uri: /admin',
          'X-Forwarded-Prefix: /admin',
          'X-Forwarded-Path: /admin',
        ]
        for (
          const [line, headers] of [['GET /public/x HTTP/1.1', overrides], [
            'GET /orders HTTP/1.1',
            [auth(), ...overrides],
          ]] as const
        ) {
          const sent = await send(line, headers)
          expect(sent.response?.status).toBe(200)
          const names = sent.seen[0]!.headers.list.map(([name]) => name)
          for (
            const name of [
              'x-original-url',
              'x-rewrite-url',
              'x-forwarded-uri',
              'x-forwarded-prefix',
              'x-forwarded-path',
            ]
          ) expect(names).not.toContain(name)
          expect(sent.seen[0]!.headers.list.filter(([, value]) => value === '/admin')).toEqual([])
        }
      })

      test('method-override headers are removed; the upstream sees the real method', async () => {
        const overrides = [
          'X-HTTP-Method-Override: DELETE',
          'X-HTTP-Method: DELETE',
          'X-Method-Override: DELETE',
        ]
        const sent = await send('GET /public/x HTTP/1.1', overrides)
        expect(sent.response?.status).toBe(200)
        expect(sent.seen[0]!.method).toBe('GET')
        expect(sent.seen[0]!.headers.list.filter(([, value]) => value === 'DELETE')).toEqual([])
      })

      test("Connection: X-User-Id with a valid token: the upstream still gets the gateway's X-User-Id", async () => {
        for (const connection of ['X-User-Id', 'x-user-id, close', 'keep-alive, X-User-Id']) {
          const sent = await send('GET /orders HTTP/1.1', [
            auth(),
            `X-User-Id: ${MARKER}`,
            `Connection: ${connection}`,
          ])
          expect(sent.response?.status).toBe(200)
          expect(sent.seen[0]!.headers.all(CLAIM_HEADER)).toEqual(['alice'])
        }
      })

      test("Connection naming X-Forwarded-For, X-Request-Id or Host cannot remove the gateway's own headers", async () => {
        const sent = await send('GET /orders HTTP/1.1', [
          auth(),
          'Connection: X-Forwarded-For, X-Request-Id, X-Forwarded-Proto, X-Forwarded-Host, Host',
        ])
        expect(sent.response?.status).toBe(200)
        const seen = sent.seen[0]!
        expect(seen.headers.get('x-forwarded-for')).toBe('127.0.0.1')
        expect(seen.headers.get('x-request-id')).toBe(sent.id)
        expect(seen.headers.get('x-forwarded-proto')).toBe('http')
        expect(seen.headers.get('x-forwarded-host')).toBe(`127.0.0.1:${gateway.port}`)
      })

      test('Connection: Authorization with JWTGATE_FORWARD_TOKEN=true: the upstream still gets the Authorization header', async () => {
        const sent = await send('GET /orders HTTP/1.1', [auth(), 'Connection: Authorization'], {
          via: forwarding,
        })
        expect(sent.response?.status).toBe(200)
        expect(sent.seen[0]!.headers.all('authorization')).toEqual([`Bearer ${token}`])
        expect(sent.seen[0]!.headers.all(CLAIM_HEADER)).toEqual(['alice'])
      })

      test('without JWTGATE_FORWARD_TOKEN the token is not forwarded, even when Connection names Authorization', async () => {
        const sent = await send('GET /orders HTTP/1.1', [auth(), 'Connection: Authorization'])
        expect(sent.response?.status).toBe(200)
        expect(sent.seen[0]!.headers.all('authorization')).toEqual([])
      })

      test('a client X-Forwarded-For, Forwarded or X-Real-IP is replaced: the upstream sees only 127.0.0.1', async () => {
        const sent = await send('GET /public/x HTTP/1.1', [
          'X-Forwarded-For: 203.0.113.9, 10.0.0.1',
          'Forwarded: for=203.0.113.9;proto=https',
          'X-Real-IP: 203.0.113.9',
          'X-Forwarded-Proto: https',
          'X-Forwarded-Host: evil.example',
        ])
        expect(sent.response?.status).toBe(200)
        const seen = sent.seen[0]!
        expect(seen.headers.all('x-forwarded-for')).toEqual(['127.0.0.1'])
        expect(seen.headers.all('forwarded')).toEqual([])
        expect(seen.headers.all('x-real-ip')).toEqual([])
        expect(seen.headers.all('x-forwarded-proto')).toEqual(['http'])
        expect(
          seen.headers.list.filter(([, value]) =>
            value.includes('203.0.113.9') || value.includes('evil.example')
          ),
        ).toEqual([])
      })
    })

    describe('methods and upgrades', () => {
      test('lower-case "get" (and "Get") is 405 or refused by the runtime, never forwarded', async () => {
        for (const method of ['get', 'Get', 'gEt']) {
          const sent = await send(`${method} /public/x HTTP/1.1`, [auth()])
          expectRefused(sent, [400, 405])
          if (sent.response?.status === 405) {
            expectRawRejected(sent.response, 'method_not_allowed', 405)
          }
        }
      })

      test('TRACE, TRACK, CONNECT and unknown methods are 405 (or refused by the runtime), never forwarded', async () => {
        for (
          const line of [
            'TRACE /public/x HTTP/1.1',
            'TRACK /public/x HTTP/1.1',
            'PROPFIND /public/x HTTP/1.1',
            `CONNECT 127.0.0.1:${upstream.port} HTTP/1.1`,
          ]
        ) {
          const sent = await send(line, [auth()])
          expectRefused(sent, [400, 405])
          if (sent.response?.status === 405) {
            expectRawRejected(sent.response, 'method_not_allowed', 405)
            expect(sent.response.headers.get('allow')).not.toContain('TRACE')
          }
        }
      })

      test('Upgrade: h2c is not honoured: no 101, and neither Upgrade nor HTTP2-Settings reaches the upstream', async () => {
        const sent = await send('GET /orders HTTP/1.1', [
          auth(),
          'Connection: Upgrade, HTTP2-Settings',
          'Upgrade: h2c',
          'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA',
        ])
        expect(sent.response?.status).toBe(200)
        expect(sent.data.slice(0, 12)).not.toEqual(new TextEncoder().encode('HTTP/1.1 101'))
        const names = sent.seen[0]!.headers.list.map(([name]) => name)
        expect(names).not.toContain('upgrade')
        expect(names).not.toContain('http2-settings')
        expect(sent.seen[0]!.headers.get('connection') ?? '').not.toMatch(/upgrade/i)
      })

      test('the HTTP/2 prior-knowledge preface is refused and forwards nothing', async () => {
        // A runtime may just wait for more: a second is enough to see that nothing was forwarded.
        const result = await exchange(gateway.port, 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', {
          timeoutMs: 1000,
        })
        expect(upstream.seen).toEqual([])
        if (result.responses[0] !== undefined) {
          expect(result.responses[0].status).toBeGreaterThanOrEqual(400)
        }
      })
    })

    describe('request smuggling', () => {
      const smuggled =
        `GET /smuggled-${MARKER} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: smuggled\r\n\r\n`

      /**
       * Either 400, or exactly one request reached the upstream (the first, /first) and anything
       * the gateway answered after it was a refusal: the smuggled request (no token) never reached
       * the upstream, neither as a request nor inside a body.
       */
      async function expectNotSmuggled(bytes: string): Promise<void> {
        const result = await exchange(gateway.port, bytes, { responses: 2, idleMs: 300 })
        await Bun.sleep(50)
        for (const seen of upstream.seen) {
          expect(seen.target).toBe('/first')
          expect(new TextDecoder().decode(seen.body)).not.toContain('smuggled')
        }
        expect(upstream.seen.length).toBeLessThanOrEqual(1)
        expect(upstream.garbage).toEqual([])
        const [first, ...rest] = result.responses
        if (first !== undefined && first.status !== 400) {
          for (const later of rest) expect(later.status).toBeGreaterThanOrEqual(400)
        }
        if (first === undefined) expect(upstream.seen).toEqual([])
      }

      const head = () => `POST /first HTTP/1.1\r\nHost: 127.0.0.1\r\n${auth()}\r\n`

      test('Content-Length and Transfer-Encoding together (CL.TE)', async () => {
        await expectNotSmuggled(
          `${head()}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`,
        )
      })

      test('Transfer-Encoding and Content-Length together (TE.CL)', async () => {
        const chunk = `${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`
        await expectNotSmuggled(
          `${head()}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n${chunk}`,
        )
      })

      test('two different Content-Length values', async () => {
        await expectNotSmuggled(
          `${head()}Content-Length: 0\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`,
        )
        await expectNotSmuggled(
          `${head()}Content-Length: ${smuggled.length}\r\nContent-Length: 0\r\n\r\n${smuggled}`,
        )
        await expectNotSmuggled(`${head()}Content-Length: 0, ${smuggled.length}\r\n\r\n${smuggled}`)
      })

      test('Transfer-Encoding: chunked, identity (and identity, chunked; two TE lines)', async () => {
        await expectNotSmuggled(
          `${head()}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${smuggled}`,
        )
        await expectNotSmuggled(
          `${head()}Transfer-Encoding: identity, chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n${smuggled}`,
        )
        await expectNotSmuggled(
          `${head()}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n${smuggled}`,
        )
      })

      test('obfuscated Transfer-Encoding (xchunked, " : chunked", chunked with a tab) with a Content-Length', async () => {
        await expectNotSmuggled(
          `${head()}Transfer-Encoding: xchunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n${smuggled}`,
        )
        await expectNotSmuggled(
          `${head()}Transfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n${smuggled}`,
        )
        await expectNotSmuggled(
          `${head()}Transfer-Encoding:\tchunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n${smuggled}`,
        )
      })

      test('Transfer-Encoding: chunked on HTTP/1.0, and bare-LF chunk framing', async () => {
        await expectNotSmuggled(
          `POST /first HTTP/1.0\r\nHost: 127.0.0.1\r\n${auth()}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`,
        )
        await expectNotSmuggled(`${head()}Transfer-Encoding: chunked\r\n\r\n0\n\n${smuggled}`)
      })
    })

    test('a request line of 20 KB is refused or handled, never a 5xx, and the gateway keeps serving', async () => {
      const sent = await send(`GET /public/${'a'.repeat(20_000)} HTTP/1.1`)
      if (sent.response !== undefined) expect(sent.response.status).toBeLessThan(500)
      upstream.seen.length = 0
      const after = await send('GET /public/after HTTP/1.1')
      expect(after.response?.status).toBe(200)
      expect(after.seen.map((s) => s.target)).toEqual(['/public/after'])
    })
  })
}
