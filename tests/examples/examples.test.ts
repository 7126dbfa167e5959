/**
 * Every example in examples/ runs as a user would run it (the Bun ones with `bun`, the Deno one
 * with `deno run`), and answers a valid token, a bad one and a token without the required scope.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { secret, sign } from '../helpers/keys.ts'
import { ROOT, type Running, spawnTarget, type Target } from '../helpers/process.ts'
import { recordingUpstream } from '../helpers/serve.ts'

const bin = (name: string) => join(ROOT, 'node_modules', '.bin', name)
const run = (runtime: 'bun' | 'deno', file: string): Target => ({
  name: `${runtime} ${file}`,
  command: runtime === 'bun'
    ? [bin('bun'), join(ROOT, file)]
    : [bin('deno'), 'run', '-A', join(ROOT, file)],
})

/** Each example: how it runs, and whether it proxies to an upstream or guards its own handler. */
const EXAMPLES = [
  { target: run('bun', 'examples/bun.ts'), proxies: true },
  { target: run('deno', 'examples/deno.ts'), proxies: true },
  { target: run('bun', 'examples/itty-router.ts'), proxies: false },
  { target: run('bun', 'examples/hono.ts'), proxies: false },
]

for (const { target, proxies } of EXAMPLES) {
  describe(target.name, () => {
    const key = secret(32)
    let upstream: Awaited<ReturnType<typeof recordingUpstream>>
    let app: Running
    let url: string

    beforeAll(async () => {
      upstream = await recordingUpstream()
      app = spawnTarget(target, [], {
        PORT: '0',
        JWTGATE_SECRET: key.config,
        JWTGATE_REQUIRED_SCOPES: 'orders:read',
        // Claim headers act on an upstream's request: a guarded handler's configuration refuses them.
        ...(proxies
          ? { JWTGATE_UPSTREAM: upstream.url, JWTGATE_FORWARD_CLAIMS: 'sub=X-User-Id' }
          : {}),
      })
      url = await app.waitFor((out) => /listening on (http:\/\/\S+)/.exec(out)?.[1], 15_000)
    })

    afterAll(async () => {
      await app?.kill()
      await upstream.close()
    })

    const get = (token?: string) =>
      fetch(`${url}/orders/7`, { headers: token ? { authorization: `Bearer ${token}` } : {} })

    test('a valid token is answered 200 (by the upstream, or the guarded handler with the claims)', async () => {
      const response = await get(
        await sign({ sub: 'alice', scope: 'orders:read' }, { alg: 'HS256', key: key.raw }),
      )
      expect(response.status).toBe(200)
      if (proxies) {
        expect(await response.json()).toEqual({ path: '/orders/7' })
        expect(upstream.seen.at(-1)?.headers.get('x-user-id')).toBe('alice')
      } else expect(await response.json()).toEqual({ order: '7', for: 'alice' })
    })

    test('a bad token is 401 with the RFC 6750 challenge; a token without the scope is 403', async () => {
      const seen = upstream.seen.length
      const forged = await sign({ sub: 'mallory', scope: 'orders:read' }, {
        alg: 'HS256',
        key: secret(32).raw,
      })
      const bad = await get(forged)
      expect(bad.status).toBe(401)
      expect(bad.headers.get('www-authenticate')).toContain('error="invalid_token"')
      const forbidden = await get(await sign({ sub: 'bob' }, { alg: 'HS256', key: key.raw }))
      expect(forbidden.status).toBe(403)
      expect((await forbidden.json()).code).toBe('insufficient_scope')
      expect(upstream.seen.length).toBe(seen)
    })
  })
}
