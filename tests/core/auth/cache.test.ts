import assert from 'node:assert/strict'
import { TokenCache } from '../../../src/core/auth/cache.ts'
import { gatewayFixture } from '../../helpers/gateway.ts'
import { keyPair, secret, sign } from '../../helpers/keys.ts'
import { serve } from '../../helpers/serve.ts'
import { test } from '../../helpers/t.ts'

const NOW = 1_800_000_000_000
const v0 = () => 0

test('TokenCache keeps an entry until exp (plus skew), from nbf (minus skew)', () => {
  const cache = new TokenCache({ maxEntries: 10, maxAgeMs: 3_600_000 })
  cache.set('t', { exp: NOW / 1000 + 60, nbf: NOW / 1000 + 3 }, 'p', 0, 5, NOW)
  assert.ok(cache.get('t', NOW, v0))
  assert.ok(cache.get('t', NOW + 64_999, v0))
  assert.equal(cache.get('t', NOW + 65_000, v0), undefined)
  assert.equal(cache.size, 0)
  cache.set('n', { exp: NOW / 1000 + 60, nbf: NOW / 1000 + 3 }, 'p', 0, 5, NOW)
  assert.equal(cache.get('n', NOW - 2_001, v0), undefined) // a clock that went back before nbf - skew
})

test('TokenCache honours its maximum age and the key-set version', () => {
  const cache = new TokenCache({ maxEntries: 10, maxAgeMs: 1000 })
  cache.set('t', { exp: NOW / 1000 + 3600 }, 'p', 3, 0, NOW)
  assert.ok(cache.get('t', NOW + 999, () => 3))
  assert.equal(cache.get('t', NOW + 500, () => 4), undefined)
  cache.set('u', { exp: NOW / 1000 + 3600 }, 'p', 3, 0, NOW)
  assert.equal(cache.get('u', NOW + 1000, () => 3), undefined)
})

test('TokenCache is bounded, dropping the oldest entries', () => {
  const cache = new TokenCache({ maxEntries: 3, maxAgeMs: 60_000 })
  for (const t of ['a', 'b', 'c', 'd']) cache.set(t, {}, 'p', 0, 0, NOW)
  assert.equal(cache.size, 3)
  assert.equal(cache.get('a', NOW, v0), undefined)
  assert.ok(cache.get('d', NOW, v0))
  assert.equal(
    new TokenCache({ maxEntries: 0, maxAgeMs: 1 }).set('x', {}, 'p', 0, 0, NOW),
    undefined,
  )
})

const HS = secret(32)

test('cache: a cached token is rejected once the clock passes its exp', async () => {
  let now = Date.now()
  const g = await gatewayFixture({
    env: ({ upstream }) => ({
      JWTGATE_UPSTREAM: upstream.url,
      JWTGATE_SECRET: HS.config,
      JWTGATE_CLOCK_SKEW: '0',
    }),
    deps: { now: () => now },
  })
  try {
    // iat from the gateway's clock: the real one may have passed a second boundary since.
    const iat = Math.floor(now / 1000)
    const token = await sign({ sub: 'a', iat, exp: iat + 60 }, {
      alg: 'HS256',
      key: HS.raw,
    })
    const call = () => g.call('/x', { headers: { authorization: `Bearer ${token}` } })
    assert.equal((await call()).status, 200)
    assert.equal((await call()).status, 200)
    assert.equal(g.gateway.metrics.cache.get(['hit']), 1)
    now += 61_000
    const expired = await call()
    assert.equal(expired.status, 401)
    assert.equal((await expired.json()).code, 'token_expired')
  } finally {
    await g.close()
  }
})

test('cache: policy runs per route on cached claims (no cross-route leak)', async () => {
  const g = await gatewayFixture({
    file: ({ upstream }) =>
      `providers:\n  p: { secret: "${HS.config}" }\nupstreams:\n  u: { url: "${upstream.url}" }\nroutes:\n  - { path: /admin/*, upstream: u, claimHeaders: { sub: X-Admin }, require: { roles: { any: [admin] } } }\n  - { path: /*, upstream: u, claimHeaders: { sub: X-User } }\n`,
  })
  try {
    const token = await sign({ sub: 'u1', roles: ['user'] }, { alg: 'HS256', key: HS.raw })
    const call = (path: string) => g.call(path, { headers: { authorization: `Bearer ${token}` } })
    assert.equal((await call('/page')).status, 200)
    assert.equal((await call('/admin/x')).status, 403)
    assert.equal((await call('/page')).status, 200)
    assert.equal((await call('/admin/y')).status, 403)
    assert.equal(g.gateway.metrics.cache.get(['hit']), 3)
    assert.deepEqual(
      g.upstream.seen.map((s) => [s.headers.get('x-user'), s.headers.get('x-admin')]),
      [['u1', null], ['u1', null]],
    )
  } finally {
    await g.close()
  }
})

/**
 * A gateway on a JWK Set that serves key a until `rotate()` leaves only key b (cooldown 0: an
 * unknown kid refetches at once), ready, with a token of each key.
 */
async function rotatingKeys() {
  const a = await keyPair('ES256', 'a')
  const b = await keyPair('ES256', 'b')
  let keys = [a.publicJwk]
  let fetches = 0
  const jwks = await serve(() => {
    fetches++
    return Response.json({ keys })
  })
  const g = await gatewayFixture({
    env: ({ upstream }) => ({
      JWTGATE_UPSTREAM: upstream.url,
      JWTGATE_JWKS_URL: `${jwks.url}/jwks`,
      JWTGATE_JWKS_COOLDOWN: '0s',
    }),
  })
  for (let i = 0; i < 100 && !g.gateway.ready; i++) await new Promise((r) => setTimeout(r, 20))
  return {
    tokenA: await sign({ sub: 'a' }, { alg: 'ES256', key: a.privateKey, kid: 'a' }),
    tokenB: await sign({ sub: 'b' }, { alg: 'ES256', key: b.privateKey, kid: 'b' }),
    call: (t: string) => g.call('/x', { headers: { authorization: `Bearer ${t}` } }),
    /** The IdP drops key a. */
    rotate: () => void (keys = [b.publicJwk]),
    /** The key set's fetches so far. */
    fetches: () => fetches,
    /** The value of a sample on /metrics, 0 when absent. */
    sample(line: string) {
      const found = g.gateway.metrics.render().split('\n').find((l) => l.startsWith(`${line} `))
      return found === undefined ? 0 : Number(found.slice(line.length + 1))
    },
    async close() {
      await g.close()
      await jwks.close()
    },
  }
}

test('cache: a key-set change drops cached verifications', async () => {
  const { tokenA, tokenB, call, rotate, close } = await rotatingKeys()
  try {
    assert.equal((await call(tokenA)).status, 200)
    assert.equal((await call(tokenA)).status, 200)
    // Rotation: the IdP drops key a. A token with the new kid makes the gateway refetch.
    rotate()
    assert.equal((await call(tokenB)).status, 200)
    const stale = await call(tokenA)
    assert.equal(stale.status, 401)
    assert.equal((await stale.json()).code, 'unknown_key')
  } finally {
    await close()
  }
})

test('cache: a refetch that finds the same key set keeps cached verifications — tokens with unknown kids cannot send every cached token back through verification', async () => {
  const { tokenA, call, fetches, sample, close } = await rotatingKeys()
  const stranger = await keyPair('ES256', 'x')
  const hits = 'jwtgate_token_cache_total{result="hit"}'
  try {
    assert.equal((await call(tokenA)).status, 200)
    assert.equal((await call(tokenA)).status, 200)
    assert.equal(sample(hits), 1)
    const before = fetches()
    for (let i = 0; i < 3; i++) {
      const kid = `unknown-${i}`
      const forged = await sign({ sub: 'x' }, { alg: 'ES256', key: stranger.privateKey, kid })
      const refused = await call(forged)
      assert.equal(refused.status, 401)
      assert.equal((await refused.json()).code, 'unknown_key')
    }
    assert.equal(fetches(), before + 3) // cooldown 0: each unknown kid refetched the set
    assert.equal((await call(tokenA)).status, 200)
    assert.equal(sample(hits), 2) // still cached: the set did not change
  } finally {
    await close()
  }
})

test('cache: a key set refreshed while a token is being verified does not vouch for that token', async () => {
  // A slow signature check (a loaded machine, a large key) while another request's unknown kid
  // makes the gateway refetch a key set that no longer has the token's key: the token was checked
  // against the old set, so the cache must not hold it as checked against the new one.
  const { tokenA, tokenB, call, rotate, close } = await rotatingKeys()
  const subtle = crypto.subtle
  const verify = subtle.verify
  try {
    subtle.verify = (async (...args: Parameters<typeof verify>) => {
      await new Promise((r) => setTimeout(r, 150))
      return verify.apply(subtle, args)
    }) as typeof verify
    rotate()
    const inFlight = call(tokenA) // checked against the set that still has a
    await new Promise((r) => setTimeout(r, 20))
    const refetched = call(tokenB) // unknown kid: the set is fetched again, without a
    assert.equal((await inFlight).status, 200)
    assert.equal((await refetched).status, 200)
    subtle.verify = verify
    const after = await call(tokenA)
    assert.equal(after.status, 401)
    assert.equal((await after.json()).code, 'unknown_key')
  } finally {
    subtle.verify = verify
    await close()
  }
})

test('cache: JWTGATE_TOKEN_CACHE_SIZE=0 verifies every time', async () => {
  const g = await gatewayFixture({
    env: ({ upstream }) => ({
      JWTGATE_UPSTREAM: upstream.url,
      JWTGATE_SECRET: HS.config,
      JWTGATE_TOKEN_CACHE_SIZE: '0',
    }),
  })
  try {
    const token = await sign({ sub: 'a' }, { alg: 'HS256', key: HS.raw })
    for (let i = 0; i < 3; i++) {
      await g.call('/x', { headers: { authorization: `Bearer ${token}` } })
    }
    assert.equal(g.gateway.metrics.verifyDuration.count(['default']), 3)
    assert.equal(g.gateway.metrics.cache.get(['hit']), 0)
  } finally {
    await g.close()
  }
})
