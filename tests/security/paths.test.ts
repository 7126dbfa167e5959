/**
 * The differential path test (issue 3, "Proof"): a corpus of raw request-targets, each written
 * verbatim over a TCP socket to the running gateway, with a unique X-Request-Id. For each one,
 * either the gateway (or the runtime before it) rejects it and the upstream receives nothing for
 * that id, or the path the upstream receives, byte for byte on the wire, is the configured prefix
 * plus exactly the path the policy evaluated (the `path` of the JSON access line with that id).
 * A forwarded path must also be in normal form (no dot segments, no empty segments, no encoded
 * slash, no escaped unreserved character, upper-case escapes), so that no backend can read it two
 * ways.
 *
 * Each target runs twice: with a valid token, and without one, where a forwarded request must
 * have been evaluated as a public path.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { secret, sign } from '../helpers/keys.ts'
import { type Gateway, startGateway, TARGETS } from '../helpers/process.ts'
import { exchange, type RawUpstream, rawUpstream, utf8Bytes } from '../helpers/raw-http.ts'

const PREFIX = '/base'
const PUBLIC = '/public/'

/** Request-targets as byte strings (non-ASCII written as UTF-8 bytes by utf8Bytes). */
const CORPUS: readonly string[] = [
  // plain and empty segments
  '/a/b',
  '/a/',
  '/a//',
  '//a//b',
  '///a',
  '/public//x',
  '/public/x//',
  '//public/x',
  '/a/b.json',
  '/.a/..b/c.',
  '/a.',
  '/a/...',
  '/a/.../b',
  '/a/..../b',
  // dot segments
  '/a/./b',
  '/a/././b',
  '/a/../b',
  '/a/b/..',
  '/a/b/.',
  '/a/b/../../c',
  '/a/b/../../../c',
  '/..',
  '/../a',
  '/.',
  '/public/../admin',
  '/public/./x',
  '/public//../admin',
  '/public/x/../../admin',
  '/PUBLIC/../public/x',
  // encoded dot segments
  '/a/%2e%2e/b',
  '/a/%2E%2E/b',
  '/a/.%2e/b',
  '/a/%2e./b',
  '/a/%2e/b',
  '/%2e',
  '/%2e%2e',
  '/public/%2e%2e/admin',
  '/public/%2E%2e/%2e%2E/admin',
  // double and overlong encodings
  '/%252e%252e/admin',
  '/%252f',
  '/%25%32%65',
  '/%25',
  '/%c0%ae%c0%ae/admin',
  '/%ef%bc%8e%ef%bc%8e/admin',
  '/public/%c0%ae%c0%ae/admin',
  '/public/%C0%AE%C0%AE/admin',
  '/public/%e0%80%ae%e0%80%ae/admin',
  '/public/%f0%80%80%ae%f0%80%80%ae/admin',
  '/public/%c0%af../admin',
  '/public/%c1%9c..%c1%9cadmin',
  '/public/%ed%a0%80',
  '/public/%f4%90%80%80',
  '/public/%80',
  '/public/%c3',
  '/public/%c3x',
  // encoded and raw slashes, backslashes, parameters
  '/a%2fb',
  '/a%2Fb',
  '/a/..%2fb',
  '/a..%2f',
  '/%2F',
  '/a%5cb',
  '/a%5C..%5Cb',
  '/a\\b',
  '/a/..\\b',
  '/public\\x',
  '/public\\..\\admin',
  '/a;b',
  '/a;b/../c',
  '/public;/../admin',
  '/public/x;jsessionid=1',
  // control characters, fragments, bad escapes
  '/a/%00',
  '/a%0d%0a',
  '/a%7F',
  '/a#b',
  '/a?b#c',
  '/a%',
  '/a%g0',
  '/%u002e%u002e/admin',
  // escapes of unreserved characters, mixed-case escapes
  '/%61%62%63',
  '/%7e%7E',
  '/%41%2d%5f',
  '/%50ublic/x',
  '/publ%69c/x',
  '/public%2Fx',
  '/a%3ab%3Fc',
  '/a%20b',
  '/a+b',
  '/%7Bx%7D',
  // characters a client should have escaped
  '/a"b',
  '/a<b>',
  '/a{b}',
  '/a|b',
  '/a^b',
  '/a`b',
  "/a'b",
  '/a[b]',
  '/a@b:c',
  "/a!$&'()*+,=",
  // non-ASCII
  utf8Bytes('/é'),
  utf8Bytes('/日本/x'),
  utf8Bytes('/a\u0085'),
  utf8Bytes('/\u202e/x'),
  '/%c3%a9',
  '/%E6%97%A5',
  '/%e2%80%ae',
  '/%ff',
  '/a\xff',
  // queries never decide
  '/?a=/../b',
  '/x?a=%2F&b=..',
  '/admin?/public/x',
  '/public/x?/../../admin',
  // absolute-form
  'http://evil.example/a/../b',
  'http://evil.example/public/x',
  'http://evil.example/public/../admin',
  'http://evil.example',
]

const UNRESERVED = /^[A-Za-z0-9\-._~]$/

/** Why a forwarded path is not in normal form, or undefined when it is. */
function notNormal(path: string): string | undefined {
  if (!path.startsWith('/')) return 'does not start with /'
  // nginx (merge_slashes), Apache and Rails read /a//b as /a/b.
  if (path.includes('//')) return 'empty segment (//)'
  for (const segment of path.split('/').slice(1)) {
    if (segment === '.' || segment === '..') return `dot segment ${segment}`
  }
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i)
    if (c <= 0x20 || c >= 0x7f) return `raw byte 0x${c.toString(16)}`
    if (c === 0x5c || c === 0x3b || c === 0x23 || c === 0x3f) return `raw ${path[i]}`
    if (c === 0x25) {
      const hex = path.slice(i + 1, i + 3)
      if (!/^[0-9A-F]{2}$/.test(hex)) return `escape %${hex} is not upper-case hex`
      const byte = String.fromCharCode(parseInt(hex, 16))
      if (UNRESERVED.test(byte)) return `escaped unreserved character %${hex}`
      if (hex === '2F' || hex === '5C') return `encoded slash %${hex}`
      i += 2
    }
  }
  return undefined
}

/** The request-target's query, as sent (absolute-form targets included). */
function queryOf(target: string): string {
  const q = target.indexOf('?')
  return q < 0 || q === target.length - 1 ? '' : target.slice(q)
}

for (const target of TARGETS) {
  describe(`${target.name}: differential path test (${CORPUS.length} raw request-targets)`, () => {
    const key = secret(32)
    let upstream: RawUpstream
    let gateway: Gateway
    let token: string
    let counter = 0
    /** Access lines by request id, parsed from stdout as it grows. */
    const lines = new Map<string, { path?: string; status: number; decision: string }>()
    let parsedUpTo = 0
    const outcomes: {
      raw: string
      withToken: boolean
      status: number | undefined
      forwarded: string | undefined
    }[] = []

    beforeAll(async () => {
      upstream = await rawUpstream()
      gateway = await startGateway(target, {
        JWTGATE_UPSTREAM: `${upstream.url}${PREFIX}`,
        JWTGATE_SECRET: key.config,
        JWTGATE_PUBLIC_PATHS: `${PUBLIC}*`,
        JWTGATE_FORWARD_CLAIMS: 'sub=X-User-Id',
        JWTGATE_LOG_LEVEL: 'info',
        JWTGATE_LOG_FORMAT: 'json',
      })
      token = await sign({ sub: 'alice' }, { alg: 'HS256', key: key.raw })
    })

    afterAll(async () => {
      await gateway.kill()
      await upstream.close()
    })

    function readLines(): void {
      const out = gateway.stdout()
      const end = out.lastIndexOf('\n') + 1
      for (const line of out.slice(parsedUpTo, end).split('\n')) {
        if (!line.startsWith('{')) continue
        const event = JSON.parse(line) as {
          event?: string
          request_id?: string
          path?: string
          status: number
          decision: string
        }
        if (event.event === 'request' && event.request_id !== undefined) {
          lines.set(event.request_id, event)
        }
      }
      parsedUpTo = end
    }

    async function accessLine(id: string) {
      for (let i = 0; i < 40; i++) {
        readLines()
        const line = lines.get(id)
        if (line !== undefined) return line
        await Bun.sleep(25)
      }
      return undefined
    }

    /** Sends `raw` and checks the differential property; returns what happened, for the test name's sake. */
    async function check(raw: string, withToken: boolean): Promise<void> {
      const id = `sec-path-${withToken ? 't' : 'p'}-${++counter}`
      const headers = [
        `Host: 127.0.0.1:${gateway.port}`,
        `X-Request-Id: ${id}`,
        ...(withToken ? [`Authorization: Bearer ${token}`] : []),
        'Connection: close',
      ]
      const result = await exchange(
        gateway.port,
        `GET ${raw} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`,
      )
      const response = result.responses[0]
      const seen = upstream.seen.filter((s) => s.headers.get('x-request-id') === id)
      const context = {
        target: raw,
        status: response?.status,
        closed: result.closed,
        upstream: seen.map((s) => s.target),
      }
      outcomes.push({ raw, withToken, status: response?.status, forwarded: seen[0]?.target })

      if (response === undefined || response.status !== 200) {
        // Rejected, by the gateway (4xx problem) or by the runtime (4xx/505 or a closed connection).
        expect({ ...context, forwarded: seen.length }).toMatchObject({ forwarded: 0 })
        if (response !== undefined) {
          expect({
            ...context,
            rejection: response.status >= 400 && response.status < 500 || response.status === 505,
          }).toMatchObject({ rejection: true })
        }
        if (response?.headers.get('content-type') === 'application/problem+json') {
          const code = (response.json() as { code?: string }).code
          expect({ ...context, code }).toMatchObject({
            code: withToken
              ? expect.stringMatching(/^(bad_path|method_not_allowed)$/)
              : expect.stringMatching(/^(bad_path|method_not_allowed|token_missing)$/),
          })
        }
        return
      }
      const line = await accessLine(id)
      expect({ ...context, logged: line !== undefined }).toMatchObject({ logged: true })
      expect({ ...context, forwarded: seen.length }).toMatchObject({ forwarded: 1 })
      const evaluated = line!.path!
      const received = seen[0]!.target
      const q = received.indexOf('?')
      const receivedPath = q < 0 ? received : received.slice(0, q)
      const receivedQuery = q < 0 ? '' : received.slice(q)
      // The upstream receives exactly the evaluated path, under the configured prefix.
      expect({ ...context, evaluated, received: receivedPath }).toEqual({
        ...context,
        evaluated,
        received: `${PREFIX}${evaluated}`,
      })
      expect({ ...context, evaluated, problem: notNormal(evaluated) }).toEqual({
        ...context,
        evaluated,
        problem: undefined,
      })
      // The query never decides, and passes through as sent.
      expect({ ...context, query: receivedQuery }).toEqual({ ...context, query: queryOf(raw) })
      // Without a token, only a path evaluated as public may have been forwarded.
      if (!withToken) {
        expect({ ...context, evaluated, public: evaluated.startsWith(PUBLIC) }).toEqual({
          ...context,
          evaluated,
          public: true,
        })
      }
    }

    test('the corpus has at least 50 distinct raw request-targets', () => {
      expect(new Set(CORPUS).size).toBe(CORPUS.length)
      expect(CORPUS.length).toBeGreaterThanOrEqual(50)
    })

    for (const raw of CORPUS) {
      test(`${JSON.stringify(raw)}: rejected, or the upstream receives exactly the evaluated path (with a token, then without)`, async () => {
        await check(raw, true)
        await check(raw, false)
      })
    }

    test('the corpus is not vacuous: many targets are forwarded, many rejected, on this runtime', () => {
      const withToken = outcomes.filter((o) => o.withToken)
      if (process.env.JWTGATE_SECURITY_DEBUG) {
        for (const o of outcomes) {
          console.log(
            target.name,
            o.withToken ? 'token ' : 'public',
            JSON.stringify(o.raw),
            o.status ?? 'closed',
            o.forwarded ?? '',
          )
        }
      }
      expect(withToken.filter((o) => o.forwarded !== undefined).length).toBeGreaterThanOrEqual(40)
      expect(withToken.filter((o) => o.forwarded === undefined).length).toBeGreaterThanOrEqual(15)
      expect(outcomes.filter((o) => !o.withToken && o.forwarded !== undefined).length)
        .toBeGreaterThanOrEqual(5)
    })

    test('the gateway is still serving after the corpus', async () => {
      const result = await exchange(
        gateway.port,
        `GET /public/after HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
      )
      expect(result.responses[0]?.status).toBe(200)
    })
  })
}
