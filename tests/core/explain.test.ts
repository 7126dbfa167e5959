import assert from 'node:assert/strict'
import { type Config, loadConfig } from '../../src/core/config/load.ts'
import { explain, type Explanation, formatExplanation } from '../../src/core/explain.ts'
import { keyPair, secret, sign } from '../helpers/keys.ts'
import { type RecordingUpstream, recordingUpstream, serve } from '../helpers/serve.ts'
import { test } from '../helpers/t.ts'

const A = secret(32)

/** One HS256 provider and a few routes over a recording upstream (which explain never calls). */
async function setup(extra: Record<string, unknown> = {}): Promise<{
  config: Config
  upstream: RecordingUpstream
}> {
  const upstream = await recordingUpstream()
  const text = JSON.stringify({
    providers: { alpha: { issuer: 'https://alpha.test', secret: A.config } },
    upstreams: { api: { url: `${upstream.url}/base` } },
    routes: [
      { path: '/orders/:id', methods: ['GET'], upstream: 'api', name: 'read-order' },
      {
        path: '/orders/:id',
        methods: ['DELETE'],
        upstream: 'api',
        require: { scopes: { all: ['orders:delete'] } },
      },
      { path: '/docs/*', upstream: 'api', auth: 'public', stripPrefix: '/docs' },
      { path: '/maybe/*', upstream: 'api', auth: 'optional' },
      { path: '/v1/:a/:b', upstream: 'api', rewrite: '/v2/{params.b}/{method}/{params.a}' },
    ],
    ...extra,
  })
  const config = await loadConfig({ JWTGATE_CONFIG: 'x.json' }, { readFile: () => text })
  return { config, upstream }
}

const token = (claims: Record<string, unknown> = {}, expiresIn?: number) =>
  sign({ iss: 'https://alpha.test', sub: 'ann', ...claims }, {
    alg: 'HS256',
    key: A.raw,
    expiresIn,
  })

const req = (path: string, init: { method?: string; token?: string } = {}) =>
  new Request(`http://gw.test${path}`, {
    method: init.method ?? 'GET',
    headers: {
      host: 'gw.test',
      ...(init.token === undefined ? {} : { authorization: `Bearer ${init.token}` }),
    },
  })

const stepNames = (e: Explanation) => e.steps.map((s) => `${s.ok ? '✓' : '✗'} ${s.step}`)

test('explain: earlier routes are listed with why each did not match, then the match', async () => {
  const { config, upstream } = await setup()
  try {
    const e = await explain(config, req('/orders/7', { method: 'DELETE', token: await token() }))
    assert.deepEqual(stepNames(e).slice(0, 3), [
      '✓ request DELETE /orders/7',
      '✗ routes[0] /orders/:id [GET,HEAD]: method DELETE not listed',
      '✓ routes[1] /orders/:id [DELETE]: matches',
    ])
    assert.equal(e.steps[2]!.detail, 'params {"id":"7"}')
    // The route's name where it has one, else its place.
    assert.equal(e.route, 'routes[1]')
    assert.equal(e.status, 403)
    assert.equal(e.decision, 'insufficient_scope')
    assert.equal(e.upstream, undefined)
    assert.equal(e.path, '/orders/7')
    assert.equal(e.method, 'DELETE')
    assert.deepEqual(e.steps.at(-1), {
      step: 'rejected: insufficient_scope',
      ok: false,
      detail: 'The token lacks a required scope.',
    })
    const named = await explain(config, req('/orders/7', { token: await token() }))
    assert.equal(named.route, 'read-order')
    assert.equal(named.status, 200)
    assert.equal(upstream.seen.length, 0)
  } finally {
    await upstream.close()
  }
})

test('explain: an allowed request gives the upstream URL after stripPrefix or rewrite, never fetched', async () => {
  const { config, upstream } = await setup()
  const fetched: string[] = []
  const fetch = ((input: string | URL | Request, init?: RequestInit) => {
    fetched.push(String(input instanceof Request ? input.url : input))
    return globalThis.fetch(input, init)
  }) as typeof globalThis.fetch
  try {
    const docs = await explain(config, req('/docs/guide/a.md?v=2'), { fetch })
    assert.deepEqual(
      [docs.status, docs.decision, docs.route, docs.upstream],
      [200, 'allowed', 'routes[2]', `${upstream.url}/base/guide/a.md?v=2`],
    )
    assert.deepEqual(stepNames(docs).slice(-2), ['✓ auth public: no token needed', '✓ allowed'])
    const rewritten = await explain(
      config,
      req('/v1/x/y?q', { method: 'PUT', token: await token() }),
      { fetch },
    )
    assert.equal(rewritten.upstream, `${upstream.url}/base/v2/y/PUT/x?q`)
    assert.equal(rewritten.route, 'routes[4]')
    assert.deepEqual(fetched, [])
    assert.equal(upstream.seen.length, 0)
  } finally {
    await upstream.close()
  }
})

test('explain: an optional route without a token is allowed anonymously; a required one is token_missing', async () => {
  const { config, upstream } = await setup()
  try {
    const maybe = await explain(config, req('/maybe/x'))
    assert.equal(maybe.status, 200)
    assert.deepEqual(stepNames(maybe).slice(-2), [
      '✓ token: none found (auth optional)',
      '✓ allowed',
    ])
    const missing = await explain(config, req('/v1/a/b'))
    assert.deepEqual([missing.status, missing.decision, missing.route], [
      401,
      'token_missing',
      'routes[4]',
    ])
    assert.deepEqual(stepNames(missing).slice(-2), [
      '✗ token: none found (auth required)',
      '✗ rejected: token_missing',
    ])
    assert.equal(missing.upstream, undefined)
  } finally {
    await upstream.close()
  }
})

test('explain: a token that does not verify is rejected with its code at the verification step', async () => {
  const { config, upstream } = await setup()
  try {
    const expired = await explain(config, req('/orders/1', { token: await token({}, -120) }))
    assert.deepEqual([expired.status, expired.decision], [401, 'token_expired'])
    assert.deepEqual(
      stepNames(expired).slice(-5),
      [
        '✓ token: found in header:Authorization',
        '✓ token header: alg HS256, iss https://alpha.test',
        '✓ provider alpha',
        '✗ verification',
        '✗ rejected: token_expired',
      ],
    )
    assert.equal(expired.steps.at(-2)!.detail, 'token_expired')
    const forged = await token()
    const bad = await explain(
      config,
      req('/orders/1', { token: `${forged.slice(0, -4)}AAAA` }),
    )
    assert.deepEqual([bad.status, bad.decision], [401, 'bad_signature'])
    const stranger = await explain(
      config,
      req('/orders/1', { token: await token({ iss: 'https://other.test' }) }),
    )
    assert.deepEqual([stranger.status, stranger.decision], [401, 'wrong_issuer'])
    assert.deepEqual(stepNames(stranger).slice(-3), [
      '✓ token header: alg HS256, iss https://other.test',
      '✗ verification',
      '✗ rejected: wrong_issuer',
    ])
    const malformed = await explain(config, req('/orders/1', { token: 'not-a-jwt' }))
    assert.deepEqual([malformed.status, malformed.decision], [401, 'token_malformed'])
    assert.equal(upstream.seen.length, 0)
  } finally {
    await upstream.close()
  }
})

test('explain: a request refused before routing has no route and, where unparsed, no path', async () => {
  const { config, upstream } = await setup()
  try {
    const method = await explain(config, req('/orders/1', { method: 'PROPFIND' }))
    assert.deepEqual(
      [method.status, method.decision, method.route, method.path, method.upstream],
      [405, 'method_not_allowed', undefined, undefined, undefined],
    )
    assert.deepEqual(stepNames(method), ['✗ rejected: method_not_allowed'])
    const path = await explain(config, req('/orders/a%2Fb'))
    assert.deepEqual([path.status, path.decision, path.route, path.path], [
      400,
      'bad_path',
      undefined,
      undefined,
    ])
    const none = await explain(config, req('/nowhere'))
    assert.deepEqual([none.status, none.decision, none.route, none.path], [
      404,
      'no_route',
      undefined,
      '/nowhere',
    ])
    assert.equal(none.steps.length, 1 + 5 + 1)
  } finally {
    await upstream.close()
  }
})

test('explain: waits for a remote key set to load, then verifies with it', async () => {
  const key = await keyPair('RS256', 'kx')
  let hits = 0
  const jwks = await serve(async () => {
    hits++
    await new Promise((r) => setTimeout(r, 150))
    return Response.json({ keys: [{ ...key.publicJwk, alg: 'RS256' }] })
  })
  const { config, upstream } = await setup({
    providers: { remote: { issuer: 'https://idp.test', jwksUrl: `${jwks.url}/jwks` } },
  })
  try {
    const t = await sign({ iss: 'https://idp.test', sub: 'x' }, {
      alg: 'RS256',
      key: key.privateKey,
      kid: 'kx',
    })
    const fetched: string[] = []
    const fetch = ((input: string | URL | Request, init?: RequestInit) => {
      fetched.push(String(input instanceof Request ? input.url : input))
      return globalThis.fetch(input, init)
    }) as typeof globalThis.fetch
    const e = await explain(config, req('/orders/1', { token: t }), { fetch })
    assert.equal(e.status, 200)
    // The key set through the given fetch; the upstream not at all.
    assert.deepEqual(fetched, [`${jwks.url}/jwks`])
    assert.equal(upstream.seen.length, 0)
    assert.ok(stepNames(e).includes('✓ provider remote'))
    assert.ok(!e.steps.some((s) => s.step.startsWith('keys:')))
    assert.equal(hits, 1)
  } finally {
    await jwks.close()
    await upstream.close()
  }
})

test('explain: a key set that does not load in time is a step, and the answer is 503; the source is stopped after', async () => {
  let hits = 0
  const jwks = await serve(() => {
    hits++
    return new Response('down', { status: 503 })
  })
  const { config, upstream } = await setup({
    providers: { remote: { issuer: 'https://idp.test', jwksUrl: `${jwks.url}/jwks` } },
  })
  try {
    const key = await keyPair('RS256', 'kx')
    const t = await sign({ iss: 'https://idp.test' }, { alg: 'RS256', key: key.privateKey })
    const started = Date.now()
    const e = await explain(config, req('/orders/1', { token: t }), { keysTimeoutMs: 150 })
    assert.ok(Date.now() - started < 450)
    assert.deepEqual(e.steps[0], { step: 'keys: a remote key set has not loaded', ok: false })
    assert.deepEqual([e.status, e.decision], [503, 'keys_unavailable'])
    // explain retires its state: the source's start-up retries (after 0.5 s) never happen.
    const seen = hits
    await new Promise((r) => setTimeout(r, 800))
    assert.equal(hits, seen)
  } finally {
    await jwks.close()
    await upstream.close()
  }
})

test('formatExplanation(): one ✓/✗ line per step with its detail, then the outcome', () => {
  const allowed: Explanation = {
    method: 'GET',
    path: '/a',
    status: 200,
    decision: 'allowed',
    route: 'r1',
    upstream: 'http://up.test/a?x=1',
    steps: [
      { step: 'request GET /a?x=1', ok: true },
      { step: 'routes[0] /b: path does not match', ok: false },
      { step: 'routes[1] /:p: matches', ok: true, detail: 'params {"p":"a"}' },
      { step: 'allowed', ok: true },
    ],
  }
  assert.equal(
    formatExplanation(allowed),
    [
      '✓ request GET /a?x=1',
      '✗ routes[0] /b: path does not match',
      '✓ routes[1] /:p: matches (params {"p":"a"})',
      '✓ allowed',
      '→ 200 allowed via route "r1" to http://up.test/a?x=1',
    ].join('\n'),
  )
  const refused: Explanation = {
    method: 'PUT',
    path: undefined,
    status: 404,
    decision: 'no_route',
    route: undefined,
    upstream: undefined,
    steps: [{ step: 'rejected: no_route', ok: false, detail: 'No route matches this request.' }],
  }
  assert.equal(
    formatExplanation(refused),
    '✗ rejected: no_route (No route matches this request.)\n→ 404 no_route',
  )
  assert.equal(
    formatExplanation({
      ...refused,
      status: 401,
      decision: 'token_missing',
      route: 'r',
      steps: [],
    }),
    '→ 401 token_missing via route "r"',
  )
})

test('explain(): an upgrade goes to ws:// on a route that takes them, with the time it would be closed', async () => {
  const { config, upstream } = await setup()
  try {
    const t = await token({ exp: 2_000_000_000 })
    const headers = { host: 'gw.test', authorization: `Bearer ${t}`, upgrade: 'websocket' }
    const ok = await explain(config, new Request('http://gw.test/orders/7', { headers }))
    assert.equal(ok.status, 101)
    assert.equal(ok.upstream, `ws${upstream.url.slice(4)}/base/orders/7`)
    const line = ok.steps.find((s) => s.step.startsWith('websocket:'))!.step
    assert.match(line, /closed \(1008\) at 2033-05-18T03:33:50\.000Z: exp \+ 30 s clock skew/)
    // A public route takes no upgrades unless it says so.
    const pub = await explain(
      config,
      new Request('http://gw.test/docs/a', { headers: { host: 'gw.test', upgrade: 'websocket' } }),
    )
    assert.equal(pub.status, 403)
    assert.equal(pub.decision, 'websocket_not_allowed')
  } finally {
    await upstream.close()
  }
})

test('formatExplanation(): a token’s values never reach the terminal as its commands', () => {
  // A role an identity provider's user may set: escapes clearing the screen and setting the window
  // title, and a line break forging an outcome line.
  const role = '\u001b[2J\u001b[31mFAKE\nrejected: nothing\u001b]0;pwned\u0007\u202e'
  const text = formatExplanation({
    method: 'GET',
    path: '/a',
    status: 403,
    decision: 'insufficient_role',
    route: 'r1',
    upstream: undefined,
    steps: [{
      step: 'routes[0].require.roles: any of [admin] in roles',
      ok: false,
      detail: `saw [${role}]`,
    }],
  })
  assert.equal(text.split('\n').length, 2)
  // deno-lint-ignore no-control-regex -- the control characters are what it looks for
  assert.ok(!/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/.test(text), JSON.stringify(text))
  assert.ok(text.includes('\\u001b[2J\\u001b[31mFAKE\\u000arejected: nothing'), text)
})

test('explain: with revocations configured, a token without iat or older than the longest token lifetime is refused as the gateway refuses it', async () => {
  const { config, upstream } = await setup({
    revocations: { file: '/var/lib/jwtgate/revoked.jsonl', maxTokenLifetime: '1h' },
  })
  const plain = await setup()
  try {
    const old = await token({ iat: Math.floor(Date.now() / 1000) - 7200 })
    const dateless = await token({ iat: undefined })
    const young = await token()
    const refused = await explain(config, req('/orders/1', { token: old }))
    assert.deepEqual([refused.status, refused.decision], [401, 'token_too_old'])
    const missing = await explain(config, req('/orders/1', { token: dateless }))
    assert.deepEqual([missing.status, missing.decision], [401, 'claim_missing'])
    const allowed = await explain(config, req('/orders/1', { token: young }))
    assert.equal(allowed.decision, 'allowed')
    assert.ok(
      stepNames(allowed).includes('✓ token: issued within the longest token lifetime (3600s)'),
    )
    // Without revocations neither is looked at.
    for (const t of [old, dateless]) {
      assert.equal(
        (await explain(plain.config, req('/orders/1', { token: t }))).decision,
        'allowed',
      )
    }
  } finally {
    await upstream.close()
    await plain.upstream.close()
  }
})
