import assert from 'node:assert/strict'
import { type CachedToken, TokenCache } from '../../../src/core/auth/cache.ts'
import type { Claims } from '../../../src/core/auth/claims.ts'
import { loadConfig } from '../../../src/core/config/load.ts'
import type { Decision } from '../../../src/core/decide.ts'
import { TokenError } from '../../../src/core/errors.ts'
import { silentLogger } from '../../../src/core/log.ts'
import { claimHeaders } from '../../../src/core/proxy/claim-headers.ts'
import { buildState, type State } from '../../../src/core/state.ts'
import { secret } from '../../helpers/keys.ts'
import { test } from '../../helpers/t.ts'

/** Routes: 0 forwards many claims, 1 forwards `sub` under another name, 2 forwards none. */
async function state(): Promise<State> {
  const text = JSON.stringify({
    providers: { p: { issuer: 'https://p.test', secret: secret(32).config } },
    upstreams: { api: { url: 'http://127.0.0.1:9' } },
    routes: [
      {
        path: '/many/*',
        upstream: 'api',
        claimHeaders: {
          sub: 'X-User-Id',
          'realm_access.roles': 'X-Roles',
          admin: 'X-Admin',
          level: 'X-Level',
          profile: 'X-Profile',
          missing: 'X-Missing',
          'https://example.com/tenant': 'X-Tenant',
          name: 'X-Name',
        },
      },
      { path: '/one/*', upstream: 'api', name: 'one', claimHeaders: { sub: 'X-Subject' } },
      { path: '/none/*', upstream: 'api' },
    ],
  })
  const config = await loadConfig({ JWTGATE_CONFIG: 'x.json' }, { readFile: () => text })
  return buildState(config, { fetch, now: Date.now, logger: silentLogger })
}

function decision(s: State, route: number, claims: Claims | undefined, cached?: CachedToken) {
  return {
    route: s.routes[route]!,
    params: {},
    claims,
    provider: undefined,
    found: undefined,
    cached,
  } satisfies Decision
}

const CLAIMS: Claims = {
  sub: 'alice',
  realm_access: { roles: ['admin', 'ops'] },
  admin: false,
  level: 3,
  profile: { a: [1, 2] },
  'https://example.com/tenant': 'acme',
  name: 'Zoë',
}

const cacheEntry = (claims: Claims) =>
  new TokenCache({ maxEntries: 10, maxAgeMs: 60_000 }).set('t', claims, 'p', 0, 0, Date.now())!

test('claimHeaders() encodes each configured claim in order, and leaves out an absent one', async () => {
  const s = await state()
  // Header names as configuration keeps them: lower-cased.
  assert.deepEqual(claimHeaders(decision(s, 0, CLAIMS)), [
    ['x-user-id', 'alice'],
    ['x-roles', 'admin,ops'],
    ['x-admin', 'false'],
    ['x-level', '3'],
    ['x-profile', '{"a":[1,2]}'],
    ['x-tenant', 'acme'],
    // Beyond ASCII: the UTF-8 bytes, one character each.
    ['x-name', 'Zo\u00c3\u00ab'],
  ])
  assert.deepEqual(claimHeaders(decision(s, 0, { sub: 'bob', missing: null })), [
    ['x-user-id', 'bob'],
  ])
})

test('claimHeaders() is empty for an anonymous decision and for a route without claim headers', async () => {
  const s = await state()
  assert.deepEqual(claimHeaders(decision(s, 0, undefined)), [])
  assert.deepEqual(claimHeaders(decision(s, 2, CLAIMS)), [])
  const cached = cacheEntry(CLAIMS)
  claimHeaders(decision(s, 2, CLAIMS, cached))
  claimHeaders(decision(s, 0, undefined, cached))
  assert.equal(cached.headers.size, 0)
})

test('claimHeaders() refuses a claim with control characters as claim_invalid', async () => {
  const s = await state()
  assert.throws(
    () => claimHeaders(decision(s, 1, { sub: 'alice\r\nX-Admin: true' })),
    (e: unknown) => e instanceof TokenError && e.code === 'claim_invalid' && e.status === 401,
  )
})

test('claimHeaders() encodes once per cached token and route, and keeps it on the cache entry', async () => {
  const s = await state()
  const cached = cacheEntry(CLAIMS)
  const first = claimHeaders(decision(s, 0, CLAIMS, cached))
  assert.deepEqual([...cached.headers.keys()], ['routes[0]'])
  assert.equal(cached.headers.get('routes[0]'), first)
  // Later requests with this token on this route get the kept list itself.
  assert.equal(claimHeaders(decision(s, 0, CLAIMS, cached)), first)
  // Another route encodes its own, kept under its name.
  assert.deepEqual(claimHeaders(decision(s, 1, CLAIMS, cached)), [['x-subject', 'alice']])
  assert.deepEqual([...cached.headers.keys()], ['routes[0]', 'one'])
  // Without a cache entry, nothing is kept and each call encodes afresh.
  const a = claimHeaders(decision(s, 1, CLAIMS))
  const b = claimHeaders(decision(s, 1, { sub: 'bob' }))
  assert.notEqual(a, b)
  assert.deepEqual(b, [['x-subject', 'bob']])
})
