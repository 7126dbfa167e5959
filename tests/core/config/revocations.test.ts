import assert from 'node:assert/strict'
import { loadConfig } from '../../../src/core/config/load.ts'
import { ConfigError } from '../../../src/core/errors.ts'
import { test } from '../../helpers/t.ts'

const ENV = { JWTGATE_UPSTREAM: 'http://127.0.0.1:1', JWTGATE_SECRET: 'k'.repeat(40) }
const ADMIN = 'x'.repeat(32)

async function problems(env: Record<string, string>, text = ''): Promise<string[]> {
  const err = await loadConfig(env, { readFile: () => text }).catch((e) => e)
  assert.ok(err instanceof ConfigError, String(err))
  return err.issues.map((i) => `${i.path}: ${i.message}`)
}

test('revocations: defaults, and the variables', async () => {
  const config = await loadConfig(ENV)
  assert.deepEqual(config.revocations, {
    file: undefined,
    strict: false,
    maxTokenLifetimeSec: 86_400,
    maxEntries: 1_000_000,
    beforeMarginSec: 30, // the default clock skew
  })
  const set = await loadConfig({
    ...ENV,
    JWTGATE_REVOCATIONS_FILE: '/var/lib/jwtgate/revoked.jsonl',
    JWTGATE_REVOCATIONS_STRICT: 'true',
    JWTGATE_REVOCATIONS_MAX_TOKEN_LIFETIME: '1h',
  })
  assert.deepEqual(set.revocations, {
    file: '/var/lib/jwtgate/revoked.jsonl',
    strict: true,
    maxTokenLifetimeSec: 3600,
    maxEntries: 1_000_000,
    beforeMarginSec: 30,
  })
})

test('revocations: a file next to Redis is refused (Redis keeps them)', async () => {
  assert.deepEqual(
    await problems({
      ...ENV,
      JWTGATE_REDIS_URL: 'redis://127.0.0.1:6379',
      JWTGATE_REVOCATIONS_FILE: '/r.jsonl',
    }),
    ['JWTGATE_REVOCATIONS_FILE: with JWTGATE_REDIS_URL revocations are kept in Redis; drop the file'],
  )
})

test('revocations: in the file', async () => {
  const text = `
providers: { main: { secret: "${'k'.repeat(40)}" } }
upstreams: { api: { url: "http://a" } }
routes: [{ path: /b, upstream: api }]
revocations: { file: /r.jsonl, strict: true, maxTokenLifetime: 12h, maxEntries: 10 }
admin: { port: 9090, token: { env: ADMIN_TOKEN } }
`
  const config = await loadConfig({ JWTGATE_CONFIG: '/c.yaml', ADMIN_TOKEN: ADMIN }, {
    readFile: () => text,
  })
  assert.deepEqual(config.revocations, {
    file: '/r.jsonl',
    strict: true,
    maxTokenLifetimeSec: 43_200,
    maxEntries: 10,
    beforeMarginSec: 30,
  })
  assert.deepEqual(config.admin, { host: '127.0.0.1', port: 9090, token: ADMIN })
})

test('JWTGATE_ADMIN_TOKEN: long enough, from a file too, and only with an admin listener', async () => {
  const config = await loadConfig({
    ...ENV,
    JWTGATE_ADMIN_PORT: '9090',
    JWTGATE_ADMIN_TOKEN: ADMIN,
  })
  assert.equal(config.admin?.token, ADMIN)
  const fromFile = await loadConfig(
    { ...ENV, JWTGATE_ADMIN_PORT: '9090', JWTGATE_ADMIN_TOKEN_FILE: '/t' },
    { readFile: () => `${ADMIN}\n` },
  )
  assert.equal(fromFile.admin?.token, ADMIN)
  assert.equal((await loadConfig({ ...ENV, JWTGATE_ADMIN_PORT: '9090' })).admin?.token, undefined)
  assert.deepEqual(
    await problems({ ...ENV, JWTGATE_ADMIN_PORT: '9090', JWTGATE_ADMIN_TOKEN: 'short' }),
    [
      'JWTGATE_ADMIN_TOKEN: must be at least 32 characters without spaces (e.g. openssl rand -hex 32)',
    ],
  )
  assert.deepEqual(await problems({ ...ENV, JWTGATE_ADMIN_TOKEN: ADMIN }), [
    'JWTGATE_ADMIN_TOKEN: needs an admin listener (JWTGATE_ADMIN_PORT)',
  ])
})
