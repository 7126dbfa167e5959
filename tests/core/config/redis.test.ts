import assert from 'node:assert/strict'
import { loadConfig } from '../../../src/core/config/load.ts'
import { describeRedis, redisUrlProblem } from '../../../src/core/config/redis.ts'
import { ConfigError } from '../../../src/core/errors.ts'
import { test } from '../../helpers/t.ts'

const ENV = { JWTGATE_UPSTREAM: 'http://127.0.0.1:1', JWTGATE_SECRET: 'k'.repeat(40) }
const FILE = `
providers: { main: { secret: "${'k'.repeat(40)}" } }
upstreams: { api: { url: "http://a" } }
routes: [{ path: /b, upstream: api }]
`

async function problems(env: Record<string, string>, text = FILE): Promise<string[]> {
  const err = await loadConfig(env, {
    readFile: (p) => (p === '/c.yaml' ? text : 'redis://file-host:6379'),
  })
    .catch((e) => e)
  assert.ok(err instanceof ConfigError, String(err))
  return err.issues.map((i) => `${i.path}: ${i.message}`)
}

test('JWTGATE_REDIS_*: off by default; a URL turns it on with a 50 ms deadline and local fallback', async () => {
  assert.equal((await loadConfig(ENV)).redis, undefined)
  const config = await loadConfig({ ...ENV, JWTGATE_REDIS_URL: 'redis://:pw@127.0.0.1:6379/2' })
  assert.deepEqual(config.redis, {
    url: 'redis://:pw@127.0.0.1:6379/2',
    timeoutMs: 50,
    onFailure: 'local',
    prefix: 'jwtgate:',
  })
  const other = await loadConfig({
    ...ENV,
    JWTGATE_REDIS_URL_FILE: '/secret',
    JWTGATE_REDIS_TIMEOUT: '20ms',
    JWTGATE_REDIS_ON_FAILURE: 'deny',
  }, { readFile: () => 'rediss://u:p@cache:6380\n' })
  assert.equal(other.redis?.url, 'rediss://u:p@cache:6380')
  assert.equal(other.redis?.timeoutMs, 20)
  assert.equal(other.redis?.onFailure, 'deny')
})

test('redis: in the file, its URL a secret reference; a variable wins', async () => {
  const text = `${FILE}\nredis: { url: { env: REDIS_URL }, timeout: 30ms, onFailure: allow }\n`
  const config = await loadConfig(
    { JWTGATE_CONFIG: '/c.yaml', REDIS_URL: 'redis://r:6379' },
    { readFile: () => text },
  )
  assert.deepEqual(config.redis, {
    url: 'redis://r:6379',
    timeoutMs: 30,
    onFailure: 'allow',
    prefix: 'jwtgate:',
  })
  const over = await loadConfig(
    { JWTGATE_CONFIG: '/c.yaml', REDIS_URL: 'redis://r:6379', JWTGATE_REDIS_TIMEOUT: '10ms' },
    { readFile: () => text },
  )
  assert.equal(over.redis?.timeoutMs, 10)
})

test('JWTGATE_REDIS_*: bad values, each at its place', async () => {
  assert.deepEqual(
    await problems({
      ...ENV,
      JWTGATE_REDIS_URL: 'http://x',
      JWTGATE_REDIS_TIMEOUT: '10s',
      JWTGATE_REDIS_ON_FAILURE: 'open',
    }),
    [
      'JWTGATE_REDIS_URL: must start with redis:// or rediss:// (TLS)',
      'JWTGATE_REDIS_ON_FAILURE: must be local, allow or deny',
    ],
  )
  assert.deepEqual(
    await problems({ ...ENV, JWTGATE_REDIS_URL: 'redis://x', JWTGATE_REDIS_TIMEOUT: '10s' }),
    ['JWTGATE_REDIS_TIMEOUT: must be from 1ms to 5s'],
  )
  assert.deepEqual(
    await problems({ JWTGATE_CONFIG: '/c.yaml' }, `${FILE}\nredis: { url: "redis://x/db" }\n`),
    ['redis.url: the path must be a database number, such as /0'],
  )
})

test('redisUrlProblem() and describeRedis(): credentials never shown', () => {
  assert.equal(redisUrlProblem('redis://127.0.0.1:6379'), undefined)
  assert.equal(redisUrlProblem('rediss://user:pw@h:6380/15'), undefined)
  assert.match(redisUrlProblem('not a url')!, /must be a URL/)
  assert.equal(describeRedis('rediss://user:secret@h:6380/3'), 'rediss://h:6380/3')
  assert.equal(describeRedis('redis://:secret@h'), 'redis://h')
})
