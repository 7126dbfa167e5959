import assert from 'node:assert/strict'
import { activeLimits, type NamedLimit, parseLimitKey } from '../../../src/core/limits/policy.ts'
import { parseRateLimit } from '../../../src/core/rate-limit.ts'
import { type LimitStore, MemoryStore } from '../../../src/core/limits/store.ts'
import { gatewayFixture } from '../../helpers/gateway.ts'
import { secret, sign } from '../../helpers/keys.ts'
import { test } from '../../helpers/t.ts'

const A = secret(32)
const B = secret(32)

/** Two providers, and limits per user (all routes), per tenant (orders), per API key (public). */
async function setup(limits: string) {
  return await gatewayFixture({
    file: ({ upstream }) => `
providers:
  alpha: { issuer: https://alpha.test, secret: "${A.config}" }
  beta: { issuer: https://beta.test, secret: "${B.config}" }
upstreams:
  api: { url: "${upstream.url}" }
routes:
  - { name: public, path: /public/*, upstream: api, auth: public }
  - { name: orders, path: /orders/*, upstream: api }
  - { name: other, path: /other/*, upstream: api }
rateLimits:
${limits}`,
  })
}

const token = (claims: Record<string, unknown>, key = A, iss = 'https://alpha.test') =>
  sign({ iss, exp: Math.floor(Date.now() / 1000) + 600, ...claims }, { alg: 'HS256', key: key.raw })

const bearer = (t: string, extra: Record<string, string> = {}) => ({
  headers: { authorization: `Bearer ${t}`, ...extra },
})

test('a limit per subject: the burst passes with RateLimit fields, then 429 with Retry-After', async () => {
  const g = await setup(`  per-user: { rate: 2/1m, key: sub }\n`)
  try {
    const alice = await token({ sub: 'alice' })
    const first = await g.call('/orders/1', bearer(alice))
    assert.equal(first.status, 200)
    assert.equal(first.headers.get('ratelimit-policy'), '"per-user";q=2;w=60')
    assert.equal(first.headers.get('ratelimit'), '"per-user";r=1;t=30')
    const second = await g.call('/orders/1', bearer(alice))
    assert.equal(second.headers.get('ratelimit'), '"per-user";r=0;t=60')
    const third = await g.call('/orders/1', bearer(alice))
    assert.equal(third.status, 429)
    assert.equal(third.headers.get('retry-after'), '30')
    assert.equal(third.headers.get('ratelimit-policy'), '"per-user";q=2;w=60')
    assert.equal(third.headers.get('ratelimit'), '"per-user";r=0;t=30')
    const body = await third.json()
    assert.equal(body.code, 'rate_limited')
    assert.match(body.detail, /"per-user"/)
    assert.equal(g.upstream.seen.length, 2, 'the refused request never reached the upstream')
    // Another subject has its own bucket.
    assert.equal((await g.call('/orders/1', bearer(await token({ sub: 'bob' })))).status, 200)
    const line = g.lines.map((l) => JSON.parse(l)).find((l) => l.status === 429)
    assert.equal(line.limit, 'per-user')
    assert.match(g.gateway.metrics.render(), /jwtgate_rate_limited_total\{limit="per-user"\} 1/)
  } finally {
    await g.close()
  }
})

test('several limits on one request: all must pass, and a refusal counts in none', async () => {
  const g = await setup(`  per-user: { rate: 100/1m, key: sub }
  per-tenant: { rate: 2/1m, key: "claim:org.id", routes: [orders] }
`)
  try {
    const alice = await token({ sub: 'alice', org: { id: 'acme' } })
    const bob = await token({ sub: 'bob', org: { id: 'acme' } })
    assert.equal((await g.call('/orders/1', bearer(alice))).status, 200)
    const both = await g.call('/orders/1', bearer(bob))
    assert.equal(
      both.headers.get('ratelimit-policy'),
      '"per-user";q=100;w=60, "per-tenant";q=2;w=60',
    )
    assert.match(both.headers.get('ratelimit')!, /^"per-user";r=99;t=1, "per-tenant";r=0;t=60$/)
    const refused = await g.call('/orders/1', bearer(alice))
    assert.equal(refused.status, 429)
    assert.equal(refused.headers.get('ratelimit-policy'), '"per-tenant";q=2;w=60')
    // The tenant limit is on /orders only; the refusal did not count in alice's own bucket.
    const other = await g.call('/other/1', bearer(alice))
    assert.equal(other.status, 200)
    assert.equal(other.headers.get('ratelimit'), '"per-user";r=98;t=2')
    // Another tenant is not limited by acme's bucket.
    const carol = await token({ sub: 'carol', org: { id: 'globex' } })
    assert.equal((await g.call('/orders/1', bearer(carol))).status, 200)
  } finally {
    await g.close()
  }
})

test('a request without the key counts under its client address: leaving the key out never escapes', async () => {
  const g = await setup(`  per-tenant: { rate: 1/1m, key: "claim:tenant", routes: [orders, other] }
  per-api-key: { rate: 1/1m, key: "header:X-Api-Key", routes: [public] }
`)
  try {
    const noTenant = await token({ sub: 'alice' })
    assert.equal((await g.call('/orders/1', bearer(noTenant))).status, 200)
    // Another token without the claim, same address: the same bucket.
    const other = await token({ sub: 'bob' })
    assert.equal((await g.call('/orders/1', bearer(other))).status, 429)
    // From another address, its own.
    assert.equal((await g.call('/orders/1', bearer(other), '198.51.100.9')).status, 200)
    // Anonymous on the public route: per API key, and per address without one.
    const key = (k: string) => ({ headers: { 'x-api-key': k } })
    assert.equal((await g.call('/public/a', key('k1'))).status, 200)
    assert.equal((await g.call('/public/a', key('k1'))).status, 429)
    assert.equal((await g.call('/public/a', key('k2'))).status, 200)
    assert.equal((await g.call('/public/a', {}, '203.0.113.1')).status, 200)
    assert.equal((await g.call('/public/a', {}, '203.0.113.1')).status, 429)
    // A claim value cannot pose as an address bucket, nor a header as a claim.
    const posing = await token({ sub: 'x', tenant: `a:${'198.51.100.20'}` })
    assert.equal((await g.call('/orders/1', bearer(posing), '198.51.100.20')).status, 200)
    assert.equal((await g.call('/orders/1', bearer(other), '198.51.100.20')).status, 200)
  } finally {
    await g.close()
  }
})

test('a limit for one provider applies only to the tokens it verified', async () => {
  const g = await setup(`  beta-users: { rate: 1/1m, key: sub, providers: [beta] }\n`)
  try {
    const viaAlpha = await token({ sub: 'same' })
    const viaBeta = await token({ sub: 'same' }, B, 'https://beta.test')
    for (let i = 0; i < 3; i++) {
      const r = await g.call('/orders/1', bearer(viaAlpha))
      assert.equal(r.status, 200)
      assert.equal(r.headers.get('ratelimit'), null)
    }
    assert.equal((await g.call('/orders/1', bearer(viaBeta))).status, 200)
    assert.equal((await g.call('/orders/1', bearer(viaBeta))).status, 429)
    assert.equal((await g.call('/public/x')).headers.get('ratelimit'), null)
  } finally {
    await g.close()
  }
})

test('limits keep their buckets across a reload', async () => {
  const g = await setup(`  per-user: { rate: 1/1m, key: sub }\n`)
  try {
    const alice = await token({ sub: 'alice' })
    assert.equal((await g.call('/orders/1', bearer(alice))).status, 200)
    g.gateway.reload(await g.load())
    assert.equal((await g.call('/orders/1', bearer(alice))).status, 429)
  } finally {
    await g.close()
  }
})

test('parseLimitKey() reads sub, address, claim:<path>, header:<name>', () => {
  assert.deepEqual(parseLimitKey('sub'), { kind: 'sub' })
  assert.deepEqual(parseLimitKey('address'), { kind: 'address' })
  assert.equal(parseLimitKey('claim:org.id')?.kind, 'claim')
  assert.deepEqual(parseLimitKey('header:X-Api-Key'), { kind: 'header', header: 'x-api-key' })
  for (const bad of ['', 'claim:', 'header:', 'header:a b', 'ip', 'subject', 'cookie:x']) {
    assert.equal(parseLimitKey(bad), undefined, bad)
  }
})

test('bucket keys: claim values and subjects that differ only in lone surrogates, or as 5 and "5", are apart, and every key is well-formed text (a Redis key is UTF-8)', async () => {
  const keys: string[] = []
  const memory = new MemoryStore()
  const recording: LimitStore = {
    take(checks, now) {
      for (const c of checks) keys.push(c.key)
      return memory.take(checks, now)
    },
  }
  const g = await gatewayFixture({
    file: ({ upstream }) => `
providers:
  alpha: { issuer: https://alpha.test, secret: "${A.config}" }
upstreams:
  api: { url: "${upstream.url}" }
routes:
  - { name: orders, path: /orders/*, upstream: api }
rateLimits:
  per-tenant: { rate: 1/1m, key: "claim:tenant", routes: [orders] }
  per-user: { rate: 1/1m, key: sub, routes: [orders] }
`,
    deps: { limitStore: recording },
  })
  try {
    const values: unknown[] = ['\ud800', '\ud801', '\ufffd', 5, '5']
    const subjects = ['\ud801', '\ufffd', '\ud800', 'u3', 'u4']
    for (const [i, tenant] of values.entries()) {
      const t = await token({ sub: subjects[i], tenant })
      assert.equal((await g.call('/orders/1', bearer(t))).status, 200, String(i))
    }
    assert.equal(new Set(keys).size, keys.length)
    const utf8 = (s: string) => new TextDecoder().decode(new TextEncoder().encode(s))
    for (const key of keys) assert.equal(utf8(key), key, JSON.stringify(key))
  } finally {
    await g.close()
  }
})

test('activeLimits(): RateLimit-Policy windows are whole seconds; a period that is none is given as the whole seconds around it, its quota rounded down', () => {
  const named = (rate: string) =>
    ({
      name: 'n',
      rate: parseRateLimit(rate)!,
      burst: 1,
      key: { kind: 'address' },
      routes: undefined,
      providers: undefined,
    }) as unknown as NamedLimit
  const policy = (rate: string) => activeLimits([named(rate)], 'r')[0]!.policy
  assert.equal(policy('100/1m'), '"n";q=100;w=60')
  assert.equal(policy('10/1s'), '"n";q=10;w=1')
  assert.equal(policy('10/100ms'), '"n";q=100;w=1')
  assert.equal(policy('5/1500ms'), '"n";q=6;w=2')
  assert.equal(policy('3/2h'), '"n";q=3;w=7200')
})
