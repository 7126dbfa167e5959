import { expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import type { Host } from '../../src/cli/host.ts'
import { handlerOf } from '../../src/adapters/types.ts'
import { main } from '../../src/cli/main.ts'
import { startDemo } from '../../src/cli/demo.ts'
import { VERSION } from '../../src/version.ts'
import { secret, sign } from '../helpers/keys.ts'
import { recordingUpstream, serve } from '../helpers/serve.ts'

interface TestHost extends Host {
  out: string[]
  err: string[]
  signal(): void
  reload(): void
}

function testHost(env: Record<string, string>, files: Record<string, string> = {}): TestHost {
  let listener: ((s: string) => void) | undefined
  let reloadListener: (() => void) | undefined
  const out: string[] = []
  const err: string[] = []
  return {
    runtime: 'test',
    env,
    out,
    err,
    readFile(path) {
      if (!(path in files)) throw new Error('ENOENT')
      return files[path]!
    },
    networks: () => [],
    appendFile(path, text) {
      files[path] = (files[path] ?? '') + text
    },
    stdout: (l) => void out.push(l),
    stderr: (l) => void err.push(l),
    async serve(servable) {
      const handler = handlerOf(servable)
      const s = await serve((r) => handler(r, { clientAddress: '127.0.0.1' }))
      return { port: s.port, stop: () => s.close() }
    },
    onSignal: (l) => void (listener = l),
    exit: (code) => {
      throw new Error(`exit ${code}`)
    },
    onReload: (l) => void (reloadListener = l),
    watchFile: () => () => {},
    gatewayDeps: { fetchInit: { decompress: false } },
    // One core: `auto` serves in this process (workers are tested end to end, tests/e2e/workers).
    platform: 'linux',
    pid: 1,
    cpuCount: () => 1,
    coresPerWorker: 1,
    stdin: () => new ReadableStream(),
    spawnWorker: () => {
      throw new Error('no workers in this test host')
    },
    signal: () => listener?.('SIGTERM'),
    reload: () => reloadListener?.(),
  }
}

const HS = secret(32)

/** Runs `serve` on a test host until it listens; resolves with its port and its exit. */
async function serveInBackground(h: TestHost): Promise<{ exit: Promise<number>; port: number }> {
  let port = 0
  const original = h.serve
  h.serve = async (handler, o) => {
    const s = await original(handler, o)
    port = s.port
    return s
  }
  const exit = main(['serve'], h)
  for (let i = 0; i < 2000 && port === 0; i++) await Bun.sleep(5)
  return { exit, port }
}

test('one version: VERSION, package.json, package-lock.json, deno.json and the newest CHANGELOG entry agree', () => {
  const read = (file: string) => readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8')
  const lock = JSON.parse(read('package-lock.json'))
  expect(VERSION).toMatch(/^\d+\.\d+\.\d+$/)
  expect({
    package: JSON.parse(read('package.json')).version,
    lock: lock.version,
    lockRoot: lock.packages[''].version,
    deno: JSON.parse(read('deno.json')).version,
    changelog: /^## (\S+) — \d{4}-\d{2}-\d{2}$/m.exec(read('CHANGELOG.md'))?.[1],
  }).toEqual({
    package: VERSION,
    lock: VERSION,
    lockRoot: VERSION,
    deno: VERSION,
    changelog: VERSION,
  })
})

test('--version and --help print and exit 0; an unknown command exits 2', async () => {
  const h = testHost({})
  expect(await main(['--version'], h)).toBe(0)
  expect(h.out).toEqual([`jwtgate ${VERSION} (source, ${h.runtime})`])
  expect(await main(['--help'], h)).toBe(0)
  expect(h.out.at(-1)).toContain('jwtgate demo')
  expect(await main(['launch'], h)).toBe(2)
  expect(h.err.at(-1)).toContain('unknown command "launch"')
  expect(await main(['check', 'extra'], h)).toBe(2)
})

test('an unknown option is named without its value: `--token=eyJ…` never prints the token', async () => {
  const h = testHost({})
  for (const args of [['revoke', '--token=eyJsecret.part.sig'], ['explain', '--jti=abc', 'GET']]) {
    expect(await main(args, h)).toBe(2)
    const said = h.err.join('\n')
    expect(said).toContain(`unknown option ${args[1]!.split('=')[0]}`)
    expect(said).not.toContain('secret')
    expect(said).not.toContain('abc')
  }
  // Before any command, and a token where an argument does not belong: neither is echoed.
  for (
    const args of [['--token=eyJsecret.part.sig'], ['revoke', 'eyJsecret.part.sig'], [
      'eyJsecret.part.sig',
    ]]
  ) {
    h.err.length = 0
    expect(await main(args, h)).toBe(2)
    expect(h.err.join('\n')).not.toContain('secret')
  }
  expect(h.err.at(-1)).toContain('unknown command (not shown)')
})

test('check exits 0 with a summary that holds no secret', async () => {
  const h = testHost({
    JWTGATE_UPSTREAM: 'http://127.0.0.1:3000/api',
    JWTGATE_SECRET: HS.config,
    JWTGATE_AUDIENCE: 'api',
  })
  expect(await main(['check'], h)).toBe(0)
  const text = h.out.join('\n')
  expect(text).toContain('configuration OK')
  expect(text).toContain('upstream: http://127.0.0.1:3000/api')
  expect(text).toContain('secret (HS256)')
  expect(text).toContain('audience api')
  expect(text).not.toContain(HS.config.slice(7))
})

test('check exits 1 with one line per problem naming the variable', async () => {
  const h = testHost({
    JWTGATE_UPSTREAM: 'ftp://x',
    JWTGATE_SECRET: 'too-short',
    JWTGATE_PORT: 'eighty',
  })
  expect(await main(['check'], h)).toBe(1)
  expect(h.err.slice(0, -1).sort()).toEqual([
    'JWTGATE_PORT: must be a port number from 0 to 65535 (got "eighty")',
    'JWTGATE_SECRET: the secret is 9 bytes; at least 32 bytes (256 bits) are required for HS256',
    'JWTGATE_UPSTREAM: must use http:// or https://, not ftp://',
  ])
  const keys = testHost({ JWTGATE_UPSTREAM: 'http://x', JWTGATE_SECRET: 'too-short' })
  expect(await main(['check'], keys)).toBe(1)
  expect(keys.err[0]).toBe(
    'JWTGATE_SECRET: the secret is 9 bytes; at least 32 bytes (256 bits) are required for HS256',
  )
  expect(keys.err.join('\n')).not.toContain('too-short')
})

test('serve with no configuration at all points at jwtgate demo and does not listen', async () => {
  const h = testHost({ PATH: '/bin' })
  let listened = false
  h.serve = () => {
    listened = true
    return Promise.reject(new Error('must not listen'))
  }
  expect(await main([], h)).toBe(1)
  expect(h.err.join('\n')).toContain('jwtgate demo')
  expect(listened).toBe(false)
})

test('serve refuses an invalid configuration before listening', async () => {
  const h = testHost({ JWTGATE_UPSTREAM: 'http://x' })
  let listened = false
  h.serve = () => {
    listened = true
    return Promise.reject(new Error('must not listen'))
  }
  expect(await main(['serve'], h)).toBe(1)
  expect(h.err[0]).toContain('key source: none configured')
  expect(h.err.at(-1)).toBe('jwtgate: refusing to start with an invalid configuration')
  expect(listened).toBe(false)
})

test('serve prints one start-up line, proxies, and exits 0 on a signal', async () => {
  const upstream = await recordingUpstream()
  const h = testHost({
    JWTGATE_UPSTREAM: upstream.url,
    JWTGATE_SECRET: HS.config,
    JWTGATE_PORT: '0',
    JWTGATE_LOG_LEVEL: 'warn',
  })
  const { exit, port } = await serveInBackground(h)
  const start = JSON.parse(h.out[0]!)
  expect(start.event).toBe('start')
  expect(start.version).toBe(VERSION)
  expect(start.keys).toBe('secret (HS256)')
  expect(JSON.stringify(start)).not.toContain(HS.config.slice(7))
  const res = await fetch(`http://127.0.0.1:${port}/x`, {
    headers: { authorization: `Bearer ${await sign({ sub: 's' }, { alg: 'HS256', key: HS.raw })}` },
  })
  expect(res.status).toBe(200)
  h.signal()
  expect(await exit).toBe(0)
  await upstream.close()
})

test('demo prints a token and curl commands that work against its gateway', async () => {
  const h = testHost({ JWTGATE_PORT: '0' })
  const run = await startDemo(h)
  try {
    const text = h.out.join('\n')
    expect(text).toContain(`TOKEN=${run.token}`)
    expect(text).toContain('curl -i -H "Authorization: Bearer $TOKEN"')
    const ok = await fetch(`http://127.0.0.1:${run.gatewayPort}/hello`, {
      headers: { authorization: `Bearer ${run.token}` },
    })
    expect(ok.status).toBe(200)
    expect((await ok.json()).headers['x-user-id']).toBe('demo-user')
    expect((await fetch(`http://127.0.0.1:${run.gatewayPort}/hello`)).status).toBe(401)
    expect((await fetch(`http://127.0.0.1:${run.gatewayPort}/public/info`)).status).toBe(200)
  } finally {
    await run.stop()
  }
})

const FILE = (upstream: string) => `
providers:
  main: { issuer: https://idp.test, secret: "${HS.config}" }
upstreams:
  api: { url: "${upstream}" }
routes:
  - { path: /public/*, upstream: api, auth: public }
  - path: /tenants/:tenant/*
    upstream: api
    require: { claims: [{ claim: tenant, equals: "{params.tenant}" }] }
`

test('schema prints the JSON Schema of the configuration file', async () => {
  const h = testHost({})
  expect(await main(['schema'], h)).toBe(0)
  const schema = JSON.parse(h.out.join('\n'))
  expect(schema.$schema).toContain('json-schema.org')
  expect(Object.keys(schema.properties)).toEqual(
    expect.arrayContaining(['providers', 'upstreams', 'routes', 'listen']),
  )
  expect(schema.properties.routes.items.required).toEqual(['path', 'upstream'])
})

test('check --config prints the merged result; problems name their place in the file', async () => {
  const good = testHost({ JWTGATE_PORT: '9999' }, { '/c.yaml': FILE('http://127.0.0.1:1') })
  expect(await main(['check', '--config', '/c.yaml'], good)).toBe(0)
  const text = good.out.join('\n')
  expect(text).toContain('listen:   0.0.0.0:9999')
  expect(text).toContain('file:     /c.yaml')
  expect(text).toContain(
    'route:    routes[1] * /tenants/:tenant/* → api; required (main); 1 claim condition',
  )
  expect(text).not.toContain(HS.config.slice(7))
  const bad = testHost({}, { '/c.yaml': FILE('http://127.0.0.1:1').replace('equals:', 'equal:') })
  expect(await main(['check', '--config', '/c.yaml'], bad)).toBe(1)
  expect(bad.err[0]).toBe(
    'routes[1].require.claims[0]: unknown operator "equal" (expected one of equals, oneOf, contains, matches, all, any, not)',
  )
})

test('explain prints the decision without contacting the upstream, and exits 1 for a rejection', async () => {
  const upstream = await recordingUpstream()
  try {
    const files = { '/c.yaml': FILE(upstream.url) }
    const token = await sign({ iss: 'https://idp.test', tenant: 'globex' }, {
      alg: 'HS256',
      key: HS.raw,
    })
    const rejected = testHost({}, files)
    expect(
      await main(
        ['explain', 'GET', '/tenants/acme/x', '--token', token, '--config', '/c.yaml'],
        rejected,
      ),
    ).toBe(1)
    expect(rejected.out.join('\n')).toContain(
      '✗ routes[1].require.claims[0]: claim tenant equals "acme" (saw "globex")',
    )
    expect(rejected.out.join('\n')).toContain('→ 403 claim_mismatch')
    // `--token -`: the same token from standard input (out of the shell history).
    const piped = { ...testHost({}, files), stdin: () => new Response(`${token}\n`).body! }
    expect(
      await main(
        ['explain', 'GET', '/tenants/acme/x', '--token', '-', '--config', '/c.yaml'],
        piped,
      ),
    ).toBe(1)
    expect(piped.out.join('\n')).toContain('(saw "globex")')
    const json = testHost({}, files)
    expect(
      await main(
        ['explain', 'GET', 'http://gw.example/public/a', '--json', '--config', '/c.yaml'],
        json,
      ),
    ).toBe(0)
    const result = JSON.parse(json.out.join('\n'))
    expect([result.status, result.decision, result.route]).toEqual([200, 'allowed', 'routes[0]'])
    const none = testHost({}, files)
    expect(
      await main([
        'explain',
        'DELETE',
        '/nope',
        '--header',
        `Authorization: Bearer ${token}`,
        '--config',
        '/c.yaml',
      ], none),
    ).toBe(1)
    expect(none.out.join('\n').endsWith('→ 404 no_route')).toBe(true)
    expect(upstream.seen.length).toBe(0)
    const usage = testHost({}, files)
    expect(await main(['explain', 'GET'], usage)).toBe(2)
  } finally {
    await upstream.close()
  }
})

test('serve reloads the file on SIGHUP and keeps the old configuration when the new one is invalid', async () => {
  const upstream = await recordingUpstream()
  const files: Record<string, string> = { '/c.yaml': FILE(upstream.url) }
  const h = testHost({ JWTGATE_CONFIG: '/c.yaml', JWTGATE_PORT: '0' }, files)
  const { exit, port } = await serveInBackground(h)
  const url = `http://127.0.0.1:${port}`
  expect((await fetch(`${url}/open/x`)).status).toBe(404)
  files['/c.yaml'] = `${FILE(upstream.url)}  - { path: /open/*, upstream: api, auth: public }\n`
  h.reload()
  const until = async (check: () => boolean) => {
    for (let i = 0; i < 200 && !check(); i++) await Bun.sleep(10)
  }
  await until(() => h.out.some((l) => l.includes('"event":"reload"')))
  expect((await fetch(`${url}/open/x`)).status).toBe(200)
  files['/c.yaml'] = 'routes: [{ path: nope }]'
  h.reload()
  await until(() => h.out.some((l) => l.includes('reload_failed')))
  expect(h.out.find((l) => l.includes('reload_failed'))).toContain(
    'routes[0].path: must start with /',
  )
  expect((await fetch(`${url}/open/x`)).status).toBe(200)
  h.signal()
  expect(await exit).toBe(0)
  await upstream.close()
})

test('serve asks the server for a connection idle timeout only when the runtime can keep it', async () => {
  /** The idleTimeoutSec serve() was given, for an environment and a runtime limit. */
  async function idleFor(
    env: Record<string, string>,
    maxIdleTimeoutSec: number | undefined,
  ): Promise<number | undefined> {
    const h = testHost({
      JWTGATE_UPSTREAM: 'http://127.0.0.1:9',
      JWTGATE_SECRET: HS.config,
      JWTGATE_PORT: '0',
      JWTGATE_LOG_LEVEL: 'warn',
      ...env,
    })
    const limited: TestHost = { ...h, maxIdleTimeoutSec }
    const asked: (number | undefined)[] = []
    const original = limited.serve
    limited.serve = (handler, o) => {
      asked.push(o.idleTimeoutSec)
      return original(handler, o)
    }
    const run = await serveInBackground(limited)
    limited.signal()
    expect(await run.exit).toBe(0)
    expect(asked).toHaveLength(1)
    return asked[0]
  }
  // The stream idle timeout (2 min by default), or the longest upstream timeout when longer.
  expect(await idleFor({}, 255)).toBe(120)
  expect(
    await idleFor({ JWTGATE_STREAM_IDLE_TIMEOUT: '10s', JWTGATE_UPSTREAM_TIMEOUT: '45s' }, 255),
  ).toBe(45)
  expect(
    await idleFor({ JWTGATE_STREAM_IDLE_TIMEOUT: '1500ms', JWTGATE_UPSTREAM_TIMEOUT: '1s' }, 255),
  ).toBe(2)
  // Longer than the runtime allows, or a runtime without the setting: none (the gateway watches).
  expect(await idleFor({ JWTGATE_STREAM_IDLE_TIMEOUT: '10m' }, 255)).toBeUndefined()
  expect(await idleFor({}, undefined)).toBeUndefined()
})
