import assert from 'node:assert/strict'
import { explain, formatExplanation } from '../../src/core/explain.ts'
import { type GatewayFixture, gatewayFixture } from '../helpers/gateway.ts'
import { keyPair, secret, sign } from '../helpers/keys.ts'
import { serve } from '../helpers/serve.ts'
import { test } from '../helpers/t.ts'

const A = secret(32)
const B = secret(32)

/** Two providers (alpha, beta) and two upstreams (orders, with /slow/* answering late; files). */
async function setup(extraRoutes = '', top = '') {
  const g = await gatewayFixture({
    upstreams: {
      orders: async (r: Request) => {
        if (new URL(r.url).pathname.startsWith('/slow')) {
          await new Promise((res) => setTimeout(res, 300))
        }
        return Response.json({ path: new URL(r.url).pathname })
      },
      files: undefined,
    },
    file: ({ orders, files }) =>
      `${top}
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
`,
  })
  return Object.assign(g, { orders: g.upstreams.orders, files: g.upstreams.files })
}

/** A request with `method`, and with `token` as a bearer token when given. */
const send = (
  g: GatewayFixture<string>,
  method: string,
  path: string,
  token?: string,
  headers: Record<string, string> = {},
) =>
  g.call(path, {
    method,
    headers: token ? { ...headers, authorization: `Bearer ${token}` } : headers,
  })

const alpha = (claims: Record<string, unknown>) =>
  sign({ iss: 'https://alpha.test', sub: 'ann', ...claims }, { alg: 'HS256', key: A.raw })
const beta = (claims: Record<string, unknown>) =>
  sign({ iss: 'https://beta.test', sub: 'bob', ...claims }, { alg: 'HS256', key: B.raw })

test('routes: tokens of two issuers are each verified by their own provider', async () => {
  const g = await setup()
  try {
    const a = await send(g, 'GET', '/orders/1', await alpha({ scope: 'orders:read' }))
    const b = await send(g, 'GET', '/orders/2', await beta({ scope: 'orders:read' }))
    assert.deepEqual([a.status, b.status], [200, 200])
    assert.deepEqual(g.orders.seen.map((s) => s.headers.get('x-user-id')), ['ann', 'bob'])
    // A beta token claiming alpha's issuer is checked with alpha's key only, and fails.
    const crossed = await send(
      g,
      'GET',
      '/orders/3',
      await sign({ iss: 'https://alpha.test', scope: 'orders:read' }, { alg: 'HS256', key: B.raw }),
    )
    assert.equal((await crossed.json()).code, 'bad_signature')
    const unknown = await send(
      g,
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
      (await send(g, 'GET', '/orders/1', await alpha({ scope: 'orders:write' }))).status,
      403,
    )
    assert.equal(
      (await send(g, 'DELETE', '/orders/1', await alpha({ realm_access: { roles: ['user'] } })))
        .status,
      403,
    )
    assert.equal(
      (await send(g, 'DELETE', '/orders/1', await alpha({ realm_access: { roles: ['admin'] } })))
        .status,
      200,
    )
    // The DELETE route accepts alpha only: a beta admin is refused.
    assert.equal(
      (await send(g, 'DELETE', '/orders/1', await beta({ realm_access: { roles: ['admin'] } })))
        .status,
      401,
    )
    const wrongTenant = await send(
      g,
      'GET',
      '/tenants/acme/invoices',
      await alpha({ tenant: 'globex' }),
    )
    assert.equal(wrongTenant.status, 403)
    assert.equal((await wrongTenant.json()).code, 'claim_mismatch')
    const ok = await send(g, 'GET', '/tenants/acme/invoices', await alpha({ tenant: 'acme' }))
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
      (await send(g, 'HEAD', '/orders/1', await alpha({ scope: 'orders:read' }))).status,
      200,
    )
    const before = g.orders.seen.length
    const none = await send(g, 'POST', '/orders/1', await alpha({ scope: 'orders:read' }))
    assert.equal(none.status, 404)
    assert.equal(none.headers.get('content-type'), 'application/problem+json')
    assert.equal((await none.json()).code, 'no_route')
    assert.equal((await send(g, 'GET', '/nowhere')).status, 404)
    assert.equal(g.orders.seen.length, before)
  } finally {
    await g.close()
  }
})

test('routes: optional auth forwards claims when a valid token is present, anonymous otherwise, rejects a bad token', async () => {
  const g = await setup()
  try {
    assert.equal(
      (await send(g, 'GET', '/maybe/x', undefined, { 'x-user-id': 'spoof' })).status,
      200,
    )
    assert.equal(g.orders.seen.at(-1)!.headers.get('x-user-id'), null)
    assert.equal((await send(g, 'GET', '/maybe/x', await beta({}))).status, 200)
    assert.equal(g.orders.seen.at(-1)!.headers.get('x-user-id'), 'bob')
    // A character inside the signature changed: the last one's spare bits may spell the same bytes.
    const good = await beta({})
    const at = good.length - 10
    const other = good[at] === 'A' ? 'B' : 'A'
    const bad = await send(g, 'GET', '/maybe/x', good.slice(0, at) + other + good.slice(at + 1))
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
      (await send(g, 'GET', '/public/docs', undefined, {
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
    assert.equal((await send(g, 'GET', '/files/a/b.txt?v=1', t)).status, 200)
    assert.equal(g.files.seen[0]!.path, '/store/a/b.txt')
    assert.equal(g.files.seen[0]!.search, '?v=1')
    assert.equal((await send(g, 'GET', '/v1/items/x%3Fy', t)).status, 200)
    assert.equal(g.files.seen[1]!.path, '/store/items/x%3Fy')
    assert.equal(g.files.seen[1]!.search, '')
  } finally {
    await g.close()
  }
})

test('routes: the debug header returns the reason only when enabled', async () => {
  const off = await setup()
  try {
    const res = await send(off, 'GET', '/tenants/acme/x', await alpha({ tenant: 'x' }))
    assert.equal(res.headers.get('x-jwtgate-reason'), null)
  } finally {
    await off.close()
  }
  const on = await setup('', 'debugHeaders: true\n')
  try {
    const res = await send(on, 'GET', '/tenants/acme/x', await alpha({ tenant: 'x' }))
    assert.equal(res.headers.get('x-jwtgate-reason'), 'claim_mismatch; routes[3].require.claims[0]')
  } finally {
    await on.close()
  }
})

test('reload: a new configuration applies to new requests; requests in flight finish on the old one', async () => {
  const g = await setup()
  try {
    const t = await alpha({ scope: 'orders:read' })
    const inFlight = send(g, 'GET', '/slow/1', t)
    await new Promise((r) => setTimeout(r, 50))
    g.file = g.file.replace(
      '  - { path: /slow/*, upstream: orders }\n',
      '  - { path: /slow/*, upstream: orders, auth: public }\n  - { path: /added, upstream: orders, auth: public }\n',
    )
    g.gateway.reload(await g.load())
    assert.equal((await inFlight).status, 200)
    assert.equal((await send(g, 'GET', '/added')).status, 200)
    assert.equal(g.gateway.config.routes.length, 9)
  } finally {
    await g.close()
  }
})

test('reload: remote key sets carry over, so the gateway stays ready', async () => {
  const rsa = await keyPair('ES256', 'k1')
  const jwks = await serve(() => Response.json({ keys: [rsa.publicJwk] }))
  const text = (upstream: string, extra: string) =>
    `providers:\n  idp: { jwksUrl: "${jwks.url}/jwks" }\nupstreams:\n  u: { url: "${upstream}" }\nroutes:\n  - { path: /*, upstream: u }\n${extra}`
  const g = await gatewayFixture({ file: ({ upstream }) => text(upstream.url, '') })
  try {
    for (let i = 0; i < 100 && !g.gateway.ready; i++) await new Promise((r) => setTimeout(r, 20))
    assert.equal(g.gateway.ready, true)
    g.file = text(g.upstream.url, '  - { path: /x, upstream: u }\n')
    g.gateway.reload(await g.load())
    assert.equal(g.gateway.ready, true)
    const token = await sign({}, { alg: 'ES256', key: rsa.privateKey, kid: 'k1' })
    assert.equal(
      (await g.call('/a', { headers: { authorization: `Bearer ${token}` } })).status,
      200,
    )
  } finally {
    await g.close()
    await jwks.close()
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

test('routes: a claim header `as: json` carries lists with commas and padded values the text form refuses', async () => {
  const g = await setup(
    `  - path: /groups/json/*
    upstream: orders
    claimHeaders: { sub: X-User-Id, groups: { header: X-Groups, as: json }, nick: { header: X-Nick, as: json } }
  - { path: /groups/text/*, upstream: orders, claimHeaders: { groups: X-Groups } }
`,
  )
  try {
    const groups = ['CN=Admins,OU=Groups,DC=example,DC=com', 'CN=Users,OU=Groups,DC=example,DC=com']
    const token = await alpha({ groups, nick: ' Ada ' })
    // A client's own copies in any spelling never arrive beside the verified ones.
    const res = await send(g, 'GET', '/groups/json/x', token, {
      'x-groups': '["CN=Admins"]',
      x_nick: 'spoofed',
    })
    assert.equal(res.status, 200)
    const seen = g.orders.seen.at(-1)!.headers
    assert.deepEqual(JSON.parse(seen.get('x-groups')!), groups)
    assert.equal(seen.get('x-nick'), '" Ada "')
    assert.equal(seen.get('x-user-id'), 'ann')
    assert.equal(seen.get('x_nick'), null)
    // The text form cannot carry an item holding a comma: the token is refused there.
    const text = await send(g, 'GET', '/groups/text/x', token)
    assert.equal(text.status, 401)
    assert.equal((await text.json()).code, 'claim_invalid')
    assert.equal(g.orders.seen.length, 1)
  } finally {
    await g.close()
  }
})
