import assert from 'node:assert/strict'
import { loadConfig } from '../../../src/core/config/load.ts'
import { describeConfig, summaryFields } from '../../../src/core/config/summary.ts'
import { test } from '../../helpers/t.ts'

const BASE = { JWTGATE_UPSTREAM: 'http://127.0.0.1:9', JWTGATE_SECRET: 's'.repeat(40) }

test("describeConfig(): one line per part, and what reaches the upstream of the client's headers", async () => {
  const plain = describeConfig(await loadConfig(BASE))
  assert.deepEqual(plain.map((l) => l.slice(0, 9)), [
    'listen:  ',
    'upstream:',
    'keys:    ',
    'policy:  ',
    'route:   ',
    'headers: ',
    'ws:      ',
  ])
  assert.equal(plain.at(-2), 'headers:  X-Forwarded-* read from 0 trusted proxies; token removed')
  assert.equal(
    plain[4],
    'route:    default route "default" * /* → default; required (default); websockets',
  )
  assert.equal(
    plain.at(-1),
    "ws:       upgrades on the routes marked websockets; messages up to 1048576 bytes, 4194304 buffered for a slow receiver; idle 120 s; at most 10000 open; closed at the token's exp (+ clock skew) or its revocation",
  )
  const off = describeConfig(await loadConfig({ ...BASE, JWTGATE_WEBSOCKETS: 'false' }))
  assert.equal(off.at(-1), 'ws:       WebSocket upgrades off')
  const behind = describeConfig(
    await loadConfig({
      ...BASE,
      JWTGATE_TRUSTED_PROXIES: '1',
      JWTGATE_FORWARD_TOKEN: 'true',
      JWTGATE_STRIP_HEADERS: 'X-Internal-*,X-Tenant',
    }),
  )
  assert.equal(
    behind.at(-2),
    'headers:  X-Forwarded-* read from 1 trusted proxy; token forwarded (the verified copy only); also removed: x-tenant, x-internal-*',
  )
  // Never a secret.
  assert.ok(!behind.join('\n').includes('s'.repeat(40)))
  assert.equal(summaryFields(await loadConfig(BASE)).routes, '1')
})
