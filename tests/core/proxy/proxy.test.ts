import assert from 'node:assert/strict'
import { loadConfig } from '../../../src/core/config/load.ts'
import { decide } from '../../helpers/decide.ts'
import { silentLogger } from '../../../src/core/log.ts'
import {
  decodedByRuntime,
  type Proxied,
  proxy,
  type ProxyDeps,
} from '../../../src/core/proxy/proxy.ts'
import { normalizeTarget } from '../../../src/core/routing/path.ts'
import { buildState, retireState, type State } from '../../../src/core/state.ts'
import { secret, sign } from '../../helpers/keys.ts'
import { type Handler, type RecordingUpstream, recordingUpstream } from '../../helpers/serve.ts'
import { isDeno, test } from '../../helpers/t.ts'

const HS = secret(32)

/** What each entrypoint passes for its runtime's fetch (src/bun.ts, src/deno.ts). */
const DEPS: ProxyDeps = {
  fetch: globalThis.fetch,
  fetchInit: isDeno ? {} : { decompress: false },
  decodedEncodings: isDeno ? ['gzip', 'br'] : [],
  decodesStacked: false,
  headerBuild: isDeno ? 'append' : 'edit',
  connectionIdleMs: undefined,
  now: Date.now,
}

const CLIENT = { address: '192.0.2.7', protocol: 'https' as const, requestId: 'req-1' }

interface Setup {
  readonly state: State
  readonly upstream: RecordingUpstream
  close(): Promise<void>
}

/** A State over one recording upstream; `file` adds to (or replaces parts of) the configuration. */
async function setup(
  file: Record<string, unknown> | ((upstreamUrl: string) => Record<string, unknown>) = {},
  respond?: Handler,
): Promise<Setup> {
  const upstream = await recordingUpstream(respond)
  const text = JSON.stringify({
    providers: { p: { issuer: 'https://p.test', secret: HS.config } },
    upstreams: { api: { url: `${upstream.url}/base` } },
    routes: [{ path: '/*', upstream: 'api', claimHeaders: { sub: 'X-User-Id', roles: 'X-Roles' } }],
    ...(typeof file === 'function' ? file(upstream.url) : file),
  })
  const config = await loadConfig({ JWTGATE_CONFIG: 'x.json' }, { readFile: () => text })
  const state = buildState(config, { fetch, now: Date.now, logger: silentLogger })
  return {
    state,
    upstream,
    async close() {
      retireState(state)
      await upstream.close()
    },
  }
}

const token = (claims: Record<string, unknown> = {}) =>
  sign({ iss: 'https://p.test', sub: 'alice', ...claims }, { alg: 'HS256', key: HS.raw })

/** Decides `request` on `s` (it must be allowed) and proxies it. */
async function send(s: State, request: Request, deps: ProxyDeps = DEPS): Promise<Proxied> {
  const target = normalizeTarget(request.url)
  const decision = await decide(s, request, target)
  return proxy(deps, s, request, target, decision, CLIENT)
}

const clientRequest = (path: string, init: RequestInit = {}) => {
  const headers = new Headers(init.headers)
  headers.set('host', 'gw.test')
  return new Request(`http://gw.test${path}`, { ...init, headers })
}

const bytes = (n: number) => new Uint8Array(n).fill(97)

test('proxy() reports the upstream, its status and time, and the sizes from Content-Length', async () => {
  const g = await setup({}, async (r) => {
    const text = await r.text()
    await new Promise((res) => setTimeout(res, 100))
    return new Response(`echo ${text.length}`, {
      status: 201,
      headers: { connection: 'x-hop', 'x-hop': '1', 'x-up': 'yes' },
    })
  })
  try {
    const p = await send(
      g.state,
      clientRequest('/orders?x=1', {
        method: 'POST',
        body: 'hello, world',
        headers: { authorization: `Bearer ${await token()}`, 'content-length': '12' },
      }),
    )
    assert.equal(p.upstream, 'api')
    assert.equal(p.upstreamStatus, 201)
    // Seconds until the response headers (the upstream waits 0.1 s).
    assert.ok(p.upstreamSeconds! >= 0.09 && p.upstreamSeconds! < 1, String(p.upstreamSeconds))
    assert.equal(p.bytesIn, 12)
    assert.equal(p.bytesOut, 7) // 'echo 12', as the upstream's Content-Length says
    assert.equal(p.requestBodyEnd, undefined)
    assert.equal(p.responseBodyEnd, undefined)
    assert.equal(p.ended, undefined)
    assert.equal(p.response.status, 201)
    assert.equal(p.response.headers.get('x-up'), 'yes')
    assert.equal(p.response.headers.get('x-hop'), null)
    assert.equal(p.response.headers.get('x-request-id'), 'req-1')
    assert.equal(await p.response.text(), 'echo 12')
    const seen = g.upstream.seen[0]!
    assert.deepEqual([seen.method, seen.path, seen.search], ['POST', '/base/orders', '?x=1'])
    assert.equal(seen.headers.get('x-forwarded-proto'), 'https')
    assert.equal(seen.headers.get('x-forwarded-for'), '192.0.2.7')
    assert.equal(seen.headers.get('x-forwarded-host'), 'gw.test')
    assert.equal(seen.headers.get('x-request-id'), 'req-1')
  } finally {
    await g.close()
  }
})

test('proxy(): the upstream timeout ends with the response headers, a slow body and a slow upload go on', async () => {
  // The deadline's slot is given up once the headers arrive: were it kept, the sweep would abort
  // the body 150 ms in (deadline.ts), or a watched upload still moving.
  const g = await setup(
    (url) => ({ upstreams: { api: { url: `${url}/base`, timeout: '150ms' } } }),
    async (r) => {
      const got = await r.text()
      return new Response(
        new ReadableStream({
          async start(c) {
            c.enqueue(new TextEncoder().encode(`${got.length}:a`))
            await new Promise((res) => setTimeout(res, 400))
            c.enqueue(new TextEncoder().encode('b'))
            c.close()
          },
        }),
      )
    },
  )
  try {
    for (const init of [{}, { method: 'POST', body: 'x'.repeat(10) }]) {
      const headers = { authorization: `Bearer ${await token()}` }
      const p = await send(g.state, clientRequest('/slow', { ...init, headers }))
      assert.equal(p.response.status, 200)
      assert.equal(await p.response.text(), `${'body' in init ? 10 : 0}:ab`)
    }
  } finally {
    await g.close()
  }
})

test('proxy() leaves a response without a length unwatched when the connection idle timeout covers it', async () => {
  const g = await setup({}, () =>
    new Response(
      new ReadableStream({
        start(c) {
          c.enqueue(bytes(300))
          c.close()
        },
      }),
    ))
  try {
    const request = async () =>
      clientRequest('/s', { headers: { authorization: `Bearer ${await token()}` } })
    // The server closes connections silent for 2 minutes, the stream idle timeout: no watch.
    const covered = { ...DEPS, connectionIdleMs: 120_000 }
    const untouched = await send(g.state, await request(), covered)
    assert.equal(untouched.ended, undefined)
    assert.equal((await untouched.response.arrayBuffer()).byteLength, 300)
    assert.equal(untouched.bytesOut, undefined)
    assert.equal(untouched.response.headers.get('x-request-id'), 'req-1')
    // Longer than the stream idle timeout: the gateway watches it itself.
    const watched = await send(g.state, await request(), { ...DEPS, connectionIdleMs: 120_001 })
    assert.ok(watched.ended instanceof Promise)
    assert.equal((await watched.response.arrayBuffer()).byteLength, 300)
    await watched.ended
    assert.equal(watched.bytesOut, 300)
  } finally {
    await g.close()
  }
})

test('proxy() watches a response without a length: `ended` resolves once it is read, with its bytes', async () => {
  const g = await setup({}, () =>
    new Response(
      new ReadableStream({
        async start(c) {
          for (const n of [100, 2000, 37]) {
            c.enqueue(bytes(n))
            await new Promise((r) => setTimeout(r, 20))
          }
          c.close()
        },
      }),
    ))
  try {
    const p = await send(
      g.state,
      clientRequest('/s', { headers: { authorization: `Bearer ${await token()}` } }),
    )
    assert.equal(p.upstreamStatus, 200)
    assert.ok(p.ended instanceof Promise)
    assert.equal(p.bytesOut, undefined)
    assert.equal(p.bytesIn, undefined)
    let settled = false
    void p.ended.then(() => (settled = true))
    await new Promise((r) => setTimeout(r, 10))
    assert.equal(settled, false)
    assert.equal((await p.response.arrayBuffer()).byteLength, 2137)
    await p.ended
    assert.equal(p.bytesOut, 2137)
    assert.equal(p.responseBodyEnd, 'done')
    assert.equal(p.response.headers.get('x-request-id'), 'req-1')
  } finally {
    await g.close()
  }
})

test('proxy(): a watched response that stalls past the stream idle timeout ends as idle', async () => {
  const g = await setup({ limits: { streamIdleTimeout: '150ms' } }, () =>
    new Response(
      new ReadableStream({
        start(c) {
          c.enqueue(bytes(5))
        },
      }),
    ))
  try {
    const p = await send(
      g.state,
      clientRequest('/s', { headers: { authorization: `Bearer ${await token()}` } }),
    )
    await assert.rejects(p.response.arrayBuffer())
    await p.ended
    assert.equal(p.responseBodyEnd, 'idle')
    assert.equal(p.bytesOut, 5)
  } finally {
    await g.close()
  }
})

test('proxy() counts a request body without a length as it streams, when watched', async () => {
  const g = await setup(
    { limits: { maxBody: 10_000 } },
    async (r) => new Response(String((await r.arrayBuffer()).byteLength)),
  )
  try {
    const chunks = [bytes(300), bytes(700)]
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        const next = chunks.shift()
        if (next === undefined) c.close()
        else c.enqueue(next)
      },
    })
    const p = await send(
      g.state,
      clientRequest('/up', {
        method: 'POST',
        body,
        headers: { authorization: `Bearer ${await token()}` },
        duplex: 'half',
      } as RequestInit),
    )
    assert.equal(await p.response.text(), '1000')
    assert.equal(p.bytesIn, 1000)
    assert.equal(p.requestBodyEnd, 'done')
  } finally {
    await g.close()
  }
})

/** A provider looking for tokens in four places, the cookie first. */
const FOUR_SOURCES = (forwardToken: boolean) => ({
  forwardToken,
  providers: {
    p: {
      issuer: 'https://p.test',
      secret: HS.config,
      tokenSources: ['cookie:sess', 'header:Authorization', 'query:at', 'header:X-Token'],
    },
  },
})

test('proxy() removes every token source from the upstream request but the verified copy it forwards', async () => {
  const g = await setup(FOUR_SOURCES(true))
  try {
    const t = await token()
    const p = await send(
      g.state,
      clientRequest(`/x?a=1&at=other&b=2`, {
        headers: {
          cookie: `theme=dark; sess=${t}; lang=en`,
          authorization: 'Bearer other.token.here',
          'x-token': 'other',
        },
      }),
    )
    assert.equal(p.upstreamStatus, 200)
    const seen = g.upstream.seen[0]!
    assert.equal(seen.headers.get('cookie'), `theme=dark; sess=${t}; lang=en`)
    assert.equal(seen.headers.get('authorization'), null)
    assert.equal(seen.headers.get('x-token'), null)
    assert.equal(seen.search, '?a=1&b=2')
  } finally {
    await g.close()
  }
})

test('proxy() without forwardToken removes every copy, and keeps what is not a token', async () => {
  const g = await setup(FOUR_SOURCES(false))
  try {
    const t = await token()
    await send(
      g.state,
      clientRequest(`/x?at=${t}&keep=1`, {
        headers: { cookie: `sess=${t}; theme=dark`, authorization: 'Basic dXNlcjpwdw==' },
      }),
    )
    const seen = g.upstream.seen[0]!
    assert.equal(seen.headers.get('cookie'), 'theme=dark')
    assert.equal(seen.headers.get('authorization'), 'Basic dXNlcjpwdw==')
    assert.equal(seen.search, '?keep=1')
    // A verified token in the only cookie: the header goes altogether.
    await send(g.state, clientRequest('/y', { headers: { cookie: `sess=${t}` } }))
    assert.equal(g.upstream.seen[1]!.headers.get('cookie'), null)
  } finally {
    await g.close()
  }
})

test('proxy() appends the route’s claim headers after dropping the client’s copies in any spelling', async () => {
  const g = await setup()
  try {
    await send(
      g.state,
      clientRequest('/x', {
        headers: {
          authorization: `Bearer ${await token({ roles: ['admin', 'ops'] })}`,
          'x-user-id': 'mallory',
          'x_user.id': 'mallory',
          'x-roles': 'root',
        },
      }),
    )
    const seen = g.upstream.seen[0]!
    assert.equal(seen.headers.get('x-user-id'), 'alice')
    assert.equal(seen.headers.get('x_user.id'), null)
    assert.equal(seen.headers.get('x-roles'), 'admin,ops')
    assert.equal(seen.headers.get('authorization'), null)
  } finally {
    await g.close()
  }
})

test('proxy(): a public route forwards no claim headers, and no client copy of them', async () => {
  const g = await setup({
    routes: [{ path: '/*', upstream: 'api', auth: 'public' }, {
      path: '/never',
      upstream: 'api',
      claimHeaders: { sub: 'X-User-Id' },
    }],
  })
  try {
    await send(
      g.state,
      clientRequest('/x', { headers: { 'x-user-id': 'mallory', 'x-other': '1' } }),
    )
    const seen = g.upstream.seen[0]!
    assert.equal(seen.headers.get('x-user-id'), null)
    assert.equal(seen.headers.get('x-other'), '1')
  } finally {
    await g.close()
  }
})

test('proxy() leaves Accept-Encoding to a runtime whose fetch decodes bodies itself', async () => {
  const g = await setup({ routes: [{ path: '/*', upstream: 'api', auth: 'public' }] })
  try {
    const request = () => clientRequest('/x', { headers: { 'accept-encoding': 'x-custom' } })
    await send(g.state, request(), { ...DEPS, decodedEncodings: [] })
    await send(g.state, request(), { ...DEPS, decodedEncodings: ['gzip'] })
    assert.equal(g.upstream.seen[0]!.headers.get('accept-encoding'), 'x-custom')
    assert.notEqual(g.upstream.seen[1]!.headers.get('accept-encoding'), 'x-custom')
  } finally {
    await g.close()
  }
})

test('proxy() copies responses whose headers are immutable, and learns it from the first', async () => {
  const g = await setup({}, () =>
    new Response('ok', {
      headers: { 'content-length': '2', connection: 'x-hop', 'x-hop': '1', 'x-kept': '1' },
    }))
  try {
    // Headers that refuse every change, as Deno's and undici's fetch responses have.
    let refused = 0
    const immutable = (headers: Headers) =>
      new Proxy(headers, {
        get(target, key) {
          if (key === 'set' || key === 'delete' || key === 'append') {
            return () => {
              refused++
              throw new TypeError('immutable')
            }
          }
          const value = Reflect.get(target, key)
          return typeof value === 'function' ? value.bind(target) : value
        },
      })
    const deps: ProxyDeps = {
      ...DEPS,
      immutableResponses: undefined,
      fetch: (async (url: string, init: RequestInit) => {
        const response = await fetch(url, init)
        Object.defineProperty(response, 'headers', { value: immutable(response.headers) })
        return response
      }) as typeof fetch,
    }
    for (let i = 0; i < 3; i++) {
      const request = clientRequest('/x', { headers: { authorization: `Bearer ${await token()}` } })
      const p = await send(g.state, request, deps)
      assert.equal(p.response.headers.get('x-request-id'), 'req-1')
      assert.equal(p.response.headers.get('x-hop'), null)
      assert.equal(p.response.headers.get('x-kept'), '1')
      assert.equal(await p.response.text(), 'ok')
    }
    assert.equal(deps.immutableResponses, true)
    assert.equal(refused, 1)
  } finally {
    await g.close()
  }
})

test('decodedByRuntime(): decoded when the coding, or with stacked decoding every coding listed, is one the runtime decodes', () => {
  const undici = ['gzip', 'x-gzip', 'deflate', 'br']
  assert.equal(decodedByRuntime('gzip', undici, true), true)
  assert.equal(decodedByRuntime(' GZIP ', undici, true), true)
  assert.equal(decodedByRuntime('gzip, br', undici, true), true)
  assert.equal(decodedByRuntime('deflate,gzip', undici, true), true)
  assert.equal(decodedByRuntime('gzip, zstd', undici, true), false)
  assert.equal(decodedByRuntime('identity', undici, true), false)
  assert.equal(decodedByRuntime('', undici, true), false)
  assert.equal(decodedByRuntime(' , ', undici, true), false)
  assert.equal(decodedByRuntime('gzip', [], true), false)
  // Deno's fetch decodes one coding only: a stacked body reaches the client as it was sent.
  assert.equal(decodedByRuntime('gzip', ['gzip', 'br'], false), true)
  assert.equal(decodedByRuntime('gzip, br', ['gzip', 'br'], false), false)
})

test('proxy(): a watched upload whose client pauses longer than the upstream timeout goes on; a stall past the idle timeout is 408, never 504', async () => {
  // The upstream is not waited for while the client is: its deadline stops until the next chunk.
  const g = await setup(
    (url) => ({
      upstreams: { api: { url: `${url}/base`, timeout: '200ms' } },
      limits: { maxBody: '1mb', streamIdleTimeout: '900ms' },
    }),
    async (r) => new Response(`got ${(await r.text()).length}`),
  )
  const upload = (pauseMs: number) =>
    new ReadableStream<Uint8Array>({
      async start(c) {
        c.enqueue(bytes(10))
        await new Promise((res) => setTimeout(res, pauseMs))
        c.enqueue(bytes(5))
        c.close()
      },
    })
  const post = async (pauseMs: number) =>
    send(
      g.state,
      clientRequest('/up', {
        method: 'POST',
        body: upload(pauseMs),
        headers: { authorization: `Bearer ${await token()}` },
        duplex: 'half',
      } as RequestInit),
    )
  try {
    const paused = await post(500) // past the upstream timeout, within the idle timeout
    assert.equal(paused.response.status, 200)
    assert.equal(await paused.response.text(), 'got 15')
    const stalled = await post(1500).catch((e) => e)
    assert.equal(stalled.code, 'request_timeout')
    assert.equal(stalled.status, 408)
  } finally {
    await g.close()
  }
})
