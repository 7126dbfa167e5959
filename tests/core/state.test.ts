import assert from 'node:assert/strict'
import { TokenCache } from '../../src/core/auth/cache.ts'
import { describeTokenSource } from '../../src/core/auth/token.ts'
import { type Config, loadConfig } from '../../src/core/config/load.ts'
import { silentLogger } from '../../src/core/log.ts'
import { Metrics } from '../../src/core/metrics.ts'
import { NOT_FORWARDED_PREFIXES } from '../../src/core/proxy/headers.ts'
import { RateLimiter } from '../../src/core/rate-limit.ts'
import { buildState, isReady, retireState, type State } from '../../src/core/state.ts'
import { keyPair, secret } from '../helpers/keys.ts'
import { serve, type TestServer } from '../helpers/serve.ts'
import { test } from '../helpers/t.ts'

const A = secret(32)
const B = secret(32)

/** A configuration from a JSON file text. */
function load(file: Record<string, unknown>): Promise<Config> {
  const text = JSON.stringify({ upstreams: { main: { url: 'http://127.0.0.1:9' } }, ...file })
  return loadConfig({ JWTGATE_CONFIG: 'state.json' }, { readFile: () => text })
}

const deps = (metrics?: Metrics) => ({
  fetch: globalThis.fetch,
  now: Date.now,
  logger: silentLogger,
  metrics,
})

/** Two providers with overlapping token sources, and routes accepting them in different orders. */
const TWO_PROVIDERS = {
  stripHeaders: ['X-Internal-*', 'X_Secret.Thing', 'X-Debug'],
  limits: { maxHeaderBytes: 4096 },
  providers: {
    a: {
      issuer: 'https://a.test',
      secret: A.config,
      tokenSources: ['header:Authorization', 'cookie:sess'],
    },
    b: {
      issuer: 'https://b.test',
      secret: B.config,
      tokenSources: ['cookie:sess', 'query:at', 'header:X-Token'],
    },
  },
  routes: [
    { path: '/a/*', upstream: 'main', providers: ['a'], claimHeaders: { sub: 'X_User.Id' } },
    {
      path: '/ba/*',
      upstream: 'main',
      providers: ['b', 'a'],
      claimHeaders: { tenant: 'X-Tenant' },
    },
    { path: '/all/*', upstream: 'main' },
    { path: '/p/*', upstream: 'main', auth: 'public' },
  ],
}

/** A route's token sources as written, and per source the names of the providers verifying it. */
function describeAuth(s: State, index: number) {
  const auth = s.auth.get(s.config.routes[index]!)!
  return {
    sources: auth.sources.map(describeTokenSource),
    candidates: auth.sources.map((src) => [
      describeTokenSource(src),
      auth.candidates.get(src)!.map((p) => p.config.name),
    ]),
  }
}

test('buildState(): each route looks where its providers look, and a source is verified only by providers listing it', async () => {
  const s = buildState(await load(TWO_PROVIDERS), deps())
  try {
    assert.equal(s.auth.size, 4)
    assert.deepEqual(describeAuth(s, 0), {
      sources: ['header:Authorization', 'cookie:sess'],
      candidates: [['header:Authorization', ['a']], ['cookie:sess', ['a']]],
    })
    // The route's provider order: b's sources first, a shared source verified by b then a.
    assert.deepEqual(describeAuth(s, 1), {
      sources: ['cookie:sess', 'query:at', 'header:x-token', 'header:Authorization'],
      candidates: [
        ['cookie:sess', ['b', 'a']],
        ['query:at', ['b']],
        ['header:x-token', ['b']],
        ['header:Authorization', ['a']],
      ],
    })
    // No providers named: every provider, in file order.
    assert.deepEqual(describeAuth(s, 2), {
      sources: ['header:Authorization', 'cookie:sess', 'query:at', 'header:x-token'],
      candidates: [
        ['header:Authorization', ['a']],
        ['cookie:sess', ['a', 'b']],
        ['query:at', ['b']],
        ['header:x-token', ['b']],
      ],
    })
    assert.deepEqual(describeAuth(s, 3), { sources: [], candidates: [] })
    // Candidates are the State's providers themselves.
    const auth = s.auth.get(s.config.routes[1]!)!
    assert.equal(auth.candidates.get(auth.sources[0]!)![0], s.providers.get('b'))
    assert.equal(auth.candidates.size, auth.sources.length)
  } finally {
    retireState(s)
  }
})

test('buildState(): the header filter folds every route’s claim headers and the operator’s names', async () => {
  const s = buildState(await load(TWO_PROVIDERS), deps())
  try {
    const f = s.headerFilter
    assert.deepEqual([...f.strip].sort(), ['x-debug', 'x-secret-thing', 'x-tenant', 'x-user-id'])
    assert.deepEqual(f.prefixes.list, [...NOT_FORWARDED_PREFIXES, 'x-internal-'])
    // A query source makes the Referer a carrier too (a page opened with the token in its URL).
    assert.deepEqual([...f.tokenHeaders.keys()], ['authorization', 'x-token', 'referer'])
    const authorization = f.tokenHeaders.get('authorization')!
    assert.equal(describeTokenSource(authorization.source), 'header:Authorization')
    assert.equal(authorization.carries('Bearer x.y.z'), true)
    assert.equal(authorization.carries('Basic dXNlcjpwdw=='), false)
    assert.equal(f.tokenHeaders.get('x-token')!.carries('anything'), true)
    assert.equal(f.maxBytes, 4096)
    // Cookies and query parameters cannot be taken out by the header pass.
    assert.deepEqual(s.afterHeaders.map(describeTokenSource), ['cookie:sess', 'query:at'])
  } finally {
    retireState(s)
  }
})

test('buildState(): a provider with the default token source; nothing stripped beyond the built-in lists', async () => {
  const s = buildState(
    await load({
      providers: { a: { secret: A.config } },
      routes: [{ path: '/*', upstream: 'main' }],
    }),
    deps(),
  )
  try {
    assert.deepEqual(describeAuth(s, 0).sources, ['header:Authorization', 'protocol:bearer'])
    assert.deepEqual([...s.headerFilter.strip], [])
    assert.deepEqual(s.headerFilter.prefixes.list, NOT_FORWARDED_PREFIXES)
    assert.deepEqual([...s.headerFilter.tokenHeaders.keys()], [
      'authorization',
      'sec-websocket-protocol',
    ])
    assert.deepEqual(s.afterHeaders, [])
    assert.deepEqual(s.tokenProtocols, [{ kind: 'protocol', name: 'bearer' }])
    assert.equal(s.limiter, undefined)
  } finally {
    retireState(s)
  }
})

test('buildState(): upstreams by name, routes compiled in order, providers with their static keys', async () => {
  const metrics = new Metrics()
  const s = buildState(await load(TWO_PROVIDERS), deps(metrics))
  try {
    assert.deepEqual([...s.upstreams.keys()], ['main'])
    assert.equal(s.upstreams.get('main'), s.config.upstreams[0])
    assert.deepEqual(s.routes.map((r) => r.route), s.config.routes)
    assert.deepEqual(s.routes.map((r) => r.pattern), ['/a/*', '/ba/*', '/all/*', '/p/*'])
    assert.deepEqual([...s.providers.keys()], ['a', 'b'])
    assert.deepEqual(s.providers.get('a')!.sources.map((k) => k.label), ['secret'])
    assert.equal(s.providers.get('a')!.config, s.config.providers[0])
    assert.equal(s.metrics, metrics)
    assert.equal(s.remotes.size, 0)
    assert.equal(s.keysVersion('a'), 0)
    assert.equal(s.keysVersion('nobody'), 0)
    assert.equal(isReady(s), true)
  } finally {
    retireState(s)
  }
})

test('buildState(): the token cache follows tokenCache.size, and every State has its own', async () => {
  const config = await load({ ...TWO_PROVIDERS, tokenCache: { size: 7, maxAge: '2m' } })
  const s = buildState(config, deps())
  const next = buildState(config, deps(), s)
  const off = buildState(await load({ ...TWO_PROVIDERS, tokenCache: { size: 0 } }), deps())
  try {
    assert.ok(s.cache instanceof TokenCache)
    assert.deepEqual(s.cache.options, { maxEntries: 7, maxAgeMs: 120_000 })
    assert.ok(next.cache instanceof TokenCache)
    assert.notEqual(next.cache, s.cache)
    assert.equal(off.cache, undefined)
  } finally {
    for (const st of [s, next, off]) retireState(st)
  }
})

test('buildState(): a reload with the same rateLimit keeps the limiter and its buckets; another replaces it', async () => {
  const limited = await load({ ...TWO_PROVIDERS, rateLimit: '2/1m' })
  const first = buildState(limited, deps())
  assert.ok(first.limiter instanceof RateLimiter)
  assert.deepEqual(first.limiter.rate, { limit: 2, periodMs: 60_000 })
  const now = Date.now()
  first.limiter.take('ip:x', now)
  first.limiter.take('ip:x', now)
  assert.ok(first.limiter.take('ip:x', now) > 0)

  // The same limit, in a configuration loaded again and otherwise changed.
  const same = buildState(
    await load({ ...TWO_PROVIDERS, rateLimit: '2/1m', stripHeaders: ['X-Other'] }),
    deps(),
    first,
  )
  assert.equal(same.limiter, first.limiter)
  assert.ok(same.limiter!.take('ip:x', now) > 0)

  const other = buildState(await load({ ...TWO_PROVIDERS, rateLimit: '3/1m' }), deps(), same)
  assert.ok(other.limiter instanceof RateLimiter)
  assert.notEqual(other.limiter, first.limiter)
  assert.deepEqual(other.limiter.rate, { limit: 3, periodMs: 60_000 })
  assert.equal(other.limiter.take('ip:x', now), 0)

  const none = buildState(await load(TWO_PROVIDERS), deps(), other)
  assert.equal(none.limiter, undefined)
  const again = buildState(await load({ ...TWO_PROVIDERS, rateLimit: '3/1m' }), deps(), none)
  assert.ok(again.limiter instanceof RateLimiter)
  assert.notEqual(again.limiter, other.limiter)
  // Without a previous State, always a new limiter.
  assert.notEqual(buildState(limited, deps()).limiter, first.limiter)
})

interface Jwks extends TestServer {
  /** Requests per path. */
  readonly hits: Map<string, number>
}

/** A JWK Set server: any path answers the key set, or `status` when it is not 200. */
async function jwksServer(status = 200): Promise<Jwks> {
  const key = await keyPair('RS256', 'k1')
  const hits = new Map<string, number>()
  const server = await serve((request) => {
    const path = new URL(request.url).pathname
    hits.set(path, (hits.get(path) ?? 0) + 1)
    if (status !== 200) return new Response('no', { status })
    return Response.json({ keys: [{ ...key.publicJwk, alg: 'RS256', use: 'sig' }] })
  })
  return Object.assign(server, { hits })
}

const remote = (url: string, extra: Record<string, unknown> = {}) => ({
  issuer: 'https://idp.test',
  jwksUrl: url,
  ...extra,
})

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting')
    await new Promise((r) => setTimeout(r, 10))
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

test('buildState(): a remote key source loads in the background; isReady() waits for it', async () => {
  const jwks = await jwksServer()
  const metrics = new Metrics()
  const config = await load({
    providers: {
      r: remote(`${jwks.url}/r`),
      local: { issuer: 'https://l.test', secret: A.config },
    },
    routes: [{ path: '/*', upstream: 'main' }],
  })
  const s = buildState(config, deps(metrics))
  try {
    assert.equal(isReady(s), false)
    assert.equal(s.keysVersion('r'), 0)
    assert.deepEqual(s.providers.get('r')!.sources.map((k) => k.label), [`jwks ${jwks.url}/r`])
    await until(() => isReady(s))
    assert.equal(s.keysVersion('r'), 1)
    assert.equal(s.keysVersion('local'), 0)
    assert.equal(jwks.hits.get('/r'), 1)
    assert.equal(metrics.jwksFetches.get(['r', 'success']), 1)
  } finally {
    retireState(s)
    await jwks.close()
  }
})

test('buildState(): providers with the same remote settings share one source; other settings get their own', async () => {
  const jwks = await jwksServer()
  const config = await load({
    providers: {
      one: remote(`${jwks.url}/k`),
      two: remote(`${jwks.url}/k`, { audience: 'api' }),
      three: remote(`${jwks.url}/k`, { jwksTimeout: '3s' }),
    },
    routes: [{ path: '/*', upstream: 'main' }],
  })
  const s = buildState(config, deps())
  try {
    const source = (name: string) => s.providers.get(name)!.sources[0]
    assert.equal(source('one'), source('two'))
    assert.notEqual(source('one'), source('three'))
    assert.equal(s.remotes.size, 2)
    await until(() => isReady(s))
    assert.equal(jwks.hits.get('/k'), 2)
  } finally {
    retireState(s)
    await jwks.close()
  }
})

test('buildState(): a reload reuses loaded remote sources whose settings did not change; retireState() keeps those', async () => {
  const jwks = await jwksServer()
  const providers = (timeout: string) => ({
    same: remote(`${jwks.url}/same`),
    changed: remote(`${jwks.url}/changed`, { jwksTimeout: timeout }),
  })
  const first = buildState(
    await load({ providers: providers('2s'), routes: [{ path: '/*', upstream: 'main' }] }),
    deps(),
  )
  await until(() => isReady(first))
  const next = buildState(
    await load({ providers: providers('3s'), routes: [{ path: '/x/*', upstream: 'main' }] }),
    deps(),
    first,
  )
  try {
    const src = (s: State, name: string) => s.providers.get(name)!.sources[0]!
    assert.equal(src(next, 'same'), src(first, 'same'))
    assert.notEqual(src(next, 'changed'), src(first, 'changed'))
    // The carried source has its keys already; the new one starts afresh.
    assert.notEqual(src(next, 'same').current(), undefined)
    assert.equal(src(next, 'changed').current(), undefined)
    assert.equal(isReady(next), false)
    retireState(first, next)
    await until(() => isReady(next))
    assert.equal(jwks.hits.get('/same'), 1)
    assert.equal(jwks.hits.get('/changed'), 2)
  } finally {
    retireState(next)
    await jwks.close()
  }
})

test('retireState() stops the old remote sources the next State does not carry, and only those', async () => {
  // Never loads: each source retries (after 0.5 s, then 1 s …) until it is closed.
  const jwks = await jwksServer(503)
  const config = (timeout: string) =>
    load({
      providers: {
        kept: remote(`${jwks.url}/kept`),
        dropped: remote(`${jwks.url}/dropped`, { jwksTimeout: timeout }),
      },
      routes: [{ path: '/*', upstream: 'main' }],
    })
  const old = buildState(await config('2s'), deps())
  const next = buildState(await config('3s'), deps(), old)
  try {
    await until(() => jwks.hits.get('/kept') === 1 && jwks.hits.get('/dropped') === 2)
    retireState(old, next)
    await sleep(800)
    // The carried source retried (once, at 0.5 s); the dropped one of `old` did not.
    assert.equal(jwks.hits.get('/kept'), 2)
    assert.equal(jwks.hits.get('/dropped'), 3)
    retireState(next)
    await sleep(1200)
    assert.equal(jwks.hits.get('/kept'), 2)
    assert.equal(jwks.hits.get('/dropped'), 3)
  } finally {
    retireState(next)
    await jwks.close()
  }
})

test('buildState(): operator strip prefixes are folded like names (X_Internal-* takes X-Internal-Role)', async () => {
  const config = await loadConfig({
    JWTGATE_UPSTREAM: 'http://127.0.0.1:9',
    JWTGATE_SECRET: 'a'.repeat(32),
    JWTGATE_STRIP_HEADERS: 'X_Internal-*',
  })
  const state = buildState(config, { fetch: globalThis.fetch, now: Date.now, logger: silentLogger })
  assert.ok(state.headerFilter.prefixes.list.includes('x-internal-'))
  assert.ok(state.headerFilter.prefixes.matches('x-internal-role'))
  retireState(state)
})

test('buildState(): a remote source kept by a reload counts its fetches under the providers that use it now, each of them', async () => {
  const jwks = await jwksServer()
  const metrics = new Metrics()
  const settings = { jwksCooldown: '0s' }
  const first = await load({
    providers: { alpha: remote(`${jwks.url}/k`, settings) },
    routes: [{ path: '/*', upstream: 'main' }],
  })
  const s1 = buildState(first, deps(metrics))
  let s2: State | undefined
  try {
    await until(() => isReady(s1))
    assert.equal(metrics.jwksFetches.get(['alpha', 'success']), 1)
    // Renamed, and a second provider with the same settings: one source, kept.
    const second = await load({
      providers: {
        beta: remote(`${jwks.url}/k`, settings),
        gamma: remote(`${jwks.url}/k`, settings),
      },
      routes: [{ path: '/*', upstream: 'main' }],
    })
    s2 = buildState(second, deps(metrics), s1)
    const source = s2.remotes.values().next().value!
    assert.equal(s2.remotes.size, 1)
    assert.equal(source, s1.remotes.values().next().value)
    assert.equal(await source.refresh(), true)
    assert.equal(metrics.jwksFetches.get(['alpha', 'success']), 1)
    assert.equal(metrics.jwksFetches.get(['beta', 'success']), 1)
    assert.equal(metrics.jwksFetches.get(['gamma', 'success']), 1)
  } finally {
    if (s2 !== undefined) retireState(s1, s2)
    retireState(s2 ?? s1)
    await jwks.close()
  }
})
