import assert from 'node:assert/strict'
import { loadConfig } from '../../../src/core/config/load.ts'
import { ConfigError } from '../../../src/core/errors.ts'
import { test } from '../../helpers/t.ts'

const BASE = `
providers: { main: { issuer: https://i, secret: "${'k'.repeat(40)}" } }
upstreams: { api: { url: "http://a" } }
routes:
  - { name: orders, path: /orders/*, upstream: api }
  - { path: /b, upstream: api }
`

const load = (text: string) => loadConfig({ JWTGATE_CONFIG: '/c.yaml' }, { readFile: () => text })

async function problems(text: string): Promise<string[]> {
  const err = await load(text).catch((e) => e)
  assert.ok(err instanceof ConfigError, String(err))
  return err.issues.map((i) => `${i.path}: ${i.message}`)
}

test('rateLimits: named limits with their defaults (key sub, burst = the rate count)', async () => {
  const config = await load(`${BASE}
rateLimits:
  per-user: { rate: 100/1m }
  per-tenant: { rate: 10/1s, burst: 3, key: "claim:org.id", routes: [orders, "routes[1]"], providers: [main] }
`)
  assert.equal(config.rateLimits.length, 2)
  const [user, tenant] = config.rateLimits
  assert.deepEqual(user, {
    name: 'per-user',
    rate: { limit: 100, periodMs: 60_000 },
    burst: 100,
    key: { kind: 'sub' },
    routes: undefined,
    providers: undefined,
  })
  assert.equal(tenant!.burst, 3)
  assert.deepEqual(tenant!.routes, ['orders', 'routes[1]'])
  assert.ok(Object.isFrozen(tenant))
})

test('rateLimits: each problem at its place', async () => {
  assert.deepEqual(
    await problems(`${BASE}
rateLimits:
  a: { rate: 100 }
  b: { rate: 1/1s, key: ip }
  c: { rate: 1/1s, burst: 0 }
  d: { rate: 1/1s, routes: [nope], providers: [ghost] }
  e: { rate: 1/1s, per: sub }
  f: { rate: 1/1s, routes: [] }
  g: { rate: 1/1s, providers: [] }
`),
    [
      'rateLimits.a.rate: must be requests per period, such as 100/1m or 10/1s (at most 100,000 a second, a period of at most a year)',
      'rateLimits.b.key: must be sub, address, claim:<claim path> or header:<Name>',
      'rateLimits.c.burst: Invalid value: expected >=1, got 0',
      'rateLimits.e.per: unknown key',
      'rateLimits.f.routes: names no route: give at least one, or leave the key out (every route)',
      'rateLimits.g.providers: names no provider: give at least one, or leave the key out (every provider)',
    ],
  )
  assert.deepEqual(
    await problems(
      `${BASE}\nrateLimits:\n  d: { rate: 1/1s, routes: [nope], providers: [ghost] }\n`,
    ),
    [
      'rateLimits.d.routes[0]: unknown route "nope"',
      'rateLimits.d.providers[0]: unknown provider "ghost"',
    ],
  )
})
