import assert from 'node:assert/strict'
import { loadConfig } from '../../../src/core/config/load.ts'
import { createGateway } from '../../../src/core/gateway.ts'
import {
  parseRevocation,
  type Revocation,
  tokenHash,
  tokenHashes,
} from '../../../src/core/revocation/entry.ts'
import { RevocationList } from '../../../src/core/revocation/list.ts'
import { gatewayFixture } from '../../helpers/gateway.ts'
import { keyPair, secret, sign } from '../../helpers/keys.ts'
import { test } from '../../helpers/t.ts'

const KEY = secret(32)
const now = () => Math.floor(Date.now() / 1000)
const entry = (v: unknown): Revocation => parseRevocation(v, now(), 86_400) as Revocation

async function setup(list: RevocationList, strict = false) {
  return await gatewayFixture({
    env: ({ upstream }) => ({
      JWTGATE_UPSTREAM: upstream.url,
      JWTGATE_SECRET: KEY.config,
      JWTGATE_PUBLIC_PATHS: '/open',
      JWTGATE_REVOCATIONS_STRICT: String(strict),
    }),
    deps: { revocations: list },
  })
}

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } })

test('a revoked token is 401 token_revoked, fresh or from the cache, and never reaches the upstream', async () => {
  const list = new RevocationList()
  const g = await setup(list)
  try {
    const token = await sign({ sub: 'alice', jti: 'j-1' }, { alg: 'HS256', key: KEY.raw })
    const other = await sign({ sub: 'bob', jti: 'j-2' }, { alg: 'HS256', key: KEY.raw })
    assert.equal((await g.call('/x', bearer(token))).status, 200)
    assert.equal((await g.call('/x', bearer(other))).status, 200)
    const seen = g.upstream.seen.length
    list.add(entry({ jti: 'j-1' }), Date.now())
    const refused = await g.call('/x', bearer(token))
    assert.equal(refused.status, 401)
    assert.equal((await refused.json()).code, 'token_revoked')
    assert.match(refused.headers.get('www-authenticate')!, /error="invalid_token"/)
    assert.equal((await g.call('/x', bearer(other))).status, 200)
    assert.equal(g.upstream.seen.length, seen + 1)
    // The public route needs no token: a revoked one there is not looked at.
    assert.equal((await g.call('/open', bearer(token))).status, 200)
    assert.match(g.gateway.metrics.render(), /^jwtgate_revocations 1$/m)
    assert.match(
      g.gateway.metrics.render(),
      /^jwtgate_rejections_total\{reason="token_revoked"\} 1$/m,
    )
  } finally {
    await g.close()
  }
})

test('a subject revoked before a time: tokens issued earlier are refused, later ones pass', async () => {
  const list = new RevocationList()
  const g = await setup(list)
  try {
    const old = await sign({ sub: 'alice', iat: now() - 100 }, { alg: 'HS256', key: KEY.raw })
    assert.equal((await g.call('/x', bearer(old))).status, 200)
    list.add(entry({ sub: 'alice' }), Date.now())
    assert.equal((await g.call('/x', bearer(old))).status, 401)
    const fresh = await sign({ sub: 'alice', iat: now() + 2 }, { alg: 'HS256', key: KEY.raw })
    assert.equal((await g.call('/x', bearer(fresh))).status, 200)
  } finally {
    await g.close()
  }
})

test('a subject or issuer revoked through the admin listener covers tokens dated up to the clock skew ahead (an issuer whose clock runs ahead), not only those dated before now', async () => {
  const ADMIN = 'a'.repeat(40)
  const revoke = async (skew: string, body: object, claims: Record<string, unknown>) => {
    const list = new RevocationList()
    const g = await gatewayFixture({
      env: ({ upstream }) => ({
        JWTGATE_UPSTREAM: upstream.url,
        JWTGATE_SECRET: KEY.config,
        JWTGATE_CLOCK_SKEW: skew,
        JWTGATE_ADMIN_PORT: '9999',
        JWTGATE_ADMIN_TOKEN: ADMIN,
      }),
      deps: {
        revocations: list,
        revoke: (e) => Promise.resolve(void list.add(e, Date.now())),
      },
    })
    try {
      const token = await sign(claims, { alg: 'HS256', key: KEY.raw })
      assert.equal((await g.call('/x', bearer(token))).status, 200)
      const posted = await g.gateway.admin(
        new Request('http://127.0.0.1/revocations', {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN}` },
          body: JSON.stringify(body),
        }),
      )
      assert.equal(posted.status, 201)
      const [stored] = (await posted.json()).revoked
      return { before: stored.before as number, status: (await g.call('/x', bearer(token))).status }
    } finally {
      await g.close()
    }
  }
  // Dated 20 s ahead, within the default skew (30 s): verification accepts it, so must the revocation.
  const t0 = now()
  const sub = await revoke('30', { sub: 'alice' }, { sub: 'alice', iat: t0 + 20 })
  assert.equal(sub.status, 401)
  assert.ok(sub.before >= t0 + 31, String(sub.before - t0))
  const issuer = await revoke('30', { issuer: 'https://idp.test' }, {
    sub: 'bob',
    iss: 'https://idp.test',
    iat: now() + 20,
  })
  assert.equal(issuer.status, 401)
  // A `before` given is kept as given; without skew, the second after now.
  const given = await revoke('30', { sub: 'alice', before: now() - 60 }, {
    sub: 'alice',
    iat: now(),
  })
  assert.equal(given.status, 200)
  const t1 = now()
  const none = await revoke('0', { sub: 'alice' }, { sub: 'alice', iat: t1 - 5 })
  assert.equal(none.status, 401)
  assert.ok(none.before <= now() + 1, String(none.before - t1))
})

test('a token revoked by its hash is refused; the hash is computed once per cached token', async () => {
  const list = new RevocationList()
  const g = await setup(list)
  try {
    const token = await sign({ sub: 'alice' }, { alg: 'HS256', key: KEY.raw })
    const other = await sign({ sub: 'alice', n: 2 }, { alg: 'HS256', key: KEY.raw })
    list.add(entry({ token_sha256: await tokenHash(token) }), Date.now())
    for (let i = 0; i < 3; i++) assert.equal((await g.call('/x', bearer(token))).status, 401)
    for (let i = 0; i < 3; i++) assert.equal((await g.call('/x', bearer(other))).status, 200)
  } finally {
    await g.close()
  }
})

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/** The signature's other spellings of the same bytes: the unused low bits of its last character. */
function respellings(token: string): string[] {
  const dot = token.lastIndexOf('.')
  const chars = token.length - dot - 1
  const spareBits = chars * 6 - Math.floor((chars * 6) / 8) * 8
  const last = B64URL.indexOf(token[token.length - 1]!)
  const out: string[] = []
  for (let bits = 1; bits < 1 << spareBits; bits++) {
    out.push(token.slice(0, -1) + B64URL[last ^ bits])
  }
  return out
}

const fromB64url = (s: string) =>
  Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0))
const toB64url = (b: Uint8Array) =>
  btoa(String.fromCharCode(...b)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')

/** ECDSA P-256's other valid signature of the same message: (r, n − s). */
function flipS(token: string): string {
  const n = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n
  const dot = token.lastIndexOf('.')
  const sig = fromB64url(token.slice(dot + 1))
  const s = BigInt(`0x${[...sig.slice(32)].map((b) => b.toString(16).padStart(2, '0')).join('')}`)
  const flipped = (n - s).toString(16).padStart(64, '0')
  const out = new Uint8Array(64)
  out.set(sig.slice(0, 32))
  for (let i = 0; i < 32; i++) out[32 + i] = parseInt(flipped.slice(2 * i, 2 * i + 2), 16)
  return `${token.slice(0, dot + 1)}${toB64url(out)}`
}

test('a token revoked by its hash stays revoked in every spelling of its signature that verifies', async () => {
  // The signature is not signed: its holder can write the same bytes otherwise (the spare bits of
  // the last base64url character) and, for ECDSA, another valid signature (r, n − s).
  const ec = await keyPair('ES256')
  const list = new RevocationList()
  const g = await gatewayFixture({
    env: ({ upstream }) => ({
      JWTGATE_UPSTREAM: upstream.url,
      JWTGATE_SECRET: KEY.config,
      JWTGATE_PUBLIC_KEY: JSON.stringify(ec.publicJwk),
    }),
    deps: { revocations: list },
  })
  try {
    const hs = await sign({ sub: 'alice' }, { alg: 'HS256', key: KEY.raw })
    const es = await sign({ sub: 'bob' }, { alg: 'ES256', key: ec.privateKey })
    for (const token of [hs, es]) {
      const variants = [...respellings(token), ...(token === es ? [flipS(token)] : [])]
      // Each variant verifies on its own before the revocation (so the test is not vacuous).
      for (const v of variants) assert.equal((await g.call('/x', bearer(v))).status, 200, v)
      list.add(entry({ token_sha256: await tokenHash(token) }), Date.now())
      for (const v of [token, ...variants]) {
        const refused = await g.call('/x', bearer(v))
        assert.equal(refused.status, 401, v)
        assert.equal((await refused.json()).code, 'token_revoked')
      }
    }
  } finally {
    await g.close()
  }
})

test('an entry from before 0.7.0 (the hash of the compact form) still revokes that spelling', async () => {
  const list = new RevocationList()
  const g = await setup(list)
  try {
    const token = await sign({ sub: 'alice' }, { alg: 'HS256', key: KEY.raw })
    const [signed, compact] = await tokenHashes(token)
    assert.equal(signed, await tokenHash(token))
    assert.notEqual(signed, compact)
    list.add(entry({ token_sha256: compact }), Date.now())
    assert.equal((await g.call('/x', bearer(token))).status, 401)
  } finally {
    await g.close()
  }
})

test('a revocation drops the cache entries it covers', async () => {
  const list = new RevocationList()
  const g = await setup(list)
  try {
    const token = await sign({ sub: 'alice', jti: 'c-1' }, { alg: 'HS256', key: KEY.raw })
    await g.call('/x', bearer(token))
    await g.call('/x', bearer(token))
    assert.match(g.gateway.metrics.render(), /jwtgate_token_cache_total\{result="hit"\} 1/)
    list.add(entry({ jti: 'c-1' }), Date.now())
    list.replace([], Date.now())
    // Unrevoked again: verified afresh (a miss), the cache entry having gone with the revocation.
    assert.equal((await g.call('/x', bearer(token))).status, 200)
    assert.match(g.gateway.metrics.render(), /jwtgate_token_cache_total\{result="miss"\} 2/)
  } finally {
    await g.close()
  }
})

test('strict revocations: tokens are 503 revocations_unavailable while the list is unconfirmed', async () => {
  for (const strict of [true, false]) {
    const list = new RevocationList()
    list.confirmed = false
    const g = await setup(list, strict)
    try {
      const token = await sign({ sub: 'alice' }, { alg: 'HS256', key: KEY.raw })
      const response = await g.call('/x', bearer(token))
      if (strict) {
        assert.equal(response.status, 503)
        assert.equal((await response.json()).code, 'revocations_unavailable')
        assert.equal(response.headers.get('retry-after'), '1')
        assert.equal((await g.call('/open')).status, 200, 'no token, nothing to confirm')
        list.confirmed = true
        assert.equal((await g.call('/x', bearer(token))).status, 200)
      } else {
        assert.equal(response.status, 200)
      }
    } finally {
      await g.close()
    }
  }
})

test('a list never loaded from its store (started while Redis was down): every token 503 revocations_unavailable and /readyz 503, strict or not, until it is', async () => {
  for (const strict of [true, false]) {
    const list = new RevocationList()
    list.confirmed = false
    list.loaded = false
    const g = await setup(list, strict)
    try {
      const token = await sign({ sub: 'alice' }, { alg: 'HS256', key: KEY.raw })
      const response = await g.call('/x', bearer(token))
      assert.equal(response.status, 503, `strict: ${strict}`)
      assert.equal((await response.json()).code, 'revocations_unavailable')
      assert.equal((await g.call('/readyz')).status, 503)
      assert.equal((await g.call('/open')).status, 200, 'no token, nothing to check')
      // Loaded (Redis answered), though not confirmed yet: served as a list that lags is.
      list.loaded = true
      assert.equal((await g.call('/x', bearer(token))).status, strict ? 503 : 200)
      assert.equal((await g.call('/readyz')).status, 200)
    } finally {
      await g.close()
    }
  }
})

test('a gateway whose configuration names revocations (a file, Redis) but was given no list is refused at creation', async () => {
  for (
    const env of [
      { JWTGATE_REVOCATIONS_FILE: '/var/lib/jwtgate/revoked.jsonl' },
      {
        JWTGATE_REVOCATIONS_FILE: '/var/lib/jwtgate/revoked.jsonl',
        JWTGATE_REVOCATIONS_STRICT: 'true',
      },
      { JWTGATE_REDIS_URL: 'redis://127.0.0.1:1' },
    ]
  ) {
    const config = await loadConfig({
      JWTGATE_UPSTREAM: 'http://127.0.0.1:9',
      JWTGATE_SECRET: KEY.config,
      ...env,
    })
    assert.throws(
      () => createGateway(config),
      (e: unknown) =>
        e instanceof TypeError && /no RevocationList was given/.test(e.message) &&
        e.message.includes(env.JWTGATE_REDIS_URL === undefined ? 'a revocations file' : 'Redis'),
      JSON.stringify(env),
    )
    createGateway(config, { revocations: new RevocationList() }).close()
  }
})

test('strict revocations without any store: nothing to confirm, tokens pass', async () => {
  const g = await gatewayFixture({
    env: ({ upstream }) => ({
      JWTGATE_UPSTREAM: upstream.url,
      JWTGATE_SECRET: KEY.config,
      JWTGATE_REVOCATIONS_STRICT: 'true',
    }),
  })
  try {
    const t = await sign({ sub: 'alice' }, { alg: 'HS256', key: KEY.raw })
    assert.equal((await g.call('/x', bearer(t))).status, 200)
    assert.ok(!g.lines.some((l) => JSON.parse(l).event === 'revocations_not_checked'))
  } finally {
    await g.close()
  }
})

test('with revocations in force a token carries iat and is refused once older than the longest token lifetime, fresh or cached', async () => {
  let clock = Date.now()
  const g = await gatewayFixture({
    env: ({ upstream }) => ({
      JWTGATE_UPSTREAM: upstream.url,
      JWTGATE_SECRET: KEY.config,
      JWTGATE_REVOCATIONS_MAX_TOKEN_LIFETIME: '1h',
      JWTGATE_CLOCK_SKEW: '30',
    }),
    deps: { revocations: new RevocationList(), now: () => clock },
  })
  try {
    const seconds = Math.floor(clock / 1000)
    const young = await sign({ sub: 'alice' }, { alg: 'HS256', key: KEY.raw, expiresIn: 4 * 3600 })
    const old = await sign({ sub: 'bob', iat: seconds - 3632 }, { alg: 'HS256', key: KEY.raw })
    const dateless = await sign({ sub: 'carol', iat: undefined }, { alg: 'HS256', key: KEY.raw })
    assert.equal((await g.call('/x', bearer(young))).status, 200)
    const seen = g.upstream.seen.length
    const refusal = async (token: string, code: string) => {
      const refused = await g.call('/x', bearer(token))
      assert.equal(refused.status, 401)
      assert.match(refused.headers.get('www-authenticate')!, /error="invalid_token"/)
      assert.equal((await refused.json()).code, code)
    }
    // Older than the lifetime and the clock skew at first sight, and without an issue time at all.
    await refusal(old, 'token_too_old')
    await refusal(dateless, 'claim_missing')
    // The same token from the cache, within the hour (and skew) and past it: its exp (4 h) is
    // still ahead.
    clock += 3629 * 1000
    assert.equal((await g.call('/x', bearer(young))).status, 200)
    clock += 3000
    await refusal(young, 'token_too_old')
    // Only the allowed request went upstream.
    assert.equal(g.upstream.seen.length, seen + 1)
    assert.match(
      g.gateway.metrics.render(),
      /^jwtgate_rejections_total\{reason="token_too_old"\} 2$/m,
    )
  } finally {
    await g.close()
  }
})

test('without revocations neither the age of a token nor a missing iat is looked at', async () => {
  const g = await gatewayFixture({
    env: ({ upstream }) => ({
      JWTGATE_UPSTREAM: upstream.url,
      JWTGATE_SECRET: KEY.config,
      JWTGATE_REVOCATIONS_MAX_TOKEN_LIFETIME: '1h',
    }),
  })
  try {
    const old = await sign({ sub: 'bob', iat: now() - 7200 }, { alg: 'HS256', key: KEY.raw })
    const dateless = await sign({ sub: 'carol', iat: undefined }, { alg: 'HS256', key: KEY.raw })
    assert.equal((await g.call('/x', bearer(old))).status, 200)
    assert.equal((await g.call('/x', bearer(dateless))).status, 200)
  } finally {
    await g.close()
  }
})

test('no token a revocation covers is taken once the revocation is forgotten: every kind, issue times from a lifetime ago to a skew ahead, the largest skew', async () => {
  const { checkTokenAge } = await import('../../../src/core/revocation/check.ts')
  const max = 86_400
  const skew = 3600 // the largest a provider may allow
  const made = 1_800_000_000 // when each revocation is made, in seconds
  const entries = [
    parseRevocation({ jti: 'j' }, made, max),
    parseRevocation({ token_sha256: 'ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0' }, made, max),
    parseRevocation({ sub: 's' }, made, max),
    parseRevocation({ issuer: 'https://i' }, made, max),
  ] as Revocation[]
  for (const entry of entries) {
    // Tokens that exist when it is made: verified then, so issued at most a skew ahead; covered by
    // a subject or issuer revocation only when issued before its `before`.
    const latest = entry.kind === 'sub' || entry.kind === 'issuer' ? entry.before - 1 : made + skew
    for (const iat of [made - max - skew, made - 3600, made, latest]) {
      const decision = {
        claims: { sub: 's', jti: 'j', iss: 'https://i', iat },
        provider: { config: { verify: { clockSkewSec: skew } } },
      } as unknown as Parameters<typeof checkTokenAge>[0]
      assert.throws(
        () => checkTokenAge(decision, max, (entry.until + 1) * 1000),
        (e: Error & { code?: string }) => e.code === 'token_too_old',
        `${entry.kind} iat ${iat - made}`,
      )
    }
  }
})
