/**
 * jwtgate end to end with a configuration file (issue 4): two providers behind two JWK Set
 * servers, two upstreams, ordered routes with per-route rules; then reload on SIGHUP and on file
 * change while requests are in flight. Binary and `deno run` alike.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { JWTPayload } from 'jose'
import { type KeyPair, keyPair, secret, sign } from '../helpers/keys.ts'
import { type Gateway, startGateway, TARGETS } from '../helpers/process.ts'
import { recordingUpstream } from '../helpers/serve.ts'
import { jwksServer, TempDir } from '../helpers/files.ts'
import { expectInvalidToken, expectProblem, TokenLedger } from '../helpers/assertions.ts'
import { pollUntil } from '../helpers/wait.ts'

type Upstream = Awaited<ReturnType<typeof recordingUpstream>>

/** One bounded /readyz probe. */
async function isReady(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) })
    await response.body?.cancel()
    return response.status === 200
  } catch {
    return false
  }
}

/** The case of the issue's first paragraph, as a user would write it. */
function routesFile(o: { alphaJwks: string; betaJwks: string; main: string; api: string }): string {
  return `# Two issuers, two services, rules per path.
$schema: ./jwtgate.schema.json
listen:
  host: 127.0.0.1
  port: 0
log:
  format: json
providers:
  alpha:
    issuer: https://alpha.test
    jwksUrl: ${o.alphaJwks}
    jwksCooldown: 0s      # so that an unknown kid would refetch: visible in the fetch count
  beta:
    issuer: https://beta.test
    jwksUrl: ${o.betaJwks}
    jwksCooldown: 0s
upstreams:
  main:
    url: ${o.main}
  api:
    url: ${o.api}
    timeout: 10s
routes:
  - name: public
    path: /public/*
    upstream: main
    auth: public
  - name: orders-read
    path: /orders/:id
    methods: [GET]
    upstream: main
    require:
      scopes:
        all: [orders:read]
  - name: orders-delete
    path: /orders/:id
    methods: [DELETE]
    upstream: main
    require:
      roles:
        any: [admin]
        claim: realm_access.roles
  - name: tenants
    path: /tenants/:tenant/*
    upstream: main
    require:
      claims:
        - claim: tenant
          equals: '{params.tenant}'
  - name: maybe
    path: /maybe/*
    upstream: main
    auth: optional
    claimHeaders:
      sub: X-User-Id
  - name: api
    path: /api/*
    upstream: api
    stripPrefix: /api
`
}

for (const target of TARGETS) {
  describe(`${target.name}: routes from a config file`, () => {
    const tokens = new TokenLedger()
    const files = new TempDir()
    let gateway: Gateway
    let main: Upstream
    let api: Upstream
    let alphaJwks: ReturnType<typeof jwksServer>
    let betaJwks: ReturnType<typeof jwksServer>
    let alpha: KeyPair
    let beta: KeyPair

    const bearer = (t: string) => ({ authorization: `Bearer ${tokens.add(t)}` })
    const alphaToken = (claims: JWTPayload) =>
      sign({ iss: 'https://alpha.test', ...claims }, {
        alg: 'ES256',
        key: alpha.privateKey,
        kid: 'a1',
      })
    const betaToken = (claims: JWTPayload) =>
      sign({ iss: 'https://beta.test', ...claims }, {
        alg: 'ES256',
        key: beta.privateKey,
        kid: 'b1',
      })
    const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
      fetch(`${gateway.url}${path}`, { method, headers })
    const reset = () => {
      main.seen.length = 0
      api.seen.length = 0
    }

    beforeAll(async () => {
      alpha = await keyPair('ES256', 'a1')
      beta = await keyPair('ES256', 'b1')
      alphaJwks = jwksServer([alpha.publicJwk])
      betaJwks = jwksServer([beta.publicJwk])
      main = await recordingUpstream()
      api = await recordingUpstream()
      const path = files.write(
        'jwtgate.yaml',
        routesFile({
          alphaJwks: alphaJwks.url,
          betaJwks: betaJwks.url,
          main: main.url,
          api: api.url,
        }),
      )
      gateway = await startGateway(target, { JWTGATE_CONFIG: path })
      await pollUntil(() => isReady(gateway.url), 8000)
    })

    afterAll(async () => {
      await gateway?.kill()
      await Promise.all([main?.close(), api?.close(), alphaJwks?.stop(), betaJwks?.stop()])
      files.remove()
    })

    test('tokens of both issuers are accepted, each verified with its own JWK Set', async () => {
      reset()
      const a = await get(
        '/orders/42',
        bearer(await alphaToken({ sub: 'ann', scope: 'orders:read' })),
      )
      expect(a.status).toBe(200)
      expect(await a.json()).toEqual({ path: '/orders/42' })
      const b = await get(
        '/orders/43',
        bearer(await betaToken({ sub: 'bob', scope: 'profile orders:read' })),
      )
      expect(b.status).toBe(200)
      expect(await b.json()).toEqual({ path: '/orders/43' })
      expect(main.seen.map((s) => `${s.method} ${s.path}`)).toEqual([
        'GET /orders/42',
        'GET /orders/43',
      ])
      // The token never reaches the upstream.
      expect(main.seen.map((s) => s.headers.get('authorization'))).toEqual([null, null])
    })

    test('a token whose iss names no provider is 401 wrong_issuer; no key set is tried, the upstream sees nothing', async () => {
      reset()
      const fetches = [alphaJwks.fetches, betaJwks.fetches]
      // Signed by alpha's key, with a kid neither set has: trying any key set would refetch it.
      const stranger = await sign({ iss: 'https://evil.test', sub: 'eve', scope: 'orders:read' }, {
        alg: 'ES256',
        key: alpha.privateKey,
        kid: 'zz',
      })
      await expectInvalidToken(await get('/orders/42', bearer(stranger)), 'wrong_issuer')
      const noIss = await sign({ sub: 'eve', scope: 'orders:read' }, {
        alg: 'ES256',
        key: alpha.privateKey,
        kid: 'a1',
      })
      await expectInvalidToken(await get('/orders/42', bearer(noIss)), 'wrong_issuer')
      expect([alphaJwks.fetches, betaJwks.fetches]).toEqual(fetches)
      expect(main.seen).toEqual([])
    })

    test("a token claiming alpha's iss but signed with beta's key is rejected by alpha's keys alone", async () => {
      reset()
      const betaFetches = betaJwks.fetches
      const mixed = await sign({ iss: 'https://alpha.test', sub: 'eve', scope: 'orders:read' }, {
        alg: 'ES256',
        key: beta.privateKey,
        kid: 'b1',
      })
      await expectInvalidToken(await get('/orders/42', bearer(mixed)), 'unknown_key')
      expect(betaJwks.fetches).toBe(betaFetches)
      const forgedKey = await keyPair('ES256', 'a1', false)
      const forged = await sign({ iss: 'https://alpha.test', sub: 'eve', scope: 'orders:read' }, {
        alg: 'ES256',
        key: forgedKey.privateKey,
        kid: 'a1',
      })
      await expectInvalidToken(await get('/orders/42', bearer(forged)), 'bad_signature')
      expect(main.seen).toEqual([])
    })

    test('GET /orders/:id needs scope orders:read: 403 insufficient_scope without it', async () => {
      reset()
      const response = await get(
        '/orders/42',
        bearer(await alphaToken({ sub: 'ann', scope: 'orders:write profile' })),
      )
      await expectProblem(response, 403, 'insufficient_scope')
      expect(response.headers.get('www-authenticate') ?? '').toContain('orders:read')
      await expectProblem(await get('/orders/42', {}), 401, 'token_missing')
      expect(main.seen).toEqual([])
    })

    test('HEAD is governed by the GET route', async () => {
      reset()
      const allowed = await get(
        '/orders/42',
        bearer(await alphaToken({ sub: 'ann', scope: 'orders:read' })),
        'HEAD',
      )
      expect(allowed.status).toBe(200)
      expect(await allowed.text()).toBe('')
      const denied = await get(
        '/orders/42',
        bearer(await alphaToken({ sub: 'ann', scope: 'profile' })),
        'HEAD',
      )
      expect(denied.status).toBe(403)
      expect(main.seen.map((s) => `${s.method} ${s.path}`)).toEqual(['HEAD /orders/42'])
    })

    test('DELETE /orders/:id needs role admin in realm_access.roles: 403 insufficient_role without it', async () => {
      reset()
      const user = await betaToken({
        sub: 'bob',
        scope: 'orders:read',
        realm_access: { roles: ['user'] },
      })
      await expectProblem(await get('/orders/42', bearer(user), 'DELETE'), 403, 'insufficient_role')
      // A top-level "roles" claim is not where this route looks.
      const elsewhere = await alphaToken({ sub: 'ann', roles: ['admin'] })
      await expectProblem(
        await get('/orders/42', bearer(elsewhere), 'DELETE'),
        403,
        'insufficient_role',
      )
      expect(main.seen).toEqual([])
      // The GET route's scope is not needed for DELETE: each method has its own route.
      const admin = await alphaToken({ sub: 'ann', realm_access: { roles: ['user', 'admin'] } })
      const response = await get('/orders/42', bearer(admin), 'DELETE')
      expect(response.status).toBe(200)
      expect(main.seen.map((s) => `${s.method} ${s.path}`)).toEqual(['DELETE /orders/42'])
    })

    test("/tenants/:tenant/* only when the token's tenant claim equals the path's", async () => {
      reset()
      const acme = await alphaToken({ sub: 'ann', tenant: 'acme' })
      const ok = await get('/tenants/acme/invoices/7', bearer(acme))
      expect(ok.status).toBe(200)
      expect(await ok.json()).toEqual({ path: '/tenants/acme/invoices/7' })
      await expectProblem(
        await get('/tenants/globex/invoices/7', bearer(acme)),
        403,
        'claim_mismatch',
      )
      await expectProblem(
        await get('/tenants/acme/invoices/7', bearer(await betaToken({ sub: 'bob' }))),
        403,
        'claim_mismatch',
      )
      // A tenant of the other issuer, in its own tenant.
      const globex = await get(
        '/tenants/globex/x',
        bearer(await betaToken({ sub: 'bob', tenant: 'globex' })),
      )
      expect(globex.status).toBe(200)
      expect(main.seen.map((s) => s.path)).toEqual([
        '/tenants/acme/invoices/7',
        '/tenants/globex/x',
      ])
    })

    test('no matching route: 404 no_route problem+json, even with a valid token; the upstreams see nothing', async () => {
      reset()
      const token = await alphaToken({
        sub: 'ann',
        scope: 'orders:read',
        realm_access: { roles: ['admin'] },
      })
      await expectProblem(await get('/nowhere', bearer(token)), 404, 'no_route')
      await expectProblem(await get('/nowhere', {}), 404, 'no_route')
      // A path with routes, but none for this method.
      await expectProblem(await get('/orders/42', bearer(token), 'POST'), 404, 'no_route')
      expect(main.seen).toEqual([])
      expect(api.seen).toEqual([])
    })

    test('/public/* needs no token', async () => {
      reset()
      const response = await get('/public/logo.svg')
      expect(response.status).toBe(200)
      expect(main.seen.map((s) => s.path)).toEqual(['/public/logo.svg'])
    })

    test('optional: no token → anonymous (no X-User-Id, even a forged one); valid token → X-User-Id; invalid token → 401', async () => {
      reset()
      const anonymous = await get('/maybe/feed', { 'x-user-id': 'admin' })
      expect(anonymous.status).toBe(200)
      expect(main.seen.map((s) => [s.path, s.headers.get('x-user-id')])).toEqual([[
        '/maybe/feed',
        null,
      ]])

      reset()
      const known = await get('/maybe/feed', {
        ...bearer(await betaToken({ sub: 'bob' })),
        'x-user-id': 'admin',
      })
      expect(known.status).toBe(200)
      expect(
        main.seen.map((s) => [s.path, s.headers.get('x-user-id'), s.headers.get('authorization')]),
      ).toEqual([['/maybe/feed', 'bob', null]])

      reset()
      const forgedKey = await keyPair('ES256', 'b1', false)
      const forged = await sign({ iss: 'https://beta.test', sub: 'mallory' }, {
        alg: 'ES256',
        key: forgedKey.privateKey,
        kid: 'b1',
      })
      await expectInvalidToken(await get('/maybe/feed', bearer(forged)), 'bad_signature')
      await expectInvalidToken(
        await get(
          '/maybe/feed',
          bearer(await betaToken({ sub: 'bob', exp: Math.floor(Date.now() / 1000) - 3600 })),
        ),
        'token_expired',
      )
      expect(main.seen).toEqual([])
    })

    test('stripPrefix: /api/* reaches the second upstream without /api, query kept', async () => {
      reset()
      const response = await get('/api/v1/things?q=1', bearer(await alphaToken({ sub: 'ann' })))
      expect(response.status).toBe(200)
      expect(await response.json()).toEqual({ path: '/v1/things' })
      expect(api.seen.map((s) => `${s.method} ${s.path}${s.search}`)).toEqual([
        'GET /v1/things?q=1',
      ])
      expect(main.seen).toEqual([])
      await expectProblem(await get('/api/v1/things'), 401, 'token_missing')
      expect(api.seen.length).toBe(1)
    })

    test('the access log names the route and the failed requirement; no log line contains a token', async () => {
      const wanted = [{ route: 'api', status: 200 }, { path: '/nowhere', status: 404 }]
      const events = await gateway.eventsUntil(
        'request',
        (lines) =>
          wanted.every((w) =>
              lines.some((line) => Object.entries(w).every(([k, v]) => line[k] === v))
            )
            ? lines
            : undefined,
      )
      expect(events).toContainEqual(
        expect.objectContaining({
          route: 'orders-read',
          status: 403,
          decision: 'insufficient_scope',
          requirement: 'routes[1].require.scopes',
        }),
      )
      expect(events).toContainEqual(
        expect.objectContaining({
          route: 'orders-delete',
          status: 403,
          decision: 'insufficient_role',
          requirement: 'routes[2].require.roles',
        }),
      )
      expect(events).toContainEqual(
        expect.objectContaining({
          route: 'tenants',
          status: 403,
          decision: 'claim_mismatch',
          requirement: 'routes[3].require.claims[0]',
        }),
      )
      expect(events).toContainEqual(
        expect.objectContaining({ path: '/nowhere', status: 404, decision: 'no_route' }),
      )
      expect(events).toContainEqual(
        expect.objectContaining({ route: 'api', status: 200, decision: 'allowed', sub: 'ann' }),
      )
      tokens.expectAbsentFrom(gateway.output())
    })
  })

  describe(`${target.name}: reload`, () => {
    const files = new TempDir()
    const key = secret(32)
    const gateways: Gateway[] = []
    let upstream: Upstream

    /** Upstream paths containing "slow" answer after 1.5 s. */
    const SLOW_MS = 1500
    const token = (scope: string) => sign({ sub: 'ann', scope }, { alg: 'HS256', key: key.raw })

    /** v1: /data/* needs data:read. v2: it needs data:write, and /fresh/* exists. */
    function reloadFile(version: 1 | 2, watch: boolean): string {
      return `log: {format: json}
watch: ${watch}
providers:
  main:
    secret: "${key.config}"
upstreams:
  app: {url: "${upstream.url}"}
routes:
  - name: public
    path: /public/*
    upstream: app
    auth: public
  - name: data
    path: /data/*
    upstream: app
    require:
      scopes: {all: [${version === 1 ? 'data:read' : 'data:write'}]}
${version === 2 ? '  - {name: fresh, path: /fresh/*, upstream: app, auth: public}\n' : ''}`
    }

    async function status(gateway: Gateway, path: string, scope?: string): Promise<number> {
      const headers: Record<string, string> = scope === undefined
        ? {}
        : { authorization: `Bearer ${await token(scope)}` }
      const response = await fetch(`${gateway.url}${path}`, {
        headers,
        signal: AbortSignal.timeout(5000),
      })
      await response.body?.cancel()
      return response.status
    }

    /** Starts GET /data/slow and resolves once the upstream holds it, so it is truly in flight. */
    async function inFlight(gateway: Gateway, scope: string) {
      const before = upstream.seen.filter((s) => s.path === '/data/slow').length
      let settled = false
      const authorization = `Bearer ${await token(scope)}`
      const response = fetch(`${gateway.url}/data/slow`, {
        headers: { authorization },
        signal: AbortSignal.timeout(10_000),
      }).then(async (r) => {
        const body = await r.text()
        settled = true
        return { status: r.status, body }
      })
      await pollUntil(
        () => upstream.seen.filter((s) => s.path === '/data/slow').length > before,
        5000,
        20,
      )
      return { response, settled: () => settled }
    }

    /** Waits (bounded) for the count of `event` lines to pass `count`, checking /public/x stays 200 meanwhile. */
    async function waitForEvent(gateway: Gateway, event: string, count: number): Promise<void> {
      await pollUntil(
        async () => {
          expect(await status(gateway, '/public/x')).toBe(200)
          return gateway.events(event).length > count
        },
        8000,
        50,
      )
    }

    beforeAll(async () => {
      upstream = await recordingUpstream(async (request) => {
        const path = new URL(request.url).pathname
        if (path.includes('slow')) await new Promise((r) => setTimeout(r, SLOW_MS))
        return Response.json({ path })
      })
    })

    afterAll(async () => {
      await Promise.all(gateways.map((g) => g.kill()))
      await upstream?.close()
      files.remove()
    })

    test(
      'SIGHUP with a valid file: in-flight requests finish, new ones follow the new rules; then an invalid file keeps the running config',
      async () => {
        const path = files.write('reload.yaml', reloadFile(1, false))
        const gateway = await startGateway(target, { JWTGATE_CONFIG: path })
        gateways.push(gateway)
        expect(await status(gateway, '/data/x', 'data:read')).toBe(200)
        expect(await status(gateway, '/data/x', 'data:write')).toBe(403)
        expect(await status(gateway, '/fresh/x')).toBe(404)

        // A request allowed by v1, held by the upstream while v2 replaces v1.
        const slow = await inFlight(gateway, 'data:read')
        files.write('reload.yaml', reloadFile(2, false))
        gateway.signal('SIGHUP')
        await waitForEvent(gateway, 'reload', 0)
        expect(slow.settled()).toBe(false)
        expect(gateway.events('reload')).toEqual([
          expect.objectContaining({ level: 'info', trigger: 'SIGHUP', routes: 3 }),
        ])
        expect(await slow.response).toEqual({
          status: 200,
          body: JSON.stringify({ path: '/data/slow' }),
        })

        expect(await status(gateway, '/data/x', 'data:read')).toBe(403)
        expect(await status(gateway, '/data/x', 'data:write')).toBe(200)
        expect(await status(gateway, '/fresh/x')).toBe(200)

        // An invalid file: logged, and v2 stays in force; a request in flight meanwhile still succeeds.
        const slow2 = await inFlight(gateway, 'data:write')
        files.write(
          'reload.yaml',
          reloadFile(2, false).replace('    path: /data/*', '    pathh: /data/*'),
        )
        gateway.signal('SIGHUP')
        await waitForEvent(gateway, 'reload_failed', 0)
        const failed = gateway.events('reload_failed')
        expect(failed).toEqual([
          expect.objectContaining({
            level: 'error',
            trigger: 'SIGHUP',
            keeping: 'the running configuration',
          }),
        ])
        expect(failed[0]!.problems).toContain('routes[1].pathh: unknown key')
        expect(await slow2.response).toEqual({
          status: 200,
          body: JSON.stringify({ path: '/data/slow' }),
        })
        expect(gateway.events('reload').length).toBe(1)

        expect(await status(gateway, '/data/x', 'data:read')).toBe(403)
        expect(await status(gateway, '/data/x', 'data:write')).toBe(200)
        expect(await status(gateway, '/fresh/x')).toBe(200)

        // Unreadable YAML is refused the same way.
        files.write('reload.yaml', 'routes: [\n')
        gateway.signal('SIGHUP')
        await waitForEvent(gateway, 'reload_failed', 1)
        expect(await status(gateway, '/fresh/x')).toBe(200)
        expect(await status(gateway, '/data/x', 'data:write')).toBe(200)
      },
      20_000,
    )

    test('watch: true applies a changed file without a signal', async () => {
      const path = files.write('watched.yaml', reloadFile(1, true))
      const gateway = await startGateway(target, { JWTGATE_CONFIG: path })
      gateways.push(gateway)
      expect(await status(gateway, '/fresh/x')).toBe(404)
      expect(await status(gateway, '/data/x', 'data:read')).toBe(200)

      files.replace('watched.yaml', reloadFile(2, true))
      const waited = await pollUntil(
        async () => (await status(gateway, '/fresh/x')) === 200,
        5000,
        100,
      )
      expect(waited).toBeLessThan(5000)
      expect(await status(gateway, '/data/x', 'data:read')).toBe(403)
      expect(gateway.events('reload')).toEqual([
        expect.objectContaining({ trigger: 'file change' }),
      ])

      // Written in place this time (no rename): back to v1.
      files.write('watched.yaml', reloadFile(1, true))
      await pollUntil(async () => (await status(gateway, '/fresh/x')) === 404, 5000, 100)
      expect(await status(gateway, '/data/x', 'data:read')).toBe(200)
      expect(gateway.events('reload_failed')).toEqual([])
    }, 15_000)
  })
}
