/**
 * Decisions an attacker tried to bend (issue 10, defects 1, 6, 7 and the smaller hardening), on the
 * binary and under Deno, over HTTP:
 * - the verified-token cache never changes an answer: a token cached for one route's provider is
 *   checked afresh where another provider would decide;
 * - a token names its issuer: a provider that does not accept it never tries its keys
 *   (`wrong_issuer`), and a token is verified only by a provider that looks for it where it was
 *   found (its `tokenSources`);
 * - failed authentication counts against the client address, which is refused before any
 *   verification once over JWTGATE_RATE_LIMIT;
 * - a signed `sub` with control characters never reaches a log line raw.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { type KeyPair, keyPair, secret, sign } from '../helpers/keys.ts'
import { type Gateway, startGateway, type Target, TARGETS } from '../helpers/process.ts'
import { recordingUpstream } from '../helpers/serve.ts'
import { TempDir } from '../helpers/files.ts'
import { expectRejected } from '../helpers/assertions.ts'

type Upstream = Awaited<ReturnType<typeof recordingUpstream>>

const IDP = 'https://idp.test'
const PARTNERS = 'https://partners.test'
const LEGACY = 'https://legacy.test'

/**
 * Two providers with the same issuer and key and different audiences (admin listed first, so it
 * is the one `/admin/*` chooses for that issuer), a partner provider that looks for its tokens in
 * a cookie only, and routes with one provider, several, and all.
 */
function decisionsFile(o: { es256: KeyPair; partners: string; upstream: string }): string {
  return JSON.stringify({
    listen: { host: '127.0.0.1', port: 0 },
    log: { format: 'json' },
    tokenCache: { size: 1000 },
    providers: {
      admin: { issuer: IDP, audience: 'admin-api', publicKey: o.es256.spki },
      orders: { issuer: IDP, audience: 'orders-api', publicKey: o.es256.spki },
      partners: { issuer: PARTNERS, secret: o.partners, tokenSources: ['cookie:partner'] },
    },
    upstreams: { main: { url: o.upstream } },
    routes: [
      { name: 'orders', path: '/orders/*', upstream: 'main', providers: ['orders'] },
      { name: 'admin', path: '/admin/*', upstream: 'main' },
      { name: 'idp-only', path: '/idp/*', upstream: 'main', providers: ['admin'] },
      { name: 'mixed', path: '/mixed/*', upstream: 'main', providers: ['orders', 'partners'] },
    ],
  })
}

/**
 * A gateway over a recording upstream with an HS256 secret and `env`, started before the
 * enclosing describe's tests and stopped after them.
 */
function envGateway(target: Target, env: Record<string, string>) {
  const ctx = { key: secret(32) } as {
    key: ReturnType<typeof secret>
    upstream: Upstream
    gateway: Gateway
  }
  beforeAll(async () => {
    ctx.upstream = await recordingUpstream()
    ctx.gateway = await startGateway(target, {
      JWTGATE_UPSTREAM: ctx.upstream.url,
      JWTGATE_SECRET: ctx.key.config,
      // One process: these cases count per client, and a client whose requests reach two
      // workers may have one more verified per worker before that worker learns of the empty
      // bucket (README, Workers; tests/e2e/workers.test.ts tests the limits across workers).
      // Deno's `auto` is two workers on this machine.
      JWTGATE_WORKERS: '1',
      ...env,
    })
  })
  afterAll(async () => {
    await ctx.gateway.kill()
    await ctx.upstream.close()
  })
  return ctx
}

for (const target of TARGETS) {
  describe(`${target.name}: decisions`, () => {
    const dir = new TempDir()
    const partners = secret(32)
    let es256: KeyPair
    let upstream: Upstream
    let gateway: Gateway

    beforeAll(async () => {
      es256 = await keyPair('ES256')
      upstream = await recordingUpstream()
      const path = dir.write(
        'decisions.json',
        decisionsFile({ es256, partners: partners.config, upstream: upstream.url }),
      )
      gateway = await startGateway(target, { JWTGATE_CONFIG: path })
    })

    afterAll(async () => {
      await gateway.kill()
      await upstream.close()
      dir.remove()
    })

    const idpToken = (aud: string, sub = 'alice') =>
      sign({ iss: IDP, aud, sub }, { alg: 'ES256', key: es256.privateKey })
    const get = (path: string, headers: Record<string, string> = {}) =>
      fetch(`${gateway.url}${path}`, { headers })
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

    test("a token cached for one route's provider gets the same answer as with the cache off on every other route", async () => {
      const token = await idpToken('orders-api')
      const seen = upstream.seen.length
      for (const round of [1, 2, 3]) {
        // /admin/* chooses "admin" for this issuer, which wants admin-api: refused however often
        // the token was accepted on /orders/* (where it is cached) in between.
        await expectRejected(await get('/admin/x', bearer(token)), 'wrong_audience')
        expect({ round, status: (await get('/orders/x', bearer(token))).status }).toEqual({
          round,
          status: 200,
        })
        await expectRejected(await get('/idp/x', bearer(token)), 'wrong_audience')
        expect((await get('/mixed/x', bearer(token))).status).toBe(200)
      }
      expect(upstream.seen.slice(seen).map((s) => s.path)).toEqual([
        '/orders/x',
        '/mixed/x',
        '/orders/x',
        '/mixed/x',
        '/orders/x',
        '/mixed/x',
      ])
      // And the other way round: a token cached by "admin" is not taken on /orders/*.
      const adminToken = await idpToken('admin-api', 'root')
      expect((await get('/admin/x', bearer(adminToken))).status).toBe(200)
      await expectRejected(await get('/orders/x', bearer(adminToken)), 'wrong_audience')
      expect((await get('/admin/x', bearer(adminToken))).status).toBe(200)
    })

    test("a single-provider route answers another issuer's token wrong_issuer without trying its keys", async () => {
      const partnerHs = await sign({ iss: PARTNERS, sub: 'p' }, { alg: 'HS256', key: partners.raw })
      const legacyRs = await sign({ iss: LEGACY, sub: 'l' }, {
        alg: 'RS256',
        key: (await keyPair('RS256', 'legacy-1')).privateKey,
        kid: 'legacy-1',
      })
      const otherEs = await sign({ iss: LEGACY, sub: 'l', aud: 'admin-api' }, {
        alg: 'ES256',
        key: es256.privateKey,
      })
      for (const token of [partnerHs, legacyRs, otherEs]) {
        await expectRejected(await get('/idp/x', bearer(token)), 'wrong_issuer')
        await expectRejected(await get('/orders/x', bearer(token)), 'wrong_issuer')
      }
    })

    test('a token is verified only by a provider that looks for it where it was found', async () => {
      const partnerHs = await sign({ iss: PARTNERS, sub: 'p' }, { alg: 'HS256', key: partners.raw })
      const ordersEs = await idpToken('orders-api')
      // The partner's token in the cookie partners look in: accepted; in Authorization (where only
      // "orders" looks): wrong_issuer.
      expect((await get('/mixed/x', { cookie: `partner=${partnerHs}` })).status).toBe(200)
      await expectRejected(await get('/mixed/x', bearer(partnerHs)), 'wrong_issuer')
      // An idp token in the partners' cookie is not the partners' to accept, cached or not.
      expect((await get('/mixed/x', bearer(ordersEs))).status).toBe(200)
      await expectRejected(await get('/mixed/x', { cookie: `partner=${ordersEs}` }), 'wrong_issuer')
      await expectRejected(await get('/admin/x', { cookie: `partner=${ordersEs}` }), 'wrong_issuer')
    })
  })

  describe(`${target.name}: failed authentication is rate limited per client address`, () => {
    const ctx = envGateway(target, {
      JWTGATE_RATE_LIMIT: '4/1m',
      JWTGATE_PUBLIC_PATHS: '/public/*',
    })
    const { key } = ctx

    const get = (path: string, token?: string) =>
      fetch(`${ctx.gateway.url}${path}`, {
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      })

    test("bad and missing tokens use up the address's bucket; then 429 comes before verification, and a cached token still passes", async () => {
      const cached = await sign({ sub: 'alice' }, { alg: 'HS256', key: key.raw })
      expect((await get('/orders', cached)).status).toBe(200)
      const forged = await sign({ sub: 'mallory' }, { alg: 'HS256', key: secret(32).raw })
      // The burst of 4: two bad signatures, a missing token, a malformed one.
      await expectRejected(await get('/orders', forged), 'bad_signature')
      await expectRejected(await get('/orders', forged), 'bad_signature')
      await expectRejected(await get('/orders'), 'token_missing')
      await expectRejected(await get('/orders', 'not.a.token'), 'token_malformed')
      // Over the limit: refused before the token is looked at, whatever it is.
      for (
        const token of [
          forged,
          undefined,
          'not.a.token',
          await sign({ sub: 'bob' }, { alg: 'HS256', key: key.raw }),
        ]
      ) {
        const response = await get('/orders', token)
        await expectRejected(response.clone(), 'rate_limited', 429)
        expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0)
      }
      // Anonymous requests on public paths share the address's bucket.
      expect((await get('/public/x')).status).toBe(429)
      // A token verified before costs nothing and counts for its subject.
      expect((await get('/orders', cached)).status).toBe(200)
      const decisions = ctx.gateway.events('request').map((e) => e.decision)
      expect(decisions.filter((d) => d === 'rate_limited')).toHaveLength(5)
      expect(ctx.upstream.seen.map((s) => s.path)).toEqual(['/orders', '/orders'])
    })
  })

  describe(`${target.name}: behind a trusted proxy, each client has its own bucket`, () => {
    const ctx = envGateway(target, { JWTGATE_RATE_LIMIT: '2/1m', JWTGATE_TRUSTED_PROXIES: '1' })

    const from = async (xff: string) => {
      const response = await fetch(`${ctx.gateway.url}/orders`, {
        headers: { 'x-forwarded-for': xff, authorization: 'Bearer x.y.z' },
      })
      await response.arrayBuffer()
      return response
    }

    test("the address the proxy reported counts, not the proxy's; entries a client prepends do not", async () => {
      expect((await from('203.0.113.1')).status).toBe(401)
      expect((await from('203.0.113.1')).status).toBe(401)
      expect((await from('203.0.113.1')).status).toBe(429)
      expect((await from('6.6.6.6, 203.0.113.1')).status).toBe(429)
      // Another client behind the same proxy (the same connection peer) is not refused.
      expect((await from('203.0.113.2')).status).toBe(401)
      const clients = ctx.gateway.events('request').map((e) => e.client)
      expect(clients).toEqual([
        '203.0.113.1',
        '203.0.113.1',
        '203.0.113.1',
        '203.0.113.1',
        '203.0.113.2',
      ])
    })
  })

  describe(`${target.name}: log lines`, () => {
    const ctx = envGateway(target, { JWTGATE_LOG_FORMAT: 'pretty' })
    const { key } = ctx

    test('pretty format: a signed sub with control characters is escaped, never written raw', async () => {
      const sub = 'alice\u001b[31m\u009b2J\r\nFORGED request status=200\u2028x\u007f'
      const token = await sign({ sub }, { alg: 'HS256', key: key.raw })
      expect(
        (await fetch(`${ctx.gateway.url}/x`, { headers: { authorization: `Bearer ${token}` } }))
          .status,
      ).toBe(200)
      const out = await ctx.gateway.waitFor((s) => (s.includes('alice') ? s : undefined), 2000)
      // deno-lint-ignore no-control-regex -- the control characters are what is looked for
      expect(out.match(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/g)).toBeNull()
      expect(out.split('\n').filter((line) => line.startsWith('FORGED'))).toEqual([])
      expect(out).toContain(
        'sub="alice\\u001b[31m\\u009b2J\\r\\nFORGED request status=200\\u2028x\\u007f"',
      )
    })
  })
}
