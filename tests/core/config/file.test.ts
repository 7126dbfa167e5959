import assert from 'node:assert/strict'
import { loadConfig } from '../../../src/core/config/load.ts'
import { ConfigError } from '../../../src/core/errors.ts'
import { keyPair, secret } from '../../helpers/keys.ts'
import { test } from '../../helpers/t.ts'

const SECRET = secret(32).config

function files(map: Record<string, string>) {
  return (path: string) => {
    if (!(path in map)) throw new Error('ENOENT')
    return map[path]!
  }
}

function load(text: string, env: Record<string, string> = {}, extra: Record<string, string> = {}) {
  return loadConfig({ JWTGATE_CONFIG: '/etc/jwtgate.yaml', ...env }, {
    readFile: files({ '/etc/jwtgate.yaml': text, ...extra }),
  })
}

async function problems(
  text: string,
  env: Record<string, string> = {},
  extra: Record<string, string> = {},
): Promise<string[]> {
  try {
    await load(text, env, extra)
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e))
    return e.issues.map((i) => `${i.path}: ${i.message}`)
  }
  assert.fail('expected the configuration to be rejected')
}

const BASE = `
providers:
  main:
    issuer: https://idp.test
    secret: "${SECRET}"
upstreams:
  api: { url: "http://127.0.0.1:3000/v1" }
`

test('a YAML file describes providers, upstreams and ordered routes', async () => {
  const rsa = await keyPair('RS256')
  const c = await load(
    `
listen: { port: 9000 }
log: { level: warn, format: pretty }
trustedProxies: 1
providers:
  main:
    issuer: [https://idp.test]
    audience: api
    secret: "${SECRET}"
    requiredTyp: at+jwt
  partner:
    issuer: https://partner.test
    publicKey: { file: /keys/partner.pem }
    tokenSources: [header:Authorization, cookie:session]
upstreams:
  orders: { url: "http://127.0.0.1:3001", timeout: 5s }
  files: { url: "http://127.0.0.1:3002/store/", timeout: 2 }
routes:
  - { name: docs, path: /public/*, upstream: orders, auth: public }
  - name: read-order
    path: /orders/:id
    methods: [GET]
    upstream: orders
    require: { scopes: { all: [orders:read] } }
  - path: /orders/:id
    methods: [DELETE]
    upstream: orders
    providers: [main]
    require: { roles: { any: [admin], claim: realm_access.roles } }
  - path: /tenants/:tenant/*
    upstream: orders
    claimHeaders: { sub: X-User-Id, "https://example.com/tenant": X-Tenant }
    require:
      claims:
        - { claim: tenant, equals: "{params.tenant}" }
        - any: [{ claim: plan, oneOf: [pro, enterprise] }, { not: { claim: trial, equals: true } }]
  - { path: /files/*, upstream: files, stripPrefix: /files, auth: optional }
  - { path: /v1/items/:id, upstream: files, rewrite: "/items/{params.id}" }
`,
    {},
    { '/keys/partner.pem': rsa.spki },
  )
  assert.equal(c.port, 9000)
  assert.deepEqual(c.log, { level: 'warn', format: 'pretty' })
  assert.equal(c.trustedProxies, 1)
  assert.deepEqual(c.providers.map((p) => p.name), ['main', 'partner'])
  assert.deepEqual(c.providers[0]!.verify.audiences, ['api'])
  assert.equal(c.providers[0]!.verify.requiredTyp, 'at+jwt')
  assert.deepEqual(c.providers[1]!.verify.algorithms.slice(0, 2), ['RS256', 'RS384'])
  assert.deepEqual(c.providers[1]!.tokenSources, [{ kind: 'authorization' }, {
    kind: 'cookie',
    name: 'session',
  }])
  assert.deepEqual(c.upstreams.map((u) => [u.name, u.base.prefix, u.timeoutMs]), [[
    'orders',
    '',
    5000,
  ], ['files', '/store', 2000]])
  assert.deepEqual(c.routes.map((r) => [r.name, r.auth]), [
    ['docs', 'public'],
    ['read-order', 'required'],
    ['routes[2]', 'required'],
    ['routes[3]', 'required'],
    ['routes[4]', 'optional'],
    ['routes[5]', 'required'],
  ])
  assert.deepEqual(c.routes[1]!.providers, ['main', 'partner'])
  assert.deepEqual(c.routes[2]!.require.rolesAny, ['admin'])
  assert.equal(c.routes[3]!.require.claims.length, 2)
  assert.deepEqual(c.routes[3]!.claimHeaders.map((h) => h.header), ['x-user-id', 'x-tenant'])
  assert.equal(c.routes[4]!.stripPrefix, '/files')
  assert.equal(c.routes[5]!.rewrite?.text, '/items/{params.id}')
  assert.deepEqual(c.file, { path: '/etc/jwtgate.yaml', watch: false })
})

test('the file reads secrets from the environment', async () => {
  const text = BASE.replace(`"${SECRET}"`, '{ env: MAIN_SECRET }') +
    'routes: [{ path: /*, upstream: api }]\n'
  const c = await loadConfig({ JWTGATE_CONFIG: '/c.yaml', MAIN_SECRET: SECRET }, {
    readFile: files({ '/c.yaml': text }),
  })
  assert.deepEqual(c.providers[0]!.verify.algorithms, ['HS256'])
  const missing = await problems(text)
  assert.deepEqual(missing, ['providers.main.secret: environment variable MAIN_SECRET is not set'])
})

test('a JSON file works the same and may carry $schema', async () => {
  const c = await loadConfig(
    { JWTGATE_CONFIG: '/c.json' },
    {
      readFile: files({
        '/c.json': JSON.stringify({
          $schema: './jwtgate.schema.json',
          providers: { m: { secret: SECRET } },
          upstreams: { a: { url: 'http://a' } },
          routes: [{ path: '/*', upstream: 'a' }],
        }),
      }),
    },
  )
  assert.equal(c.routes[0]!.pattern, '/*')
})

test('every problem in a file is reported at its place', async () => {
  const out = await problems(`
providers:
  main: { secret: "${SECRET}", issuerr: x }
upstreams:
  api: { url: "ftp://x" }
routes:
  - { path: /a, upstream: api, pathh: /b }
  - { path: /b, upstream: nope, providers: [ghost] }
  - { path: "/c/*/d", upstream: api }
  - path: /d
    upstream: api
    require: { claims: [{ claim: tenant, equal: x }] }
  - { path: /e, upstream: api, auth: optional, require: { scopes: { all: [a] } } }
  - { path: /f/:id, upstream: api, rewrite: "/g/{params.other}" }
  - { path: /h, upstream: api, methods: [FETCH] }
`)
  assert.deepEqual(
    out.sort(),
    [
      'providers.main.issuerr: unknown key',
      'routes[0].pathh: unknown key',
      'routes[1].providers[0]: unknown provider "ghost"',
      'routes[1].upstream: unknown upstream "nope"',
      'routes[2].path: * is only allowed as the last segment',
      'routes[3].require.claims[0]: unknown operator "equal" (expected one of equals, oneOf, contains, matches, all, any, not)',
      'routes[6].methods[0]: must be one of GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS',
    ].sort(),
  )
})

test('a schema problem does not hide an unknown reference elsewhere in the file', async () => {
  const out = await problems(`${BASE}routes:
  - { path: /a, upstream: api, pathh: /x }
  - { path: /b, upstream: nope, providers: [main, ghost] }
`)
  assert.deepEqual(out.sort(), [
    'routes[0].pathh: unknown key',
    'routes[1].providers[1]: unknown provider "ghost"',
    'routes[1].upstream: unknown upstream "nope"',
  ])
})

test('cross-references and rule combinations are checked after the schema', async () => {
  const out = await problems(`
providers:
  a: { secret: "${SECRET}" }
  b: { secret: "${SECRET}" }
upstreams:
  api: { url: "ftp://x" }
routes:
  - { path: /b, upstream: nope, providers: [ghost] }
  - { path: /e, upstream: api, auth: optional, require: { scopes: { all: [a] } } }
  - { path: /f/:id, upstream: api, rewrite: "/g/{params.other}" }
  - { path: /g, upstream: api, stripPrefix: /g, rewrite: /h }
  - { path: /i, upstream: api }
`)
  assert.deepEqual(
    out.sort(),
    [
      'providers.a.issuer: is required: routes[1] accepts several providers, and tokens go to a provider by their "iss"',
      'providers.a.issuer: is required: routes[2] accepts several providers, and tokens go to a provider by their "iss"',
      'providers.a.issuer: is required: routes[3] accepts several providers, and tokens go to a provider by their "iss"',
      'providers.a.issuer: is required: routes[4] accepts several providers, and tokens go to a provider by their "iss"',
      'providers.b.issuer: is required: routes[1] accepts several providers, and tokens go to a provider by their "iss"',
      'providers.b.issuer: is required: routes[2] accepts several providers, and tokens go to a provider by their "iss"',
      'providers.b.issuer: is required: routes[3] accepts several providers, and tokens go to a provider by their "iss"',
      'providers.b.issuer: is required: routes[4] accepts several providers, and tokens go to a provider by their "iss"',
      'routes[0].providers[0]: unknown provider "ghost"',
      'routes[0].upstream: unknown upstream "nope"',
      'routes[1].require: requirements need auth "required" (this route is "optional")',
      'routes[2].rewrite: {params.other} is not a parameter of /f/:id',
      'routes[3].rewrite: use either stripPrefix or rewrite, not both',
      'upstreams.api.url: must use http:// or https://, not ftp://',
    ].sort(),
  )
})

test('a claim condition naming a parameter its route lacks is refused, at any depth; one the route has loads', async () => {
  // Rendered as '', it would compare the claim with an empty string: a token whose claim is empty
  // would pass (`{params.tenant}` on `/orgs/:org/*`, a typo).
  const out = await problems(`${BASE}
routes:
  - path: /orgs/:org/*
    upstream: api
    require:
      claims:
        - { claim: tenant, equals: "{params.tenant}" }
        - any:
            - { claim: t, oneOf: [x, "{params.org}", "a-{params.team}"] }
            - not: { claim: u, contains: "{params.constructor}" }
  - path: /teams/:team/*
    upstream: api
    require: { claims: [{ claim: team, equals: "{params.team}" }, { claim: m, equals: "{method}" }] }
`)
  assert.deepEqual(out.sort(), [
    'routes[0].require.claims[0]: {params.tenant} is not a parameter of /orgs/:org/*',
    'routes[0].require.claims[1].any[0]: {params.team} is not a parameter of /orgs/:org/*',
    'routes[0].require.claims[1].any[1].not: {params.constructor} is not a parameter of /orgs/:org/*',
  ])
})

test('a route path or stripPrefix no normalised request can match is refused, naming the spelling', async () => {
  const out = await problems(`${BASE}
routes:
  - { path: /ok/*, upstream: api, stripPrefix: /ok/ }
  - { path: "/%61pi/*", upstream: api }
  - { path: "/caf%c3%a9/*", upstream: api }
  - { path: "/%7Eadmin/:id", upstream: api }
  - { path: "/a%2Fb/*", upstream: api }
  - { path: /files/*, upstream: api, stripPrefix: "/%66iles" }
  - { path: /g/*, upstream: api, stripPrefix: "/g//h" }
  - { path: /*, upstream: api, auth: public }
`)
  const normalised = (spelling: string) =>
    `never matches a request: requests are compared in normalised form, write "${spelling}"`
  assert.deepEqual(out, [
    `routes[1].path: ${normalised('/api/*')}`,
    `routes[2].path: ${normalised('/caf%C3%A9/*')}`,
    `routes[3].path: ${normalised('/~admin/:id')}`,
    'routes[4].path: never matches a request: encoded slashes and backslashes are not allowed in the path',
    `routes[5].stripPrefix: ${normalised('/files')}`,
    'routes[6].stripPrefix: never matches a request: empty path segments (//) are not allowed',
  ])
})

test('route claim headers are checked like JWTGATE_FORWARD_CLAIMS: no reserved header, none mapped twice', async () => {
  const out = await problems(`${BASE}
routes:
  - { path: /a, upstream: api, claimHeaders: { sub: X-Forwarded-For, email: Host } }
  - { path: /b, upstream: api, claimHeaders: { sub: X-User, name: x-user } }
`)
  assert.deepEqual(out.sort(), [
    'routes[0].claimHeaders.email: Host is reserved and cannot carry a claim',
    'routes[0].claimHeaders.sub: X-Forwarded-For is reserved and cannot carry a claim',
    'routes[1].claimHeaders.name: header x-user is mapped twice',
  ])
})

test('a file that is not valid YAML or JSON is reported with the reason', async () => {
  const [yaml] = await problems('routes: [\n')
  assert.match(yaml!, /^\/etc\/jwtgate.yaml: is not valid YAML \(bad indent, line 2, column 1\)$/)
  const json = await loadConfig({ JWTGATE_CONFIG: '/c.json' }, {
    readFile: files({ '/c.json': '{"routes":' }),
  }).catch((e: ConfigError) => e.issues[0]!.message)
  assert.match(json as string, /^is not valid JSON/)
  const dup = await problems(`${BASE}\nupstreams: {}\n`)
  assert.match(dup[0]!, /is not valid YAML \(duplicate key, line \d+, column \d+\)/)
  // The same in JSON: JSON.parse alone would keep the second `routes`.
  const twice = await loadConfig({ JWTGATE_CONFIG: '/c.json' }, {
    readFile: files({ '/c.json': '{"routes":[{"path":"/admin/*"}],"routes":[]}' }),
  }).catch((e: ConfigError) => e.issues[0]!.message)
  assert.equal(twice, 'is not valid: a key appears twice in one object')
  // Neither parser's message, which may quote the text, nor the value of a wrong type: a secret
  // in the wrong place is never echoed.
  const SECRET = 'supersecret-hunter2-0123456789'
  for (
    const text of [
      `${BASE}\nsecret: | ${SECRET}\n`,
      `${BASE}\nsecret: !custom ${SECRET}\n`,
      `${BASE}\nredis: "rediss://user:${SECRET}@cache:6380/2"\n`,
      `${BASE}\nadmin: "${SECRET}"\n`,
    ]
  ) {
    const found = await problems(text)
    assert.ok(found.length > 0, text)
    for (const p of found) assert.doesNotMatch(p, /supersecret/, p)
  }
  assert.deepEqual(
    await loadConfig({ JWTGATE_CONFIG: '/none' }, { readFile: files({}) }).catch((e: ConfigError) =>
      e.issues.map((i) => i.message)
    ),
    ['cannot read file "/none"'],
  )
})

test('a file needs routes', async () => {
  assert.deepEqual(await problems(BASE), [
    'routes: is empty: without routes every request would be 404',
  ])
})

test('environment variables override top-level values next to a file, and route variables are refused', async () => {
  const text =
    `${BASE}listen: { port: 9000, host: 127.0.0.1 }\nlog: { level: warn }\nroutes: [{ path: /*, upstream: api }]\n`
  const c = await load(text, {
    JWTGATE_PORT: '9100',
    JWTGATE_LOG_LEVEL: 'debug',
    JWTGATE_DEBUG_HEADERS: 'true',
  })
  assert.equal(c.port, 9100)
  assert.equal(c.host, '127.0.0.1')
  assert.equal(c.log.level, 'debug')
  assert.equal(c.debugHeaders, true)
  const out = await problems(text, { JWTGATE_UPSTREAM: 'http://x', JWTGATE_SECRET: SECRET })
  assert.deepEqual(out.map((l) => l.split(':')[0]).sort(), ['JWTGATE_SECRET', 'JWTGATE_UPSTREAM'])
  assert.match(out[0]!, /with JWTGATE_CONFIG, set it in the file/)
})

test('a route shadowed by an earlier one is a warning, not an error', async () => {
  const c = await load(`${BASE}routes:
  - { path: /orders/*, upstream: api }
  - { path: /orders/:id, upstream: api, methods: [GET] }
  - { path: /users/:id, upstream: api, methods: [GET] }
  - { path: /users/:id, upstream: api }
`)
  assert.deepEqual(c.warnings, [
    'routes[1] (/orders/:id) is shadowed by routes[0] (/orders/*) and never matches',
  ])
})

test('route names must be unique', async () => {
  const out = await problems(`${BASE}routes:
  - { name: a, path: /x, upstream: api }
  - { name: a, path: /y, upstream: api }
`)
  assert.deepEqual(out, ['routes[1].name: duplicates the name of routes[0]'])
})

test('an empty issuer or audience list in the file is refused, not read as "no check"', async () => {
  for (const value of ['[]', '""', '[""]']) {
    const text = `
providers:
  main: { secret: "${SECRET}", audience: ${value} }
upstreams:
  api: { url: "http://127.0.0.1:3000/v1" }
`
    const out = await problems(text)
    assert.equal(out.length, 1, `${value}: ${out.join('; ')}`)
    assert.match(out[0]!, /^providers\.main\.audience/, value)
  }
})

test('a provider’s requiredTyp is checked as JWTGATE_REQUIRED_TYP is: visible ASCII, 1–100', async () => {
  for (const value of ['""', '"at jwt"', `"${'a'.repeat(101)}"`, '"jwt\\u00e9"']) {
    const out = await problems(`
providers:
  main: { secret: "${SECRET}", requiredTyp: ${value} }
upstreams:
  api: { url: "http://127.0.0.1:3000/v1" }
`)
    assert.deepEqual(
      out,
      ['providers.main.requiredTyp: must be a media type such as at+jwt'],
      value,
    )
  }
})

test('a timeout written as a number that rounds to 0 ms is refused, as its text form is', async () => {
  const text = `
providers:
  main: { secret: "${SECRET}", jwksTimeout: 0.0004 }
upstreams:
  api: { url: "http://127.0.0.1:3000/v1", timeout: 0.0004 }
routes:
  - { name: all, path: "/*", upstream: api }
`
  const found = await problems(text)
  assert.deepEqual(found.map((p) => p.split(':')[0]), [
    'providers.main.jwksTimeout',
    'upstreams.api.timeout',
  ])
  // One millisecond is the least.
  await load(text.replaceAll('0.0004', '0.001'))
})

test('YAML is read as YAML 1.2 only: a %YAML 1.1 line is refused (yes, on, 0755, 1:00 and << would mean other things); keys 1 and "1" are one key said twice', async () => {
  const routes = `routes:\n  - { path: /a/*, upstream: api, websockets: yes }\n`
  const [old] = await problems(`%YAML 1.1\n---\n${BASE}${routes}`)
  assert.match(old!, /is not valid: only YAML 1\.2 is read/)
  // As YAML 1.2 reads it, `yes` is a string: refused by the schema, never taken as true.
  const yes = await problems(`${BASE}${routes}`)
  assert.ok(yes.some((p) => p.startsWith('routes[0].websockets')), yes.join('\n'))
  const [twice] = await problems(
    `${BASE}\nrateLimits:\n  1: { rate: 1/1s, routes: [r] }\n  "1": { rate: 100/1s, routes: [r] }\nroutes:\n  - { name: r, path: /a/*, upstream: api }\n`,
  )
  assert.match(twice!, /is not valid YAML \(duplicate key, line \d+, column \d+\)/)
})
