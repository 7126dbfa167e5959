/**
 * The compiled binary's configuration-file commands (issue 4): `check --config`, environment
 * overrides next to a file, `schema`, and `explain` (which never contacts the upstream).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { writeFileSync } from 'node:fs'
import type { JWTPayload } from 'jose'
import { secret, sign } from '../helpers/keys.ts'
import { BINARY, runTarget } from '../helpers/process.ts'
import { recordingUpstream } from '../helpers/serve.ts'
import { TempDir } from '../helpers/files.ts'

const files = new TempDir()
const alphaKey = secret(32)
const betaKey = secret(32)
let upstream: Awaited<ReturnType<typeof recordingUpstream>>

const jwtgate = (args: string[], env: Record<string, string> = {}) => runTarget(BINARY, args, env)
const lines = (text: string) => text.split('\n').filter((l) => l !== '')

/** Two providers (inline HS256 secrets), one upstream, routes a request can fall through. */
function configFile(extraRoutes = ''): string {
  return `$schema: ./jwtgate.schema.json
listen: {host: 127.0.0.1, port: 8123}
providers:
  alpha:
    issuer: https://alpha.test
    secret: "${alphaKey.config}"
  beta:
    issuer: https://beta.test
    secret: "${betaKey.config}"
upstreams:
  main: {url: "${upstream.url}", timeout: 5s}
routes:
  - name: public
    path: /public/*
    upstream: main
    auth: public
  - name: tenants-admin
    path: /tenants/:tenant/*
    methods: [DELETE]
    upstream: main
    require: {roles: {any: [admin]}}
  - name: tenants
    path: /tenants/:tenant/*
    upstream: main
    require:
      claims:
        - {claim: tenant, equals: '{params.tenant}'}
${extraRoutes}`
}

const alphaToken = (claims: JWTPayload) =>
  sign({ iss: 'https://alpha.test', sub: 'ann', ...claims }, { alg: 'HS256', key: alphaKey.raw })

beforeAll(async () => {
  upstream = await recordingUpstream()
})

afterAll(async () => {
  await upstream?.close()
  files.remove()
})

describe('dist/jwtgate check --config', () => {
  test('a valid file: "configuration OK", one line per route, a warning for a shadowed route, no secret', async () => {
    const shadowed = '  - {name: acme, path: /tenants/acme/*, upstream: main}\n'
    const path = files.write('valid.yaml', configFile(shadowed))
    const { code, stdout, stderr } = await jwtgate(['check', '--config', path])
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' })
    const out = lines(stdout)
    expect(out[0]).toStartWith('configuration OK')
    expect(out).toContain('listen:   127.0.0.1:8123')
    expect(out).toContain(`file:     ${path}`)
    expect(out).toContain(`upstream: main ${upstream.url} (timeout 5000 ms)`)
    expect(out).toContain('keys:     alpha: secret (HS256)')
    expect(out).toContain(
      'policy:   beta: algorithms HS256; issuer https://beta.test; required claims exp; tokens from header:Authorization,protocol:bearer',
    )
    expect(out.filter((l) => l.startsWith('route:'))).toEqual([
      'route:    routes[0] "public" * /public/* → main; public',
      'route:    routes[1] "tenants-admin" DELETE /tenants/:tenant/* → main; required (alpha,beta); roles admin in roles; websockets',
      'route:    routes[2] "tenants" * /tenants/:tenant/* → main; required (alpha,beta); 1 claim condition; websockets',
      'route:    routes[3] "acme" * /tenants/acme/* → main; required (alpha,beta); websockets',
    ])
    expect(out.filter((l) => l.startsWith('warning:'))).toEqual([
      'warning:  routes[3] (/tenants/acme/*) is shadowed by routes[2] (/tenants/:tenant/*) and never matches',
    ])
    expect(stdout).not.toContain(alphaKey.config.slice('base64:'.length))
    expect(stdout).not.toContain(betaKey.config.slice('base64:'.length))
  })

  test('JSON works as well as YAML, and JWTGATE_CONFIG works like --config', async () => {
    const path = files.write(
      'valid.json',
      JSON.stringify({
        providers: { alpha: { issuer: 'https://alpha.test', secret: alphaKey.config } },
        upstreams: { main: { url: upstream.url } },
        routes: [{
          path: '/orders/:id',
          methods: ['GET'],
          upstream: 'main',
          require: { scopes: { any: ['orders:read', 'orders:admin'] } },
        }],
      }),
    )
    const { code, stdout, stderr } = await jwtgate(['check'], { JWTGATE_CONFIG: path })
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' })
    expect(lines(stdout)).toContain(
      'route:    routes[0] GET /orders/:id → main; required (alpha); any scope of orders:read orders:admin; websockets',
    )
  })

  test('schema problems: one line per problem at its place, unknown keys included; exit 1', async () => {
    const path = files.write(
      'schema-problems.yaml',
      configFile(`  - {path: /a, pathh: /a, upstream: main}
  - {path: /b, methods: [get], upstream: main}
  - {path: /c, upstream: main, auth: maybe}
  - path: /d
    upstream: main
    require:
      claims: [{claim: tenant, equal: x}]
`),
    )
    const { code, stdout, stderr } = await jwtgate(['check', '--config', path])
    expect(code).toBe(1)
    expect(stdout).toBe('')
    expect(lines(stderr)).toEqual([
      'routes[3].pathh: unknown key',
      'routes[4].methods[0]: must be one of GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS',
      'routes[5].auth: must be required, optional or public',
      'routes[6].require.claims[0]: unknown operator "equal" (expected one of equals, oneOf, contains, matches, all, any, not)',
      'jwtgate: the configuration is invalid',
    ])
  })

  test('reference problems: an unknown upstream or provider, a secret from an unset variable; exit 1', async () => {
    const path = files.write(
      'reference-problems.yaml',
      `providers:
  alpha: {issuer: https://alpha.test, secret: {env: ALPHA_SECRET}}
upstreams:
  main: {url: "${upstream.url}"}
routes:
  - {path: /a, upstream: nope}
  - {path: /b, upstream: main, providers: [gamma]}
`,
    )
    const { code, stdout, stderr } = await jwtgate(['check', '--config', path])
    expect(code).toBe(1)
    expect(stdout).toBe('')
    const out = lines(stderr)
    expect(out).toContain('providers.alpha.secret: environment variable ALPHA_SECRET is not set')
    expect(out).toContain('routes[0].upstream: unknown upstream "nope"')
    expect(out).toContain('routes[1].providers[0]: unknown provider "gamma"')
    expect(out.at(-1)).toBe('jwtgate: the configuration is invalid')

    // The same file is valid once the variable is set ({ "env": NAME } secrets).
    const ok = files.write(
      'env-secret.yaml',
      `providers:
  alpha: {issuer: https://alpha.test, secret: {env: ALPHA_SECRET}}
  beta: {issuer: https://beta.test, secret: {file: ${
        files.write('beta.secret', `${betaKey.config}\n`)
      }}}
upstreams:
  main: {url: "${upstream.url}"}
routes:
  - {path: /a, upstream: main}
`,
    )
    const good = await jwtgate(['check', '--config', ok], { ALPHA_SECRET: alphaKey.config })
    expect({ code: good.code, stderr: good.stderr }).toEqual({ code: 0, stderr: '' })
    expect(good.stdout).not.toContain(alphaKey.config.slice('base64:'.length))
  })

  // "reports every problem": a file with a schema problem still gets its reference problems reported.
  test('every problem at once: a schema problem does not hide an unknown upstream elsewhere in the file', async () => {
    const path = files.write(
      'all-problems.yaml',
      configFile(`  - {path: /a, pathh: /a, upstream: main}
  - {path: /b, upstream: nope}
  - path: /d
    upstream: main
    require:
      claims: [{claim: tenant, equal: x}]
`),
    )
    const { code, stderr } = await jwtgate(['check', '--config', path])
    expect(code).toBe(1)
    const out = lines(stderr)
    expect(out).toContain('routes[3].pathh: unknown key')
    expect(out.some((l) => l.startsWith('routes[5].require.claims[0]: unknown operator "equal"')))
      .toBe(true)
    expect(out).toContain('routes[4].upstream: unknown upstream "nope"')
  })

  test('environment variables override the top-level values of the file', async () => {
    const path = files.write('listen.yaml', configFile())
    const fromFile = await jwtgate(['check', '--config', path])
    expect(fromFile.code).toBe(0)
    expect(lines(fromFile.stdout)).toContain('listen:   127.0.0.1:8123')
    const overridden = await jwtgate(['check', '--config', path], {
      JWTGATE_PORT: '9234',
      JWTGATE_HOST: '::1',
    })
    expect(overridden.code).toBe(0)
    expect(lines(overridden.stdout)).toContain('listen:   ::1:9234')
    // --config wins over JWTGATE_CONFIG.
    const both = await jwtgate(['check', '--config', path], {
      JWTGATE_CONFIG: `${files.dir}/missing.yaml`,
    })
    expect(both.code).toBe(0)
  })

  test('JWTGATE_UPSTREAM (an environment-only setting) next to a file is refused, by check and by serve', async () => {
    const path = files.write('refuse.yaml', configFile())
    const env = { JWTGATE_UPSTREAM: 'http://127.0.0.1:3000' }
    const checked = await jwtgate(['check', '--config', path], env)
    expect(checked.code).toBe(1)
    expect(checked.stdout).toBe('')
    expect(lines(checked.stderr)[0]).toStartWith(
      'JWTGATE_UPSTREAM: describes the environment-only setup; with JWTGATE_CONFIG, set it in the file',
    )
    const served = await jwtgate(['serve', '--config', path], { ...env, JWTGATE_PORT: '0' })
    expect(served.code).toBe(1)
    expect(served.stdout).not.toContain('"event":"start"')
    expect(served.stderr).toContain('JWTGATE_UPSTREAM: describes the environment-only setup')
    expect(served.stderr).toContain('refusing to start')
  })

  test('a missing file and unparsable YAML are reported, exit 1', async () => {
    const missing = await jwtgate(['check', '--config', `${files.dir}/nope.yaml`])
    expect(missing.code).toBe(1)
    expect(lines(missing.stderr)[0]).toBe(
      `JWTGATE_CONFIG: cannot read file ${JSON.stringify(`${files.dir}/nope.yaml`)}`,
    )
    const broken = await jwtgate(['check', '--config', files.write('broken.yaml', 'routes: [\n')])
    expect(broken.code).toBe(1)
    expect(lines(broken.stderr)[0]).toContain('is not valid YAML')
  })

  test('a JSON file that is not JSON: where, never what it holds there (a secret, perhaps)', async () => {
    const path = files.write('leaky.json', '{"admin": {"token": hunter2-0123456789abcdef}}')
    const result = await jwtgate(['check', '--config', path])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(`${path}: is not valid JSON`)
    expect(result.stderr).not.toContain('hunter2')
    const trailing = await jwtgate(['check', '--config', files.write('comma.json', '{"a": 1,\n}')])
    expect(trailing.stderr).not.toContain('"a"')
  })

  test('a secret file that is not UTF-8 text (a binary key) is refused, never read as another key', async () => {
    const path = `${files.dir}/binary.key`
    // 48 bytes no UTF-8 text has: read as text, each would become U+FFFD (the same 3 bytes).
    writeFileSync(path, Uint8Array.from({ length: 48 }, (_, i) => 0x80 + (i % 64)))
    for (
      const env of [
        { JWTGATE_SECRET_FILE: path } as Record<string, string>,
        { JWTGATE_SECRET: alphaKey.config, JWTGATE_ADMIN_TOKEN_FILE: path },
      ]
    ) {
      const result = await jwtgate(['check'], { JWTGATE_UPSTREAM: upstream.url, ...env })
      expect(result.code).toBe(1)
      expect(result.stderr).toContain(
        'cannot read the file it names: not UTF-8 text (a binary key goes in as base64:',
      )
    }
  })
})

describe('dist/jwtgate schema', () => {
  test('prints the JSON Schema of the file: $schema, properties.routes, strict objects', async () => {
    const { code, stdout, stderr } = await jwtgate(['schema'])
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' })
    // deno-lint-ignore no-explicit-any -- walking a JSON Schema document
    const schema = JSON.parse(stdout) as Record<string, any>
    expect(schema.$schema).toMatch(/^https?:\/\/json-schema\.org\//)
    expect(schema.type).toBe('object')
    expect(schema.additionalProperties).toBe(false)
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining(['$schema', 'listen', 'providers', 'upstreams', 'routes', 'watch']),
    )
    expect(schema.properties.routes.type).toBe('array')
    const route = schema.properties.routes.items
    expect(route.required).toEqual(expect.arrayContaining(['path', 'upstream']))
    expect(route.additionalProperties).toBe(false)
    expect(route.properties.auth.enum).toEqual(['required', 'optional', 'public'])
  })
})

describe('dist/jwtgate explain', () => {
  let path: string
  beforeAll(() => {
    path = files.write('explain.yaml', configFile())
    upstream.seen.length = 0
  })
  afterAll(() => {
    // explain decides, it never forwards.
    expect(upstream.seen).toEqual([])
  })

  test('an allowed request: the route (and why earlier ones did not match), the provider, each check; exit 0', async () => {
    const token = await alphaToken({ tenant: 'acme' })
    const { code, stdout, stderr } = await jwtgate([
      'explain',
      'GET',
      '/tenants/acme/x',
      '--token',
      token,
      '--config',
      path,
    ])
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' })
    const out = lines(stdout)
    expect(out).toContain('✗ routes[0] /public/*: path does not match')
    expect(out).toContain('✗ routes[1] /tenants/:tenant/* [DELETE]: method GET not listed')
    expect(out).toContain('✓ routes[2] /tenants/:tenant/*: matches (params {"tenant":"acme"})')
    expect(out).toContain('✓ provider alpha')
    expect(out).toContain('✓ routes[2].require.claims[0]: claim tenant equals "acme" (saw "acme")')
    expect(out.at(-1)).toBe(`→ 200 allowed via route "tenants" to ${upstream.url}/tenants/acme/x`)
    expect(stdout).not.toContain(token)
    expect(upstream.seen).toEqual([])
  })

  test('a request rejected by a claim condition: what was expected and what was seen; exit 1', async () => {
    const token = await alphaToken({ tenant: 'globex' })
    const { code, stdout } = await jwtgate([
      'explain',
      'GET',
      '/tenants/acme/x',
      '--token',
      token,
      '--config',
      path,
    ])
    expect(code).toBe(1)
    const out = lines(stdout)
    expect(stdout).toContain('claim tenant equals "acme"')
    expect(out).toContain(
      '✗ routes[2].require.claims[0]: claim tenant equals "acme" (saw "globex")',
    )
    expect(out.at(-1)).toBe('→ 403 claim_mismatch via route "tenants"')
  })

  test('a request no route matches: → 404 no_route; exit 1', async () => {
    const { code, stdout } = await jwtgate(['explain', 'GET', '/nothing/here', '--config', path])
    expect(code).toBe(1)
    const out = lines(stdout)
    expect(out).toContain('✗ routes[2] /tenants/:tenant/*: path does not match')
    expect(out.at(-1)).toBe('→ 404 no_route')
  })

  test('--header, a full URL, and a token of an unknown issuer: → 401 wrong_issuer', async () => {
    const stranger = await sign({ iss: 'https://evil.test', tenant: 'acme' }, {
      alg: 'HS256',
      key: alphaKey.raw,
    })
    const { code, stdout } = await jwtgate([
      'explain',
      'GET',
      'http://127.0.0.1:8123/tenants/acme/x',
      '--header',
      `Authorization: Bearer ${stranger}`,
      '--config',
      path,
    ])
    expect(code).toBe(1)
    expect(lines(stdout).at(-1)).toBe('→ 401 wrong_issuer via route "tenants"')
    const beta = await sign({ iss: 'https://beta.test', tenant: 'acme' }, {
      alg: 'HS256',
      key: betaKey.raw,
    })
    const ok = await jwtgate([
      'explain',
      'GET',
      '/tenants/acme/x',
      '--header',
      `Authorization: Bearer ${beta}`,
      '--config',
      path,
    ])
    expect(ok.code).toBe(0)
    expect(lines(ok.stdout)).toContain('✓ provider beta')
  })

  test('--json: status, decision, route, upstream and steps', async () => {
    const allowed = await jwtgate([
      'explain',
      'GET',
      '/tenants/acme/x',
      '--token',
      await alphaToken({ tenant: 'acme' }),
      '--json',
      '--config',
      path,
    ])
    expect(allowed.code).toBe(0)
    // deno-lint-ignore no-explicit-any -- walking a JSON Schema document
    const a = JSON.parse(allowed.stdout) as Record<string, any>
    expect(a).toMatchObject({
      method: 'GET',
      path: '/tenants/acme/x',
      status: 200,
      decision: 'allowed',
      route: 'tenants',
      upstream: `${upstream.url}/tenants/acme/x`,
    })
    expect(a.steps).toContainEqual({
      step: 'routes[2].require.claims[0]: claim tenant equals "acme"',
      ok: true,
      detail: 'saw "acme"',
    })

    const rejected = await jwtgate([
      'explain',
      'GET',
      '/tenants/acme/x',
      '--token',
      await alphaToken({ tenant: 'globex' }),
      '--json',
      '--config',
      path,
    ])
    expect(rejected.code).toBe(1)
    // deno-lint-ignore no-explicit-any -- walking a JSON Schema document
    const r = JSON.parse(rejected.stdout) as Record<string, any>
    expect(r).toMatchObject({ status: 403, decision: 'claim_mismatch', route: 'tenants' })
    expect(r.upstream).toBeUndefined()
    expect(r.steps).toContainEqual({
      step: 'routes[2].require.claims[0]: claim tenant equals "acme"',
      ok: false,
      detail: 'saw "globex"',
    })

    const none = await jwtgate(['explain', 'DELETE', '/nothing', '--json', '--config', path])
    expect(none.code).toBe(1)
    // deno-lint-ignore no-explicit-any -- walking a JSON Schema document
    const n = JSON.parse(none.stdout) as Record<string, any>
    expect(n).toMatchObject({ status: 404, decision: 'no_route' })
    expect(n.route).toBeUndefined()
    expect(Array.isArray(n.steps)).toBe(true)
  })
})
