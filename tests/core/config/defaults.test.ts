import assert from 'node:assert/strict'
import { toJsonSchema } from '@valibot/to-json-schema'
import * as v from 'valibot'
import { DEFAULTS, defaultText } from '../../../src/core/config/defaults.ts'
import { FileSchema } from '../../../src/core/config/file-schema.ts'
import { type Config, loadConfig } from '../../../src/core/config/load.ts'
import { parseDuration } from '../../../src/core/config/values.ts'
import { test } from '../../helpers/t.ts'

const SECRET = 'k'.repeat(40)
const ms = (text: string) => parseDuration(text)!

function fromEnv(extra: Record<string, string> = {}): Promise<Config> {
  return loadConfig({ JWTGATE_UPSTREAM: 'http://a', JWTGATE_SECRET: SECRET, ...extra })
}

function fromFile(extra = ''): Promise<Config> {
  const text = `providers: { p: { secret: "${SECRET}" } }
upstreams: { a: { url: "http://a" } }
routes: [{ path: /*, upstream: a, require: { roles: { any: [r] } } }]
${extra}`
  return loadConfig({ JWTGATE_CONFIG: '/c.yaml' }, { readFile: () => text })
}

/** What either source leaves to the defaults. */
function defaulted(c: Config) {
  const p = c.providers[0]!
  return {
    host: c.host,
    port: c.port,
    trustedProxies: c.trustedProxies,
    maxTokenBytes: c.maxTokenBytes,
    forwardToken: c.forwardToken,
    debugHeaders: c.debugHeaders,
    stripHeaders: c.stripHeaders,
    log: c.log,
    admin: c.admin,
    shutdownTimeoutMs: c.shutdownTimeoutMs,
    cors: c.cors,
    limits: c.limits,
    websockets: c.websockets,
    rateLimit: c.rateLimit,
    rateLimits: c.rateLimits,
    redis: c.redis,
    revocations: c.revocations,
    tokenCache: c.tokenCache,
    keys: { ...p.keys, local: undefined },
    verify: { ...p.verify, issuers: undefined },
    tokenSources: p.tokenSources,
    upstreamTimeoutMs: c.upstreams[0]!.timeoutMs,
    auth: c.routes.at(-1)!.auth,
    rolesClaim: c.routes.at(-1)!.require.rolesClaim,
  }
}

test('the environment and the file get the same defaults, the ones in the table', async () => {
  const env = defaulted(await fromEnv())
  assert.deepEqual(defaulted(await fromFile()), env)
  assert.deepEqual(env, {
    ...env,
    host: DEFAULTS.listen.host,
    port: DEFAULTS.listen.port,
    trustedProxies: DEFAULTS.trustedProxies,
    maxTokenBytes: DEFAULTS.maxTokenBytes,
    forwardToken: DEFAULTS.forwardToken,
    debugHeaders: DEFAULTS.debugHeaders,
    log: DEFAULTS.log,
    admin: undefined,
    shutdownTimeoutMs: ms(DEFAULTS.shutdownTimeout),
    cors: undefined,
    limits: {
      maxHeaderBytes: DEFAULTS.limits.maxHeaderBytes,
      maxBodyBytes: undefined,
      streamIdleMs: ms(DEFAULTS.limits.streamIdleTimeout),
    },
    websockets: {
      enabled: DEFAULTS.websockets.enabled,
      maxMessageBytes: 1024 * 1024,
      maxBufferedBytes: 4 * 1024 * 1024,
      idleTimeoutSec: ms(DEFAULTS.websockets.idleTimeout) / 1000,
      maxConnections: DEFAULTS.websockets.maxConnections,
      expiryGraceMs: ms(DEFAULTS.websockets.expiryGrace),
    },
    rateLimit: undefined,
    rateLimits: [],
    redis: undefined,
    revocations: {
      file: undefined,
      strict: DEFAULTS.revocations.strict,
      maxTokenLifetimeSec: ms(DEFAULTS.revocations.maxTokenLifetime) / 1000,
      maxEntries: DEFAULTS.revocations.maxEntries,
      beforeMarginSec: DEFAULTS.provider.clockSkew,
    },
    tokenCache: { size: DEFAULTS.tokenCache.size, maxAgeMs: ms(DEFAULTS.tokenCache.maxAge) },
    upstreamTimeoutMs: ms(DEFAULTS.upstream.timeout),
    auth: DEFAULTS.route.auth,
  })
  assert.equal(env.keys.cooldownMs, ms(DEFAULTS.provider.jwksCooldown))
  assert.equal(env.keys.timeoutMs, ms(DEFAULTS.provider.jwksTimeout))
  assert.equal(env.keys.maxAgeMs, ms(DEFAULTS.provider.jwksMaxAge))
  assert.equal(env.keys.allowInsecure, DEFAULTS.provider.allowInsecureJwks)
  assert.equal(env.verify.clockSkewSec, DEFAULTS.provider.clockSkew)
  assert.deepEqual(env.verify.requiredClaims, DEFAULTS.provider.requiredClaims)
  assert.deepEqual(env.tokenSources, [{ kind: 'authorization' }, {
    kind: 'protocol',
    name: 'bearer',
  }])
  assert.equal(env.rolesClaim.raw, DEFAULTS.route.rolesClaim)
})

test('sections the file opens take the same defaults as their variables', async () => {
  const env = await fromEnv({ JWTGATE_CORS_ORIGINS: 'https://a.test', JWTGATE_ADMIN_PORT: '9100' })
  const file = await fromFile(
    'cors: { origins: [https://a.test] }\nadmin: { port: 9100 }\nlog: { level: warn }\n',
  )
  assert.deepEqual(file.cors, env.cors)
  assert.deepEqual(env.cors, {
    origins: ['https://a.test'],
    methods: DEFAULTS.cors.methods,
    headers: DEFAULTS.cors.headers,
    exposeHeaders: DEFAULTS.cors.exposeHeaders,
    credentials: DEFAULTS.cors.credentials,
    maxAgeSec: ms(DEFAULTS.cors.maxAge) / 1000,
  })
  assert.deepEqual(file.admin, env.admin)
  assert.deepEqual(env.admin, { host: DEFAULTS.admin.host, port: 9100, token: undefined })
  // Redis: the file's section and the variable give the same settings.
  const redisEnv = await fromEnv({ JWTGATE_REDIS_URL: 'redis://r:6379' })
  const redisFile = await fromFile('redis: { url: "redis://r:6379" }\n')
  assert.deepEqual(redisFile.redis, redisEnv.redis)
  assert.deepEqual(redisEnv.redis, {
    url: 'redis://r:6379',
    timeoutMs: ms(DEFAULTS.redis.timeout),
    onFailure: DEFAULTS.redis.onFailure,
    prefix: DEFAULTS.redis.prefix,
  })
  assert.deepEqual(file.log, { level: 'warn', format: DEFAULTS.log.format })
})

test('the file schema fills the defaults in, and shows them in the JSON Schema', () => {
  const file = v.parse(FileSchema, {
    providers: { p: {} },
    upstreams: { a: { url: 'http://a' } },
    routes: [{ path: '/*', upstream: 'a', require: { roles: { any: ['r'] } } }],
  })
  assert.deepEqual(file.providers!.p, {
    jwksCooldown: DEFAULTS.provider.jwksCooldown,
    jwksTimeout: DEFAULTS.provider.jwksTimeout,
    jwksMaxAge: DEFAULTS.provider.jwksMaxAge,
    allowInsecureJwks: DEFAULTS.provider.allowInsecureJwks,
    clockSkew: DEFAULTS.provider.clockSkew,
    requiredClaims: DEFAULTS.provider.requiredClaims,
    tokenSources: DEFAULTS.provider.tokenSources,
  })
  assert.equal(file.routes![0]!.auth, DEFAULTS.route.auth)
  assert.equal(file.routes![0]!.require!.roles!.claim, DEFAULTS.route.rolesClaim)
  // deno-lint-ignore no-explicit-any -- walking a JSON Schema document
  const schema = toJsonSchema(FileSchema, { errorMode: 'ignore' }) as any
  assert.equal(schema.properties.listen.properties.port.default, DEFAULTS.listen.port)
  assert.equal(
    schema.properties.providers.additionalProperties.properties.jwksCooldown.default,
    DEFAULTS.provider.jwksCooldown,
  )
})

test('defaultText() writes a default as its variable would', () => {
  assert.equal(defaultText(8080), '8080')
  assert.equal(defaultText(false), 'false')
  assert.equal(defaultText('30s'), '30s')
  assert.equal(defaultText(['GET', 'HEAD']), 'GET,HEAD')
})
