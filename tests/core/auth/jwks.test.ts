import assert from 'node:assert/strict'
import { exportJWK } from 'jose'
import {
  MAX_SET_KEYS,
  remoteSource,
  type RemoteSourceOptions,
  startupDelay,
} from '../../../src/core/auth/jwks.ts'
import { DOCUMENT_AGE } from '../../../src/core/auth/fetch-json.ts'
import { createLogger } from '../../../src/core/log.ts'
import { keyPair } from '../../helpers/keys.ts'
import { serve } from '../../helpers/serve.ts'
import { test } from '../../helpers/t.ts'

interface JwksServer {
  url: string
  hits: number
  body: unknown
  status: number
  close(): Promise<void>
}

async function jwksServer(body: unknown): Promise<JwksServer> {
  const state = { hits: 0, body, status: 200 }
  const server = await serve((request) => {
    state.hits++
    if (new URL(request.url).pathname === '/redirect') {
      return new Response(null, { status: 302, headers: { location: '/jwks' } })
    }
    return new Response(typeof state.body === 'string' ? state.body : JSON.stringify(state.body), {
      status: state.status,
    })
  })
  return Object.assign(state, { url: `${server.url}/jwks`, close: server.close })
}

function options(
  url: string,
  lines: string[],
  extra: Partial<RemoteSourceOptions> = {},
): RemoteSourceOptions {
  return {
    jwksUrl: url,
    oidcIssuer: undefined,
    algorithms: undefined,
    cooldownMs: 30_000,
    maxAgeMs: 600_000,
    timeoutMs: 2000,
    allowInsecure: false,
    fetch: globalThis.fetch,
    now: Date.now,
    logger: createLogger({ level: 'debug', format: 'json', sink: (l) => lines.push(l) }),
    ...extra,
  }
}

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 10))
  }
}

test('startupDelay() retries within 1 s first and caps at 10 s', () => {
  assert.ok(startupDelay(0) <= 1000)
  assert.equal(startupDelay(20), 10_000)
  assert.ok(startupDelay(1) > startupDelay(0))
})

test('remoteSource() loads a JWK Set, skipping oct, encryption and short RSA keys', async () => {
  const a = await keyPair('RS256', 'a')
  // A legacy 1024-bit key without a kid, first: were it imported, every RS256 token would be tried
  // against it first and fail there (jose refuses such keys when verifying).
  const legacy = await crypto.subtle.generateKey(
    {
      name: 'RSASSA-PKCS1-v1_5',
      modulusLength: 1024,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: 'SHA-256',
    },
    true,
    ['sign', 'verify'],
  ) as CryptoKeyPair
  const server = await jwksServer({
    keys: [await exportJWK(legacy.publicKey), a.publicJwk, { kty: 'oct', k: 'AAAA', kid: 's' }, {
      ...a.publicJwk,
      kid: 'enc',
      use: 'enc',
    }],
  })
  const lines: string[] = []
  const source = remoteSource(options(server.url, lines))
  try {
    assert.equal(source.current(), undefined)
    source.start()
    await until(() => source.current() !== undefined)
    assert.deepEqual([...new Set(source.current()!.map((k) => k.kid))], ['a'])
    const loaded = JSON.parse(lines.find((l) => l.includes('jwks_loaded'))!)
    assert.equal(loaded.skipped, 3)
    assert.deepEqual(loaded.added, ['a'])
  } finally {
    source.close()
    await server.close()
  }
})

test('remoteSource() takes at most MAX_SET_KEYS keys of a set, skipping the rest', async () => {
  // A token without a kid is tried against every key without one: thousands would cost a
  // verification each per forged token.
  const pair = await keyPair('ES256')
  const keys = Array.from(
    { length: MAX_SET_KEYS + 10 },
    (_, i) => ({ ...pair.publicJwk, kid: `k${i}` }),
  )
  const server = await jwksServer({ keys })
  const lines: string[] = []
  const source = remoteSource(options(server.url, lines))
  try {
    source.start()
    await until(() => source.current() !== undefined)
    assert.equal(new Set(source.current()!.map((k) => k.kid)).size, MAX_SET_KEYS)
    const loaded = JSON.parse(lines.find((l) => l.includes('jwks_loaded'))!)
    assert.equal(loaded.skipped, 10)
  } finally {
    source.close()
    await server.close()
  }
})

test('remoteSource() refetches at most once per cooldown, also after a failure', async () => {
  const a = await keyPair('ES256', 'a')
  const server = await jwksServer({ keys: [a.publicJwk] })
  let now = 1_000_000
  const source = remoteSource(options(server.url, [], { now: () => now, cooldownMs: 30_000 }))
  try {
    source.start()
    await until(() => source.current() !== undefined)
    assert.equal(server.hits, 1)
    assert.equal(await source.refresh(), false) // within the cooldown: no request
    assert.equal(server.hits, 1)
    now += 31_000
    server.status = 500
    assert.equal(await source.refresh(), false)
    assert.equal(server.hits, 2)
    assert.equal(await source.refresh(), false) // the failed fetch started a new cooldown
    assert.equal(server.hits, 2)
  } finally {
    source.close()
    await server.close()
  }
})

test("remoteSource(): a document's age counts only when the fetch function says so (DOCUMENT_AGE), never a server's Age, and only below the cooldown", async () => {
  const a = await keyPair('ES256', 'a')
  const server = await jwksServer({ keys: [a.publicJwk] })
  let now = 1_000_000
  // The server's own Age header, which a CDN also sends: ignored.
  const withAgeHeader = (async (url: string, init?: RequestInit) => {
    const r = await fetch(url, init)
    return new Response(r.body, { status: r.status, headers: { age: '3600' } })
  }) as typeof fetch
  // A fetch function serving a copy it kept, as the workers' primary does: `age` ms old.
  const keptCopy = (age: number) =>
    (async (url: string, init?: RequestInit) =>
      Object.defineProperty(await fetch(url, init), DOCUMENT_AGE, { value: age })) as typeof fetch
  for (
    const [fetchImpl, secondsUntilRefetch] of [
      [withAgeHeader, 30],
      [keptCopy(20_000), 10],
      [keptCopy(29_999), 0.001],
      // As old as the cooldown or older (a primary still on a longer window, mid-reload): counted
      // as new, or every refresh would be allowed at once and fetch the same copy again.
      [keptCopy(30_000), 30],
      [keptCopy(3_600_000), 30],
    ] as const
  ) {
    const source = remoteSource(options(server.url, [], { now: () => now, fetch: fetchImpl }))
    try {
      const hits = server.hits
      source.start()
      await until(() => source.current() !== undefined)
      assert.equal(server.hits, hits + 1)
      if (secondsUntilRefetch > 0) {
        now += secondsUntilRefetch * 1000 - 1
        assert.equal(await source.refresh(), false)
        now += 1
      }
      assert.equal(await source.refresh(), true)
      assert.equal(server.hits, hits + 2)
      // The refetch's copy (as old) holds the next one back again; never a refetch at once.
      assert.equal(await source.refresh(), false)
      assert.equal(server.hits, hits + 2)
    } finally {
      source.close()
    }
  }
  await server.close()
})

test('remoteSource() keeps the last good keys when a refresh fails or returns an empty set', async () => {
  const a = await keyPair('ES256', 'a')
  const server = await jwksServer({ keys: [a.publicJwk] })
  let now = 1_000_000
  const lines: string[] = []
  const source = remoteSource(options(server.url, lines, { now: () => now, cooldownMs: 1000 }))
  try {
    source.start()
    await until(() => source.current() !== undefined)
    for (const body of [{ keys: [] }, 'not json', { nokeys: 1 }]) {
      now += 2000
      server.body = body
      assert.equal(await source.refresh(), false)
      assert.equal(source.current()?.[0]?.kid, 'a')
    }
    assert.ok(lines.filter((l) => l.includes('jwks_failed')).length >= 3)
  } finally {
    source.close()
    await server.close()
  }
})

test('remoteSource() loads rotated keys on refresh and logs what changed', async () => {
  const a = await keyPair('ES256', 'a')
  const b = await keyPair('ES256', 'b')
  const server = await jwksServer({ keys: [a.publicJwk] })
  let now = 1_000_000
  const lines: string[] = []
  const source = remoteSource(options(server.url, lines, { now: () => now }))
  try {
    source.start()
    await until(() => source.current() !== undefined)
    server.body = { keys: [b.publicJwk] }
    now += 60_000
    assert.equal(await source.refresh(), true)
    assert.deepEqual(source.current()!.map((k) => k.kid), ['b'])
    const last = JSON.parse(lines.filter((l) => l.includes('jwks_loaded')).at(-1)!)
    assert.deepEqual([last.added, last.removed], [['b'], ['a']])
  } finally {
    source.close()
    await server.close()
  }
})

test('remoteSource(): a refresh that finds the same keys keeps them and their version; a changed set is a new version', async () => {
  const a = await keyPair('ES256', 'a')
  const b = await keyPair('ES256', 'b')
  const server = await jwksServer({ keys: [a.publicJwk] })
  let now = 1_000_000
  const lines: string[] = []
  const source = remoteSource(options(server.url, lines, { now: () => now }))
  try {
    source.start()
    await until(() => source.current() !== undefined)
    const [keys, version] = [source.current(), source.version()]
    now += 60_000
    assert.equal(await source.refresh(), true)
    assert.equal(server.hits, 2)
    assert.equal(source.current(), keys)
    assert.equal(source.version(), version)
    const last = () => JSON.parse(lines.filter((l) => l.includes('jwks_loaded')).at(-1)!)
    assert.deepEqual(
      [last().keys, last().added, last().removed, last().unchanged],
      [1, [], [], true],
    )
    // The cooldown counts from the unchanged fetch too.
    assert.equal(await source.refresh(), false)
    assert.equal(server.hits, 2)
    server.body = { keys: [a.publicJwk, b.publicJwk] }
    now += 60_000
    assert.equal(await source.refresh(), true)
    assert.notEqual(source.version(), version)
    assert.deepEqual(source.current()!.map((k) => k.kid), ['a', 'b'])
    assert.deepEqual([last().added, last().unchanged], [['b'], undefined])
  } finally {
    source.close()
    await server.close()
  }
})

test('remoteSource() retries at start until the endpoint answers', async () => {
  const a = await keyPair('ES256', 'a')
  const server = await jwksServer({ keys: [a.publicJwk] })
  server.status = 503
  const source = remoteSource(options(server.url, []))
  try {
    source.start()
    await until(() => server.hits >= 2, 3000)
    assert.equal(source.current(), undefined)
    server.status = 200
    await until(() => source.current() !== undefined, 5000)
  } finally {
    source.close()
    await server.close()
  }
})

test('remoteSource() follows no redirects and caps the document size', async () => {
  const a = await keyPair('ES256', 'a')
  const server = await jwksServer({ keys: [a.publicJwk] })
  const lines: string[] = []
  const redirected = remoteSource(options(server.url.replace('/jwks', '/redirect'), lines))
  try {
    assert.equal(
      await (redirected as unknown as { start(): void; refresh(): Promise<boolean> }).refresh(),
      false,
    )
    redirected.start()
    await until(() => lines.some((l) => l.includes('redirects are not followed')))
    assert.equal(redirected.current(), undefined)
    server.body = { keys: [a.publicJwk], pad: 'x'.repeat(1024 * 1024) }
    const big: string[] = []
    const large = remoteSource(options(server.url, big))
    large.start()
    await until(() => big.some((l) => l.includes('larger than')))
    large.close()
  } finally {
    redirected.close()
    await server.close()
  }
})

test('remoteSource() discovers the JWK Set through OIDC metadata with an exactly matching issuer', async () => {
  const a = await keyPair('ES256', 'a')
  let issuer = ''
  let metadataIssuer = ''
  const server = await serve((request) => {
    const path = new URL(request.url).pathname
    if (path === '/realm/.well-known/openid-configuration') {
      return Response.json({ issuer: metadataIssuer, jwks_uri: `${issuer}/certs` })
    }
    if (path === '/realm/certs') return Response.json({ keys: [a.publicJwk] })
    return new Response('no', { status: 404 })
  })
  issuer = `${server.url}/realm`
  try {
    metadataIssuer = issuer
    const ok = remoteSource({ ...options('', []), jwksUrl: undefined, oidcIssuer: issuer })
    ok.start()
    await until(() => ok.current() !== undefined)
    ok.close()
    metadataIssuer = `${issuer}/`
    const lines: string[] = []
    const bad = remoteSource({ ...options('', lines), jwksUrl: undefined, oidcIssuer: issuer })
    bad.start()
    await until(() => lines.some((l) => l.includes('OIDC metadata names issuer')))
    assert.equal(bad.current(), undefined)
    bad.close()
  } finally {
    await server.close()
  }
})

test('remoteSource() logs its URL without user, password or query (an API key may travel there)', async () => {
  const a = await keyPair('ES256', 'a')
  const server = await jwksServer({ keys: [a.publicJwk] })
  const lines: string[] = []
  const url = new URL(server.url)
  url.username = 'svc'
  url.password = 'pw-0123456789'
  url.search = '?api_key=key-0123456789'
  const source = remoteSource(options(url.href, lines))
  try {
    source.start()
    await until(() => lines.some((l) => l.includes('jwks_loaded') || l.includes('jwks_failed')))
    const logged = lines.join('\n')
    assert.ok(logged.includes(`${url.host}${url.pathname}?…`), logged)
    for (const secret of ['svc', 'pw-0123456789', 'key-0123456789']) {
      assert.ok(!logged.includes(secret), secret)
    }
  } finally {
    source.close()
    await server.close()
  }
})
