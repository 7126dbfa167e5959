import assert from 'node:assert/strict'
import { loadConfig } from '../../src/core/config/load.ts'
import { explain, formatExplanation } from '../../src/core/explain.ts'
import { createGateway } from '../../src/core/gateway.ts'
import { createLogger } from '../../src/core/log.ts'
import { keyPair, secret, sign } from '../helpers/keys.ts'
import { recordingUpstream } from '../helpers/serve.ts'
import { test } from '../helpers/t.ts'

const A = secret(32)
const B = secret(32)

async function setup(extraRoutes = '', top = '') {
  const orders = await recordingUpstream(async (r) => {
    if (new URL(r.url).pathname.startsWith('/slow')) {
      await new Promise((res) => setTimeout(res, 300))
    }
    return Response.json({ path: new URL(r.url).pathname })
  })
  const files = await recordingUpstream()
  const text = `${top}
providers:
  alpha: { issuer: https://alpha.test, secret: "${A.config}" }
  beta: { issuer: https://beta.test, secret: "${B.config}" }
upstreams:
  orders: { url: "${orders.url}" }
  files: { url: "${files.url}/store" }
routes:
${extraRoutes}  - { path: /public/*, upstream: orders, auth: public }
  - path: /orders/:id
    methods: [GET]
    upstream: orders
    claimHeaders: { sub: X-User-Id }
    require: { scopes: { all: [orders:read] } }
  - path: /orders/:id
    methods: [DELETE]
    upstream: orders
    providers: [alpha]
    require: { roles: { any: [admin], claim: realm_access.roles } }
  - path: /tenants/:tenant/*
    upstream: orders
    claimHeaders: { tenant: X-Tenant }
    require: { claims: [{ claim: tenant, equals: "{params.tenant}" }] }
  - { path: /maybe/*, upstream: orders, auth: optional, claimHeaders: { sub: X-User-Id } }
  - { path: /files/*, upstream: files, stripPrefix: /files }
  - { path: /v1/items/:id, upstream: files, rewrite: "/items/{params.id}" }
  - { path: /slow/*, upstream: orders }
`
  const files_ = { '/c.yaml': text }
  const readFile = (p: string) =>
    (files_ as Record<string, string>)[p] ?? (() => {
      throw new Error('ENOENT')
    })()
  const config = await loadConfig({ JWTGATE_CONFIG: '/c.yaml' }, { readFile })
  const lines: string[] = []
  const gateway = createGateway(config, {
    logger: createLogger({ level: 'info', format: 'json', sink: (l) => lines.push(l) }),
  })
  const call = (
    method: string,
    path: string,
    token?: string,
    headers: Record<string, string> = {},
  ) =>
    gateway.fetch(
      new Request(`http://gw${path}`, {
        method,
        headers: token ? { ...headers, authorization: `Bearer ${token}` } : headers,
      }),
    )
  return {
    orders,
    files,
    gateway,
    config,
    lines,
    call,
    readFile,
    files_,
    close: async () => (gateway.close(), await orders.close(), await files.close()),
  }
}

const alpha = (claims: Record<string, unknown>) =>
  sign({ iss: 'https://alpha.test', sub: 'ann', ...claims }, { alg: 'HS256', key: A.raw })
const beta = (claims: Record<string, unknown>) =>
  sign({ iss: 'https://beta.test', sub: 'bob', ...claims }, { alg: 'HS256', key: B.raw })

test('routes: tokens of two issuers are each verified by their own provider', async () => {
  const g = await setup()
  try {
    const a = await g.call('GET', '/orders/1', await alpha({ scope: 'orders:read' }))
    const b = await g.call('GET', '/orders/2', await beta({ scope: 'orders:read' }))
    assert.deepEqual([a.status, b.status], [200, 200])
    assert.deepEqual(g.orders.seen.map((s) => s.headers.get('x-user-id')), ['ann', 'bob'])
    // A beta token claiming alpha's issuer is checked with alpha's key only, and fails.
    const crossed = await g.call(
      'GET',
      '/orders/3',
      await sign({ iss: 'https://alpha.test', scope: 'orders:read' }, { alg: 'HS256', key: B.raw }),
    )
    assert.equal((await crossed.json()).code, 'bad_signature')
    const unknown = await g.call(
      'GET',
      '/orders/4',
      await sign({ iss: 'https://evil.test', scope: 'orders:read' }, { alg: 'HS256', key: A.raw }),
    )
    assert.equal(unknown.status, 401)
    assert.equal((await unknown.json()).code, 'wrong_issuer')
    assert.equal(g.orders.seen.length, 2)
  } finally {
    await g.close()
  }
})

test('routes: scopes, roles and templated tenant checks answer 403 with the failed requirement', async () => {
  const g = await setup()
  try {
    assert.equal(
      (await g.call('GET', '/orders/1', await alpha({ scope: 'orders:write' }))).status,
      403,
    )
    assert.equal(
      (await g.call('DELETE', '/orders/1', await alpha({ realm_access: { roles: ['user'] } })))
        .status,
      403,
    )
    assert.equal(
      (await g.call('DELETE', '/orders/1', await alpha({ realm_access: { roles: ['admin'] } })))
        .status,
      200,
    )
    // The DELETE route accepts alpha only: a beta admin is refused.
    assert.equal(
      (await g.call('DELETE', '/orders/1', await beta({ realm_access: { roles: ['admin'] } })))
        .status,
      401,
    )
    const wrongTenant = await g.call(
      'GET',
      '/tenants/acme/invoices',
      await alpha({ tenant: 'globex' }),
    )
    assert.equal(wrongTenant.status, 403)
    assert.equal((await wrongTenant.json()).code, 'claim_mismatch')
    const ok = await g.call('GET', '/tenants/acme/invoices', await alpha({ tenant: 'acme' }))
    assert.equal(ok.status, 200)
    assert.equal(g.orders.seen.at(-1)!.headers.get('x-tenant'), 'acme')
    const log = g.lines.map((l) => JSON.parse(l)).find((l) => l.decision === 'claim_mismatch')
    assert.equal(log.requirement, 'routes[3].require.claims[0]')
    assert.equal(log.route, 'routes[3]')
  } finally {
    await g.close()
  }
})

test('routes: GET routes govern HEAD; a method no route allows is 404 and never reaches the upstream', async () => {
  const g = await setup()
  try {
    assert.equal(
      (await g.call('HEAD', '/orders/1', await alpha({ scope: 'orders:read' }))).status,
      200,
    )
    const before = g.orders.seen.length
    const none = await g.call('POST', '/orders/1', await alpha({ scope: 'orders:read' }))
    assert.equal(none.status, 404)
    assert.equal(none.headers.get('content-type'), 'application/problem+json')
    assert.equal((await none.json()).code, 'no_route')
    assert.equal((await g.call('GET', '/nowhere')).status, 404)
    assert.equal(g.orders.seen.length, before)
  } finally {
    await g.close()
  }
})

test('routes: optional auth forwards claims when a valid token is present, anonymous otherwise, rejects a bad token', async () => {
  const g = await setup()
  try {
    assert.equal((await g.call('GET', '/maybe/x', undefined, { 'x-user-id': 'spoof' })).status, 200)
    assert.equal(g.orders.seen.at(-1)!.headers.get('x-user-id'), null)
    assert.equal((await g.call('GET', '/maybe/x', await beta({}))).status, 200)
    assert.equal(g.orders.seen.at(-1)!.headers.get('x-user-id'), 'bob')
    const bad = await g.call('GET', '/maybe/x', `${(await beta({})).slice(0, -2)}xx`)
    assert.equal(bad.status, 401)
    assert.equal(g.orders.seen.length, 2)
  } finally {
    await g.close()
  }
})

test('routes: public routes need no token and still lose client claim headers of every route', async () => {
  const g = await setup()
  try {
    assert.equal(
      (await g.call('GET', '/public/docs', undefined, {
        'x-user-id': 'spoof',
        'x-tenant': 'spoof',
      })).status,
      200,
    )
    assert.equal(g.orders.seen[0]!.headers.get('x-user-id'), null)
    assert.equal(g.orders.seen[0]!.headers.get('x-tenant'), null)
  } finally {
    await g.close()
  }
})

test('routes: stripPrefix and rewrite change the path the upstream receives', async () => {
  const g = await setup()
  try {
    const t = await alpha({})
    assert.equal((await g.call('GET', '/files/a/b.txt?v=1', t)).status, 200)
    assert.equal(g.files.seen[0]!.path, '/store/a/b.txt')
    assert.equal(g.files.seen[0]!.search, '?v=1')
    assert.equal((await g.call('GET', '/v1/items/x%3Fy', t)).status, 200)
    assert.equal(g.files.seen[1]!.path, '/store/items/x%3Fy')
    assert.equal(g.files.seen[1]!.search, '')
  } finally {
    await g.close()
  }
})

test('routes: the debug header returns the reason only when enabled', async () => {
  const off = await setup()
  try {
    const res = await off.call('GET', '/tenants/acme/x', await alpha({ tenant: 'x' }))
    assert.equal(res.headers.get('x-jwtgate-reason'), null)
  } finally {
    await off.close()
  }
  const on = await setup('', 'debugHeaders: true\n')
  try {
    const res = await on.call('GET', '/tenants/acme/x', await alpha({ tenant: 'x' }))
    assert.equal(res.headers.get('x-jwtgate-reason'), 'claim_mismatch; routes[3].require.claims[0]')
  } finally {
    await on.close()
  }
})

test('reload: a new configuration applies to new requests; requests in flight finish on the old one', async () => {
  const g = await setup()
  try {
    const t = await alpha({ scope: 'orders:read' })
    const inFlight = g.call('GET', '/slow/1', t)
    await new Promise((r) => setTimeout(r, 50))
    g.files_['/c.yaml'] = g.files_['/c.yaml'].replace(
      '  - { path: /slow/*, upstream: orders }\n',
      '  - { path: /slow/*, upstream: orders, auth: public }\n  - { path: /added, upstream: orders, auth: public }\n',
    )
    g.gateway.reload(await loadConfig({ JWTGATE_CONFIG: '/c.yaml' }, { readFile: g.readFile }))
    assert.equal((await inFlight).status, 200)
    assert.equal((await g.call('GET', '/added')).status, 200)
    assert.equal(g.gateway.config.routes.length, 9)
  } finally {
    await g.close()
  }
})

test('reload: remote key sets carry over, so the gateway stays ready', async () => {
  const { serve } = await import('../helpers/serve.ts')
  const rsa = await keyPair('ES256', 'k1')
  const jwks = await serve(() => Response.json({ keys: [rsa.publicJwk] }))
  const upstream = await recordingUpstream()
  const text = (extra: string) =>
    `providers:\n  idp: { jwksUrl: "${jwks.url}/jwks" }\nupstreams:\n  u: { url: "${upstream.url}" }\nroutes:\n  - { path: /*, upstream: u }\n${extra}`
  let current = text('')
  const readFile = () => current
  const gateway = createGateway(await loadConfig({ JWTGATE_CONFIG: '/c.yaml' }, { readFile }))
  try {
    for (let i = 0; i < 100 && !gateway.ready; i++) await new Promise((r) => setTimeout(r, 20))
    assert.equal(gateway.ready, true)
    current = text('  - { path: /x, upstream: u }\n')
    gateway.reload(await loadConfig({ JWTGATE_CONFIG: '/c.yaml' }, { readFile }))
    assert.equal(gateway.ready, true)
    const token = await sign({}, { alg: 'ES256', key: rsa.privateKey, kid: 'k1' })
    assert.equal(
      (await gateway.fetch(
        new Request('http://gw/a', { headers: { authorization: `Bearer ${token}` } }),
      )).status,
      200,
    )
  } finally {
    gateway.close()
    await jwks.close()
    await upstream.close()
  }
})

test('explain: an allowed request names the route and the upstream URL without contacting it', async () => {
  const g = await setup()
  try {
    const e = await explain(
      g.config,
      new Request('http://gw/tenants/acme/x?y=1', {
        headers: { authorization: `Bearer ${await alpha({ tenant: 'acme' })}` },
      }),
    )
    assert.equal(e.status, 200)
    assert.equal(e.route, 'routes[3]')
    assert.equal(e.upstream, `${g.orders.url}/tenants/acme/x?y=1`)
    const text = formatExplanation(e)
    assert.match(text, /✗ routes\[0\] \/public\/\*: path does not match/)
    assert.match(
      text,
      /✓ routes\[3\] \/tenants\/:tenant\/\*: matches \(params \{"tenant":"acme"\}\)/,
    )
    assert.match(text, /✓ provider alpha/)
    assert.match(
      text,
      /✓ routes\[3\]\.require\.claims\[0\]: claim tenant equals "acme" \(saw "acme"\)/,
    )
    assert.match(text, /→ 200 allowed via route "routes\[3\]"/)
    assert.equal(g.orders.seen.length, 0)
  } finally {
    await g.close()
  }
})

test('explain: a request rejected by a claim, and one with no route', async () => {
  const g = await setup()
  try {
    const rejected = await explain(
      g.config,
      new Request('http://gw/tenants/acme/x', {
        headers: { authorization: `Bearer ${await alpha({ tenant: 'globex' })}` },
      }),
    )
    assert.equal(rejected.status, 403)
    assert.equal(rejected.decision, 'claim_mismatch')
    assert.match(
      formatExplanation(rejected),
      /✗ routes\[3\]\.require\.claims\[0\]: claim tenant equals "acme" \(saw "globex"\)/,
    )
    const none = await explain(g.config, new Request('http://gw/nowhere', { method: 'PUT' }))
    assert.equal(none.status, 404)
    assert.equal(none.decision, 'no_route')
    assert.equal(
      none.steps.filter((s) => s.step.includes('does not match') || s.step.includes('not listed'))
        .length,
      8,
    )
    assert.equal(g.orders.seen.length + g.files.seen.length, 0)
  } finally {
    await g.close()
  }
})
