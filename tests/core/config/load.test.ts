import assert from 'node:assert/strict'
import { loadConfig } from '../../../src/core/config/load.ts'
import { ConfigError } from '../../../src/core/errors.ts'
import { keyPair, secret } from '../../helpers/keys.ts'
import { test } from '../../helpers/t.ts'

const SECRET = secret(32).config
const BASE = { JWTGATE_UPSTREAM: 'http://127.0.0.1:3000', JWTGATE_SECRET: SECRET }

async function issues(
  env: Record<string, string>,
  readFile?: (p: string) => string,
): Promise<string[]> {
  try {
    await loadConfig(env, { readFile })
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${e}`)
    return e.issues.map((i) => `${i.path}: ${i.message}`)
  }
  assert.fail('expected the configuration to be rejected')
}

test('loadConfig() applies the documented defaults', async () => {
  const c = await loadConfig(BASE)
  assert.equal(c.host, '0.0.0.0')
  assert.equal(c.port, 8080)
  assert.equal(c.upstreams[0]!.timeoutMs, 30_000)
  assert.equal(c.providers[0]!.verify.clockSkewSec, 30)
  assert.deepEqual(c.providers[0]!.verify.requiredClaims, ['exp'])
  assert.deepEqual(c.providers[0]!.verify.algorithms, ['HS256'])
  assert.deepEqual(c.providers[0]!.tokenSources, [
    { kind: 'authorization' },
    { kind: 'protocol', name: 'bearer' },
  ])
  assert.equal(c.forwardToken, false)
  assert.deepEqual(c.websockets, {
    enabled: true,
    maxMessageBytes: 1024 * 1024,
    maxBufferedBytes: 4 * 1024 * 1024,
    idleTimeoutSec: 120,
    maxConnections: 10_000,
    expiryGraceMs: 0,
  })
  assert.equal(c.routes.at(-1)!.websockets, true)
  assert.equal(c.providers[0]!.keys.cooldownMs, 30_000)
  assert.equal(c.maxTokenBytes, 8192)
  assert.equal(c.trustedProxies, 0)
  assert.deepEqual(c.log, { level: 'info', format: 'json' })
  assert.equal(c.routes.at(-1)!.require.rolesClaim.raw, 'roles')
})

test('loadConfig() returns a deeply frozen config', async () => {
  const c = await loadConfig(BASE)
  assert.ok(Object.isFrozen(c))
  assert.ok(Object.isFrozen(c.upstreams[0]))
  assert.ok(Object.isFrozen(c.providers[0]!.verify.algorithms))
  assert.throws(() => {
    ;(c.providers[0]!.verify.algorithms as string[]).push('none')
  })
})

test('loadConfig() requires JWTGATE_UPSTREAM and names the expected form', async () => {
  const out = await issues({ JWTGATE_SECRET: SECRET })
  assert.deepEqual(out, [
    'JWTGATE_UPSTREAM: is required: the base URL of the API to protect, e.g. http://127.0.0.1:3000',
  ])
})

test('loadConfig() rejects an upstream that is not an http(s) URL', async () => {
  assert.match(
    (await issues({ ...BASE, JWTGATE_UPSTREAM: 'localhost:3000' }))[0]!,
    /^JWTGATE_UPSTREAM: must use http:\/\/ or https:\/\//,
  )
  assert.match(
    (await issues({ ...BASE, JWTGATE_UPSTREAM: 'not a url' }))[0]!,
    /^JWTGATE_UPSTREAM: must be an absolute/,
  )
  assert.match(
    (await issues({ ...BASE, JWTGATE_UPSTREAM: 'http://a/b?x=1' }))[0]!,
    /query or fragment/,
  )
  assert.match((await issues({ ...BASE, JWTGATE_UPSTREAM: 'http://u:p@a/' }))[0]!, /credentials/)
})

test('loadConfig() keeps the upstream path prefix without a trailing slash', async () => {
  const c = await loadConfig({ ...BASE, JWTGATE_UPSTREAM: 'http://127.0.0.1:3000/api/v1/' })
  assert.deepEqual(c.upstreams[0]!.base, { origin: 'http://127.0.0.1:3000', prefix: '/api/v1' })
})

test('loadConfig() refuses to run without any key source', async () => {
  const out = await issues({ JWTGATE_UPSTREAM: 'http://127.0.0.1:3000' })
  assert.equal(out.length, 1)
  assert.match(
    out[0]!,
    /^key source: none configured: set JWTGATE_SECRET, JWTGATE_PUBLIC_KEY, JWTGATE_JWKS_URL or JWTGATE_OIDC_ISSUER/,
  )
})

test('loadConfig() refuses a secret shorter than 32 bytes without echoing it', async () => {
  const out = await issues({ ...BASE, JWTGATE_SECRET: 'short-secret-value' })
  assert.deepEqual(out, [
    'JWTGATE_SECRET: the secret is 18 bytes; at least 32 bytes (256 bits) are required for HS256',
  ])
  assert.ok(!out.join().includes('short-secret-value'))
})

test('loadConfig() enables the HS algorithms a secret length meets', async () => {
  assert.deepEqual(
    (await loadConfig({ ...BASE, JWTGATE_SECRET: secret(32).config })).providers[0]!.verify
      .algorithms,
    ['HS256'],
  )
  assert.deepEqual(
    (await loadConfig({ ...BASE, JWTGATE_SECRET: secret(48).config })).providers[0]!.verify
      .algorithms,
    ['HS256', 'HS384'],
  )
  assert.deepEqual(
    (await loadConfig({ ...BASE, JWTGATE_SECRET: secret(64).config })).providers[0]!.verify
      .algorithms,
    ['HS256', 'HS384', 'HS512'],
  )
  const text = 'x'.repeat(40)
  assert.deepEqual(
    (await loadConfig({ ...BASE, JWTGATE_SECRET: text })).providers[0]!.verify.algorithms,
    ['HS256'],
  )
})

test('loadConfig() rejects invalid base64 in a secret', async () => {
  assert.deepEqual(await issues({ ...BASE, JWTGATE_SECRET: 'base64:***' }), [
    'JWTGATE_SECRET: the base64: value is not valid base64',
  ])
})

test('loadConfig() reads JWTGATE_SECRET_FILE and names it in problems', async () => {
  const files: Record<string, string> = { '/s': `${'k'.repeat(40)}\n`, '/short': 'tiny\n' }
  const read = (p: string) => {
    if (!(p in files)) throw new Error('ENOENT')
    return files[p]!
  }
  const c = await loadConfig({ JWTGATE_UPSTREAM: 'http://a', JWTGATE_SECRET_FILE: '/s' }, {
    readFile: read,
  })
  assert.deepEqual(c.providers[0]!.verify.algorithms, ['HS256'])
  assert.match(
    (await issues({ JWTGATE_UPSTREAM: 'http://a', JWTGATE_SECRET_FILE: '/short' }, read))[0]!,
    /^JWTGATE_SECRET_FILE: the secret is 4 bytes/,
  )
  assert.deepEqual(
    await issues({ JWTGATE_UPSTREAM: 'http://a', JWTGATE_SECRET_FILE: '/missing' }, read),
    ['JWTGATE_SECRET_FILE: cannot read the file it names'],
  )
  assert.match(
    (await issues({ ...BASE, JWTGATE_SECRET_FILE: '/s' }, read))[0]!,
    /set either JWTGATE_SECRET or JWTGATE_SECRET_FILE, not both/,
  )
})

test('loadConfig() accepts a PEM public key, a JWK and a JWK Set', async () => {
  const rsa = await keyPair('RS256')
  const es = await keyPair('ES256', 'e1')
  const pem = await loadConfig({ JWTGATE_UPSTREAM: 'http://a', JWTGATE_PUBLIC_KEY: rsa.spki })
  assert.deepEqual(pem.providers[0]!.verify.algorithms, [
    'RS256',
    'RS384',
    'RS512',
    'PS256',
    'PS384',
    'PS512',
  ])
  const jwk = await loadConfig({
    JWTGATE_UPSTREAM: 'http://a',
    JWTGATE_PUBLIC_KEY: JSON.stringify(es.publicJwk),
  })
  assert.deepEqual(jwk.providers[0]!.verify.algorithms, ['ES256'])
  assert.equal(jwk.providers[0]!.keys.local[0]!.keys[0]!.kid, 'e1')
  const set = await loadConfig({
    JWTGATE_UPSTREAM: 'http://a',
    JWTGATE_PUBLIC_KEY: JSON.stringify({ keys: [es.publicJwk, rsa.publicJwk] }),
  })
  assert.equal(set.providers[0]!.keys.local[0]!.keys.length, 7)
})

test('loadConfig() rejects unusable public keys with a reason', async () => {
  const bad = (text: string) => issues({ JWTGATE_UPSTREAM: 'http://a', JWTGATE_PUBLIC_KEY: text })
  assert.match(
    (await bad('hello'))[0]!,
    /^JWTGATE_PUBLIC_KEY: expected a PEM public key or certificate, a JWK, or a JWK Set/,
  )
  assert.match((await bad('{"kty":'))[0]!, /not valid JSON/)
  assert.match(
    (await bad('{"kty":"oct","k":"AAAA"}'))[0]!,
    /symmetric \(oct\) keys are never taken from a key set/,
  )
  assert.match(
    (await bad('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----'))[0]!,
    /private key/,
  )
  assert.match(
    (await bad('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----'))[0]!,
    /could not be read as an RSA, EC/,
  )
  assert.match((await bad('{"keys":[]}'))[0]!, /has no keys/)
})

test('loadConfig() validates JWTGATE_ALGORITHMS against the keys and never allows none', async () => {
  assert.deepEqual(await issues({ ...BASE, JWTGATE_ALGORITHMS: 'none' }), [
    'JWTGATE_ALGORITHMS: "none" is never allowed',
  ])
  assert.match(
    (await issues({ ...BASE, JWTGATE_ALGORITHMS: 'HS999' }))[0]!,
    /unknown algorithm "HS999"/,
  )
  const out = await issues({ ...BASE, JWTGATE_ALGORITHMS: 'HS256,RS256' })
  assert.deepEqual(out, ['JWTGATE_ALGORITHMS: no configured key can verify RS256'])
  const rsa = await keyPair('RS256')
  const c = await loadConfig({
    JWTGATE_UPSTREAM: 'http://a',
    JWTGATE_PUBLIC_KEY: rsa.spki,
    JWTGATE_ALGORITHMS: 'PS256',
  })
  assert.deepEqual(c.providers[0]!.verify.algorithms, ['PS256'])
  assert.deepEqual(c.providers[0]!.keys.local[0]!.keys.map((k) => k.alg), ['PS256'])
})

test('loadConfig() checks JWKS and OIDC URLs: https, or http on loopback only', async () => {
  const ok = await loadConfig({
    JWTGATE_UPSTREAM: 'http://a',
    JWTGATE_JWKS_URL: 'http://127.0.0.1:9/jwks',
  })
  assert.equal(ok.providers[0]!.keys.jwksUrl, 'http://127.0.0.1:9/jwks')
  assert.ok(
    ok.providers[0]!.verify.algorithms.includes('RS256') &&
      !ok.providers[0]!.verify.algorithms.includes('HS256'),
  )
  assert.match(
    (await issues({
      JWTGATE_UPSTREAM: 'http://a',
      JWTGATE_JWKS_URL: 'http://idp.example.com/jwks',
    }))[0]!,
    /^JWTGATE_JWKS_URL: must be an https:\/\/ URL/,
  )
  await loadConfig({
    JWTGATE_UPSTREAM: 'http://a',
    JWTGATE_JWKS_URL: 'http://idp.example.com/jwks',
    JWTGATE_ALLOW_INSECURE_JWKS: 'true',
  })
  assert.match(
    (await issues({ JWTGATE_UPSTREAM: 'http://a', JWTGATE_JWKS_URL: 'nope' }))[0]!,
    /^JWTGATE_JWKS_URL: must be an absolute URL/,
  )
})

test('loadConfig() derives the issuer from JWTGATE_OIDC_ISSUER', async () => {
  const c = await loadConfig({
    JWTGATE_UPSTREAM: 'http://a',
    JWTGATE_OIDC_ISSUER: 'https://idp.example.com/realms/x',
  })
  assert.deepEqual(c.providers[0]!.verify.issuers, ['https://idp.example.com/realms/x'])
  const out = await issues({
    JWTGATE_UPSTREAM: 'http://a',
    JWTGATE_OIDC_ISSUER: 'https://idp.example.com',
    JWTGATE_ISSUER: 'https://other',
  })
  assert.deepEqual(out, ['JWTGATE_ISSUER: must include the OIDC issuer https://idp.example.com'])
})

test('JWTGATE_OIDC_ISSUER with credentials, a query or a fragment is refused (it is also "iss", and shown in logs)', async () => {
  for (
    const [issuer, why] of [
      ['https://user:secret@idp.example.com', 'must not contain credentials'],
      ['https://user@idp.example.com', 'must not contain credentials'],
      ['https://idp.example.com/?tenant=a', 'must have no query or fragment'],
      ['https://idp.example.com/#x', 'must have no query or fragment'],
      ['https://idp.example.com/?', 'must have no query or fragment'],
    ] as const
  ) {
    const out = await issues({ JWTGATE_UPSTREAM: 'http://a', JWTGATE_OIDC_ISSUER: issuer })
    assert.equal(out.length, 1, issuer)
    assert.match(out[0]!, new RegExp(`^JWTGATE_OIDC_ISSUER: ${why}`), issuer)
    assert.ok(!out[0]!.includes('secret'), String(out[0]))
  }
})

test('loadConfig() parses lists, durations and numbers', async () => {
  const c = await loadConfig({
    ...BASE,
    JWTGATE_ISSUER: 'https://a, https://b',
    JWTGATE_AUDIENCE: 'api',
    JWTGATE_CLOCK_SKEW: '5',
    JWTGATE_REQUIRED_CLAIMS: 'exp,sub',
    JWTGATE_UPSTREAM_TIMEOUT: '500ms',
    JWTGATE_JWKS_COOLDOWN: '2m',
    JWTGATE_REQUIRED_SCOPES: 'read write,admin',
    JWTGATE_REQUIRED_ROLES: 'admin',
    JWTGATE_ROLES_CLAIM: 'realm_access.roles',
    JWTGATE_PORT: '0',
    JWTGATE_TRUSTED_PROXIES: '2',
  })
  assert.deepEqual(c.providers[0]!.verify.issuers, ['https://a', 'https://b'])
  assert.deepEqual(c.providers[0]!.verify.audiences, ['api'])
  assert.equal(c.providers[0]!.verify.clockSkewSec, 5)
  assert.deepEqual(c.providers[0]!.verify.requiredClaims, ['exp', 'sub'])
  assert.equal(c.upstreams[0]!.timeoutMs, 500)
  assert.equal(c.providers[0]!.keys.cooldownMs, 120_000)
  assert.deepEqual(c.routes.at(-1)!.require.scopesAll, ['read', 'write', 'admin'])
  assert.deepEqual(c.routes.at(-1)!.require.rolesClaim.parts, ['realm_access', 'roles'])
  assert.equal(c.port, 0)
  assert.equal(c.trustedProxies, 2)
  assert.deepEqual(
    (await loadConfig({ ...BASE, JWTGATE_REQUIRED_CLAIMS: 'none' })).providers[0]!.verify
      .requiredClaims,
    [],
  )
  assert.equal(
    (await loadConfig({ ...BASE, JWTGATE_UPSTREAM_TIMEOUT: '2' })).upstreams[0]!.timeoutMs,
    2000,
  )
})

test('loadConfig() reports every bad value at once, each naming its variable and the expected form', async () => {
  const out = await issues({
    ...BASE,
    JWTGATE_PORT: 'abc',
    JWTGATE_UPSTREAM_TIMEOUT: 'soon',
    JWTGATE_CLOCK_SKEW: '-1',
    JWTGATE_LOG_LEVEL: 'loud',
    JWTGATE_LOG_FORMAT: 'xml',
    JWTGATE_FORWARD_TOKEN: 'maybe',
  })
  assert.deepEqual(out.sort(), [
    'JWTGATE_CLOCK_SKEW: must be a whole number of seconds from 0 to 3600 (got "-1")',
    'JWTGATE_FORWARD_TOKEN: must be true or false (got "maybe")',
    'JWTGATE_LOG_FORMAT: must be json or pretty',
    'JWTGATE_LOG_LEVEL: must be one of debug, info, warn, error',
    'JWTGATE_PORT: must be a port number from 0 to 65535 (got "abc")',
    'JWTGATE_UPSTREAM_TIMEOUT: must be a duration above 0 such as 500ms, 30s, 5m, or a number of seconds, up to 24 days (got "soon")',
  ])
})

test('loadConfig() parses token sources and rejects unknown kinds', async () => {
  const c = await loadConfig({
    ...BASE,
    JWTGATE_TOKEN_SOURCES:
      'header:Authorization, header:X-Api-Token, cookie:session, query:access_token',
  })
  assert.deepEqual(c.providers[0]!.tokenSources, [
    { kind: 'authorization' },
    { kind: 'header', name: 'x-api-token' },
    { kind: 'cookie', name: 'session' },
    { kind: 'query', name: 'access_token' },
  ])
  assert.match(
    (await issues({ ...BASE, JWTGATE_TOKEN_SOURCES: 'body:token' }))[0]!,
    /^JWTGATE_TOKEN_SOURCES: must be a comma-separated list of header:Authorization/,
  )
})

test('loadConfig() parses public paths and rejects other wildcards', async () => {
  const c = await loadConfig({ ...BASE, JWTGATE_PUBLIC_PATHS: '/health, /docs/*' })
  assert.deepEqual(c.routes.map((r) => [r.pattern, r.auth]), [['/health', 'public'], [
    '/docs/*',
    'public',
  ], ['/*', 'required']])
  assert.match(
    (await issues({ ...BASE, JWTGATE_PUBLIC_PATHS: 'health' }))[0]!,
    /must start with \//,
  )
  assert.match(
    (await issues({ ...BASE, JWTGATE_PUBLIC_PATHS: '/a*b' }))[0]!,
    /is not a literal, :param, :param\+ or \*/,
  )
  assert.match(
    (await issues({ ...BASE, JWTGATE_PUBLIC_PATHS: '/a/*/b' }))[0]!,
    /only allowed as the last segment/,
  )
})

test('loadConfig() refuses public paths no normalised request can match, naming the spelling', async () => {
  for (
    const [written, spelling] of [
      ['/%7Estatus', '/~status'],
      ['/%68ealth', '/health'],
      ['/docs/caf%c3%a9/*', '/docs/caf%C3%A9/*'],
    ]
  ) {
    assert.deepEqual(await issues({ ...BASE, JWTGATE_PUBLIC_PATHS: `/ok, ${written}` }), [
      `JWTGATE_PUBLIC_PATHS: "${written}": never matches a request: requests are compared in normalised form, write "${spelling}"`,
    ])
  }
  assert.match(
    (await issues({ ...BASE, JWTGATE_PUBLIC_PATHS: '/a%2f/*' }))[0]!,
    /^JWTGATE_PUBLIC_PATHS: "\/a%2f\/\*": never matches a request: encoded slashes/,
  )
})

test('loadConfig() parses forwarded claims and refuses reserved or duplicate headers', async () => {
  const c = await loadConfig({
    ...BASE,
    JWTGATE_FORWARD_CLAIMS: 'sub=X-User-Id, realm_access.roles=X-Roles',
  })
  assert.deepEqual(c.routes.at(-1)!.claimHeaders.map((f) => [f.claim.raw, f.header]), [[
    'sub',
    'x-user-id',
  ], ['realm_access.roles', 'x-roles']])
  assert.match(
    (await issues({ ...BASE, JWTGATE_FORWARD_CLAIMS: 'sub=Authorization' }))[0]!,
    /Authorization is reserved/,
  )
  assert.match(
    (await issues({ ...BASE, JWTGATE_FORWARD_CLAIMS: 'sub=X-Forwarded-For' }))[0]!,
    /reserved/,
  )
  assert.match((await issues({ ...BASE, JWTGATE_FORWARD_CLAIMS: 'sub' }))[0]!, /claim=Header-Name/)
  assert.match(
    (await issues({ ...BASE, JWTGATE_FORWARD_CLAIMS: 'sub=X A' }))[0]!,
    /not a valid header name/,
  )
  assert.match(
    (await issues({ ...BASE, JWTGATE_FORWARD_CLAIMS: 'sub=X-A,email=x-a' }))[0]!,
    /mapped twice/,
  )
})

test('loadConfig() reports unknown JWTGATE_ variables with the closest known name', async () => {
  assert.deepEqual(await issues({ ...BASE, JWTGATE_UPSTREAM_TIMOUT: '5s' }), [
    'JWTGATE_UPSTREAM_TIMOUT: unknown variable (did you mean JWTGATE_UPSTREAM_TIMEOUT?)',
  ])
  assert.deepEqual(await issues({ ...BASE, JWTGATE_ZZZZZZZZZZZZ: '1' }), [
    'JWTGATE_ZZZZZZZZZZZZ: unknown variable',
  ])
})

test('loadConfig() treats empty variables as unset and ignores other variables', async () => {
  const c = await loadConfig({
    ...BASE,
    JWTGATE_PORT: '',
    JWTGATE_AUDIENCE: '  ',
    PATH: '/bin',
    HOME: '/root',
  })
  assert.equal(c.port, 8080)
  assert.deepEqual(c.providers[0]!.verify.audiences, [])
})

test('websockets: the buffered bound must hold two messages (a sender is held at half of it)', async () => {
  await assert.rejects(
    loadConfig({ ...BASE, JWTGATE_WEBSOCKET_MAX_MESSAGE: '3mb' }),
    (e: Error) =>
      e.message.includes('JWTGATE_WEBSOCKET_MAX_MESSAGE: must leave room for two messages'),
  )
  const ok = await loadConfig({
    ...BASE,
    JWTGATE_WEBSOCKET_MAX_MESSAGE: '3mb',
    JWTGATE_WEBSOCKET_MAX_BUFFERED: '6mb',
  })
  assert.equal(ok.websockets.maxBufferedBytes, 6 * 1024 * 1024)
})

test('JWTGATE_ISSUER and JWTGATE_AUDIENCE that name nothing are refused, not read as "no check"', async () => {
  for (const name of ['JWTGATE_ISSUER', 'JWTGATE_AUDIENCE']) {
    for (const value of [',', ' , ,']) {
      const out = await issues({ ...BASE, [name]: value })
      assert.equal(out.length, 1, `${name}=${value}`)
      assert.match(out[0]!, new RegExp(`^${name}: names nothing`))
    }
    // Blank is unset (an env file's NAME=): no check, as documented.
    const blank = await loadConfig({ ...BASE, [name]: '' })
    assert.deepEqual(blank.providers[0]!.verify.audiences, [])
  }
})

test('requirement lists that name nothing are refused, not read as "no check": the scopes and roles variables, a file’s scopes/roles/all/any', async () => {
  for (const name of ['JWTGATE_REQUIRED_SCOPES', 'JWTGATE_REQUIRED_ROLES']) {
    for (const value of [',', ' , ,', ' ']) {
      if (value.trim() === '') continue
      const out = await issues({ ...BASE, [name]: value })
      assert.equal(out.length, 1, `${name}=${value}`)
      assert.match(out[0]!, new RegExp(`^${name}: names nothing`))
    }
    await loadConfig({ ...BASE, [name]: '' })
  }
  const file = (require: unknown) => () =>
    JSON.stringify({
      providers: { main: { issuer: 'https://idp.test', secret: SECRET } },
      upstreams: { api: { url: 'http://127.0.0.1:9' } },
      routes: [{ path: '/*', upstream: 'api', require }],
    })
  const cases: [unknown, string][] = [
    [{ roles: { any: [] } }, 'routes[0].require.roles.any: names no role'],
    [{ scopes: { any: [] } }, 'routes[0].require.scopes.any: names no scope'],
    [{ scopes: { all: [] } }, 'routes[0].require.scopes.all: names no scope'],
    [{ claims: [{ all: [] }] }, 'routes[0].require.claims[0].all: names no condition'],
    [{ claims: [{ not: { any: [] } }] }, 'routes[0].require.claims[0].not.any: names no condition'],
  ]
  for (const [require, problem] of cases) {
    const out = await issues({ JWTGATE_CONFIG: 'a.json' }, file(require))
    assert.equal(out.length, 1, JSON.stringify(require))
    assert.ok(out[0]!.startsWith(problem), String(out[0]))
  }
  await loadConfig({ JWTGATE_CONFIG: 'a.json' }, { readFile: file({ scopes: { all: ['a'] } }) })
})

test('a duration a timer waits for is at most 24 days (a longer one would fire at once); a token lifetime may be longer', async () => {
  for (
    const name of [
      'JWTGATE_SHUTDOWN_TIMEOUT',
      'JWTGATE_UPSTREAM_TIMEOUT',
      'JWTGATE_STREAM_IDLE_TIMEOUT',
      'JWTGATE_JWKS_TIMEOUT',
      'JWTGATE_WEBSOCKET_IDLE_TIMEOUT',
    ]
  ) {
    const out = await issues({ ...BASE, [name]: '600h' })
    assert.equal(out.length, 1, name)
    assert.match(out[0]!, new RegExp(`^${name}: .*up to 24 days`))
  }
  const long = await loadConfig({ ...BASE, JWTGATE_REVOCATIONS_MAX_TOKEN_LIFETIME: '2160h' })
  assert.equal(long.revocations.maxTokenLifetimeSec, 90 * 86_400)
  const edge = await loadConfig({ ...BASE, JWTGATE_SHUTDOWN_TIMEOUT: '576h' })
  assert.equal(edge.shutdownTimeoutMs, 24 * 86_400_000)
})

test('a deadline of 0 and a message or buffer cap of 0 are refused: nothing would pass', async () => {
  for (
    const [name, value] of [
      ['JWTGATE_UPSTREAM_TIMEOUT', '0'],
      ['JWTGATE_JWKS_TIMEOUT', '0s'],
      ['JWTGATE_REDIS_TIMEOUT', '0ms'],
      ['JWTGATE_WEBSOCKET_MAX_MESSAGE', '0'],
      ['JWTGATE_WEBSOCKET_MAX_BUFFERED', '0kb'],
    ] as const
  ) {
    const out = await issues({ ...BASE, [name]: value })
    assert.equal(out.length, 1, name)
    assert.match(out[0]!, new RegExp(`^${name}: must be a (duration|size) above 0`))
  }
})

test('a provider with the issuer’s public keys that checks no audience is a warning (RFC 8725 §3.9); a secret, or an audience, is not', async () => {
  const pem = (await keyPair('RS256')).spki
  const jwks = {
    JWTGATE_UPSTREAM: 'http://127.0.0.1:3000',
    JWTGATE_JWKS_URL: 'http://127.0.0.1:1/k',
    JWTGATE_ISSUER: 'https://idp.test',
  }
  assert.deepEqual((await loadConfig(jwks)).warnings, [
    "JWTGATE_AUDIENCE: no audience is checked, so a token the issuer signed for another API passes too; set it to this API's",
  ])
  assert.deepEqual((await loadConfig({ ...jwks, JWTGATE_AUDIENCE: 'orders-api' })).warnings, [])
  assert.deepEqual((await loadConfig(BASE)).warnings, [])
  const file = JSON.stringify({
    providers: {
      keyed: { issuer: 'https://a.test', publicKey: pem },
      scoped: { issuer: 'https://b.test', publicKey: pem, audience: ['orders-api'] },
      shared: { issuer: 'https://c.test', secret: SECRET },
    },
    upstreams: { api: { url: 'http://127.0.0.1:9' } },
    routes: [{ path: '/*', upstream: 'api', providers: ['keyed', 'scoped', 'shared'] }],
  })
  const c = await loadConfig({ JWTGATE_CONFIG: 'a.json' }, { readFile: () => file })
  assert.deepEqual(c.warnings, [
    "providers.keyed: no audience is checked, so a token the issuer signed for another API passes too; set audience to this API's",
  ])
})

test('a JWK Set cooldown under 1 s is a warning (any client can make the gateway refetch); 1 s, the default, or local keys are not', async () => {
  const jwks = {
    JWTGATE_UPSTREAM: 'http://127.0.0.1:3000',
    JWTGATE_JWKS_URL: 'http://127.0.0.1:1/k',
    JWTGATE_AUDIENCE: 'orders-api',
    JWTGATE_ISSUER: 'https://idp.test',
  }
  assert.deepEqual((await loadConfig({ ...jwks, JWTGATE_JWKS_COOLDOWN: '0s' })).warnings, [
    'JWTGATE_JWKS_COOLDOWN: 0 ms between JWK Set fetches, so any token with an unknown kid fetches the set again and one client can keep the gateway fetching it back to back; keep it at 1s or more (default 30s)',
  ])
  assert.deepEqual((await loadConfig({ ...jwks, JWTGATE_JWKS_COOLDOWN: '1s' })).warnings, [])
  assert.deepEqual((await loadConfig(jwks)).warnings, [])
  assert.deepEqual((await loadConfig({ ...BASE, JWTGATE_JWKS_COOLDOWN: '0s' })).warnings, [])
  const file = JSON.stringify({
    providers: {
      eager: {
        issuer: 'https://a.test',
        jwksUrl: 'http://127.0.0.1:1/k',
        audience: 'a',
        jwksCooldown: '500ms',
      },
      calm: { issuer: 'https://b.test', jwksUrl: 'http://127.0.0.1:1/k', audience: 'a' },
    },
    upstreams: { api: { url: 'http://127.0.0.1:9' } },
    routes: [{ path: '/*', upstream: 'api', providers: ['eager', 'calm'] }],
  })
  const c = await loadConfig({ JWTGATE_CONFIG: 'a.json' }, { readFile: () => file })
  assert.deepEqual(c.warnings, [
    'providers.eager.jwksCooldown: 500 ms between JWK Set fetches, so any token with an unknown kid fetches the set again and one client can keep the gateway fetching it back to back; keep it at 1s or more (default 30s)',
  ])
})

test('a route accepting several providers that sends claims upstream without iss is a warning; with iss, one provider, or no claim headers it is not', async () => {
  const config = (routes: unknown[]) =>
    loadConfig({ JWTGATE_CONFIG: 'a.json' }, {
      readFile: () =>
        JSON.stringify({
          providers: {
            staff: { issuer: 'https://a.test', secret: SECRET },
            partners: { issuer: 'https://b.test', secret: SECRET },
          },
          upstreams: { api: { url: 'http://127.0.0.1:9' } },
          routes,
        }),
    })
  const mixed = await config([
    { name: 'both', path: '/a/*', upstream: 'api', claimHeaders: { sub: 'X-User-Id' } },
    {
      name: 'with-iss',
      path: '/b/*',
      upstream: 'api',
      claimHeaders: { sub: 'X-User-Id', iss: 'X-Issuer' },
    },
    {
      name: 'one',
      path: '/c/*',
      upstream: 'api',
      providers: ['staff'],
      claimHeaders: { sub: 'X-User-Id' },
    },
    { name: 'none', path: '/d/*', upstream: 'api' },
  ])
  assert.deepEqual(mixed.warnings, [
    'routes[0]: accepts tokens of staff, partners and sends sub as x-user-id upstream without the issuer, so a token of one issuer can name a subject of another; send iss too (claimHeaders: { iss: X-Issuer }) or give each issuer its own route',
  ])
  // One provider accepting several issuers (tenants) is the same; one issuer is not.
  const issuing = async (issuers: string) =>
    (await loadConfig({
      JWTGATE_UPSTREAM: 'http://127.0.0.1:9',
      JWTGATE_SECRET: SECRET,
      JWTGATE_ISSUER: issuers,
      JWTGATE_FORWARD_CLAIMS: 'sub=X-User-Id',
    })).warnings
  assert.deepEqual(await issuing('https://a.test,https://b.test'), [
    'default route: accepts tokens of the 2 issuers of provider default and sends sub as x-user-id upstream without the issuer, so a token of one issuer can name a subject of another; send iss too (claimHeaders: { iss: X-Issuer }) or give each issuer its own route',
  ])
  assert.deepEqual(await issuing('https://a.test'), [])
})

test('a limit keyed by a request header is a warning unless every client is bounded too (JWTGATE_RATE_LIMIT, or an address limit on every route)', async () => {
  const config = (rateLimits: Record<string, unknown>, top: Record<string, unknown> = {}) =>
    loadConfig({ JWTGATE_CONFIG: 'a.json' }, {
      readFile: () =>
        JSON.stringify({
          ...top,
          providers: { p: { issuer: 'https://a.test', secret: SECRET } },
          upstreams: { api: { url: 'http://127.0.0.1:9' } },
          routes: [{ name: 'all', path: '/*', upstream: 'api', auth: 'optional' }],
          rateLimits,
        }),
    })
  const keyed = { keys: { rate: '10/1s', key: 'header:X-Api-Key' } }
  assert.deepEqual((await config(keyed)).warnings, [
    'rateLimits.keys: keyed by the x-api-key header, which the client writes: one sending another value with each request is in a new bucket each time; bound every client too (rateLimit, JWTGATE_RATE_LIMIT, or a limit keyed by address on every route)',
  ])
  assert.deepEqual((await config(keyed, { rateLimit: '100/1s' })).warnings, [])
  assert.deepEqual(
    (await config({ ...keyed, clients: { rate: '100/1s', key: 'address' } })).warnings,
    [],
  )
  // An address limit on some routes only leaves the others unbounded.
  assert.equal(
    (await config({ ...keyed, clients: { rate: '100/1s', key: 'address', routes: ['all'] } }))
      .warnings.length,
    1,
  )
  assert.deepEqual((await config({ subs: { rate: '10/1s', key: 'sub' } })).warnings, [])
})

test('a secret that is a public key (PEM) or a JWK is refused: taken as an HMAC secret, anyone who has the published key could sign tokens', async () => {
  const pair = await keyPair('RS256')
  const jwk = JSON.stringify(pair.publicJwk)
  for (
    const value of [
      pair.spki,
      `base64:${btoa(pair.spki)}`,
      jwk,
      JSON.stringify({ keys: [pair.publicJwk] }),
    ]
  ) {
    const out = await issues({ ...BASE, JWTGATE_SECRET: value })
    assert.equal(out.length, 1, value.slice(0, 40))
    assert.match(
      out[0]!,
      /^JWTGATE_SECRET: the secret is a PEM block or a JWK, not a shared secret/,
    )
    assert.ok(!out[0]!.includes('MII') && !out[0]!.includes('"n"'), 'no key material shown')
  }
  // From a file too (JWTGATE_SECRET_FILE naming the provider's published key).
  const fromFile = await issues(
    { JWTGATE_UPSTREAM: BASE.JWTGATE_UPSTREAM, JWTGATE_SECRET_FILE: '/etc/idp/public.pem' },
    () => `${pair.spki}\n`,
  )
  assert.match(fromFile[0]!, /is a PEM block or a JWK/)
})

test('what was given where a file path belongs is never shown when the file cannot be read: it may be the secret itself', async () => {
  const secretText = 'Zq3-very-secret-value-0123456789abcdef'
  const pem =
    '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----'
  const cases: Record<string, string>[] = [
    { ...BASE, JWTGATE_ADMIN_TOKEN_FILE: secretText },
    { JWTGATE_UPSTREAM: BASE.JWTGATE_UPSTREAM, JWTGATE_SECRET_FILE: secretText },
    { ...BASE, JWTGATE_REDIS_URL_FILE: 'rediss://user:Zq3-password@redis.internal:6380' },
    { ...BASE, JWTGATE_TLS_CERT: '/etc/tls/cert.pem', JWTGATE_TLS_KEY: pem },
  ]
  const missing = () => {
    throw new Error('ENOENT')
  }
  for (const env of cases) {
    const out = (await issues(env, missing)).join('\n')
    assert.match(out, /cannot read the file it names/, JSON.stringify(env))
    assert.ok(!out.includes('Zq3') && !out.includes('MIIE'), out)
  }
  // An OIDC issuer with credentials: refused, and its URL not repeated in another issue.
  const oidc = (await issues({
    JWTGATE_UPSTREAM: BASE.JWTGATE_UPSTREAM,
    JWTGATE_OIDC_ISSUER: 'https://user:Zq3-password@idp.example.com',
    JWTGATE_ISSUER: 'https://other.example.com',
  })).join('\n')
  assert.match(oidc, /must not contain credentials/)
  assert.ok(!oidc.includes('Zq3'), oidc)
})

test('a provider with published keys (a JWK Set, a public key) that checks no issuer is a warning: tenants sharing a key set would pass as each other; a secret, an issuer or OIDC discovery is not', async () => {
  const pem = (await keyPair('RS256')).spki
  const env = {
    JWTGATE_UPSTREAM: 'http://127.0.0.1:3000',
    JWTGATE_JWKS_URL: 'http://127.0.0.1:1/k',
    JWTGATE_AUDIENCE: 'orders-api',
  }
  assert.deepEqual((await loadConfig(env)).warnings, [
    "JWTGATE_ISSUER: no issuer is checked, so a token any issuer signed with these keys passes (the tenants of a multi-tenant identity provider share its keys); set it to the issuer's",
  ])
  assert.deepEqual((await loadConfig({ ...env, JWTGATE_ISSUER: 'https://idp.test' })).warnings, [])
  assert.deepEqual((await loadConfig(BASE)).warnings, [])
  const file = JSON.stringify({
    providers: {
      open: { publicKey: pem, audience: ['orders-api'] },
      pinned: { issuer: 'https://b.test', publicKey: pem, audience: ['orders-api'] },
      shared: { secret: SECRET },
    },
    upstreams: { api: { url: 'http://127.0.0.1:9' } },
    routes: [
      { path: '/a/*', upstream: 'api', providers: ['open'] },
      { path: '/b/*', upstream: 'api', providers: ['pinned'] },
      { path: '/c/*', upstream: 'api', providers: ['shared'] },
    ],
  })
  const c = await loadConfig({ JWTGATE_CONFIG: 'a.json' }, { readFile: () => file })
  assert.deepEqual(c.warnings.filter((w) => w.includes('no issuer')), [
    "providers.open: no issuer is checked, so a token any issuer signed with these keys passes (the tenants of a multi-tenant identity provider share its keys); set issuer to the issuer's",
  ])
})
