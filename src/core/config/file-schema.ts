/**
 * @module The configuration file's schema: one valibot schema, free of transforms, so that
 * `jwtgate schema` can print it as JSON Schema for editors. It fills in the defaults (defaults.ts);
 * values are converted (durations, keys, patterns) when the validated file is compiled
 * (from-file.ts, merge.ts).
 */
import { isToken } from '../syntax.ts'
import * as v from 'valibot'
import { SUPPORTED_ALGS } from '../auth/keys.ts'
import type { ConditionInput, RequirementsInput } from '../auth/requirements.ts'
import { parseTokenSource } from '../auth/token.ts'
import { stripItemProblem } from '../proxy/headers.ts'
import { ALLOWED_METHODS } from '../routing/method.ts'
import { patternProblem } from '../routing/routes.ts'
import { stripPrefixProblem } from '../routing/rewrite.ts'
import { templateProblem } from '../routing/template.ts'
import { originPatternProblem } from '../cors.ts'
import { parseRateLimit } from '../rate-limit.ts'
import { parseLimitKey } from '../limits/policy.ts'
import { DEFAULTS } from './defaults.ts'
import {
  authPathProblem,
  callerProblem,
  checked,
  MAX_TIMER_MS,
  MAX_WORKERS,
  mediaType,
  parseDuration,
  parseSize,
  parseTimerDuration,
} from './values.ts'

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/

const Name = v.pipe(v.string(), v.regex(NAME, 'must be a name of letters, digits, "_", "." or "-"'))
const Duration = v.union(
  [
    v.pipe(v.number(), v.minValue(0), v.maxValue(MAX_TIMER_MS / 1000)),
    v.pipe(v.string(), v.check((s) => parseTimerDuration(s) !== undefined)),
  ],
  'must be a duration such as 500ms, 30s, 5m, or a number of seconds, up to 24 days',
)
/** A deadline: a Duration of at least 1 ms (at 0 every call would fail; 0.0004 s rounds to it). */
const Timeout = v.union(
  [
    v.pipe(v.number(), v.minValue(0.001), v.maxValue(MAX_TIMER_MS / 1000)),
    v.pipe(v.string(), v.check((s) => (parseTimerDuration(s) ?? 0) > 0)),
  ],
  'must be a duration above 0 such as 500ms, 30s, 5m, or a number of seconds, up to 24 days',
)
/** A duration no timer waits for (a token's lifetime): any length. */
const LongDuration = v.union(
  [
    v.pipe(v.number(), v.minValue(0)),
    v.pipe(v.string(), v.check((s) => parseDuration(s) !== undefined)),
  ],
  'must be a duration such as 12h, 720h, or a number of seconds',
)
const Integer = (min: number, max: number) =>
  v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max))
const Port = Integer(0, 65535)
const Url = v.pipe(v.string('must be a URL'), v.url('must be an absolute URL'))

/** A secret or key given inline, or read from an environment variable or a file at load time. */
const SecretRef = v.union(
  [v.string(), v.strictObject({ env: v.string() }), v.strictObject({ file: v.string() })],
  'must be a string, { "env": "NAME" } or { "file": "/path" }',
)

/** Issuers or audiences a token is checked against: an empty list would check nothing. */
const CheckedList = v.union(
  [
    v.pipe(v.string(), v.nonEmpty('is empty: give a value, or leave the key out (no check)')),
    v.pipe(
      v.array(v.pipe(v.string(), v.nonEmpty('is empty'))),
      v.nonEmpty('is an empty list: give a value, or leave the key out (no check)'),
    ),
  ],
  'must be a string or a non-empty list of strings',
)

const Provider = v.strictObject({
  issuer: v.optional(CheckedList),
  audience: v.optional(CheckedList),
  secret: v.optional(SecretRef),
  publicKey: v.optional(SecretRef),
  jwksUrl: v.optional(Url),
  oidcIssuer: v.optional(Url),
  jwksCooldown: v.optional(Duration, DEFAULTS.provider.jwksCooldown),
  jwksTimeout: v.optional(Timeout, DEFAULTS.provider.jwksTimeout),
  jwksMaxAge: v.optional(Duration, DEFAULTS.provider.jwksMaxAge),
  allowInsecureJwks: v.optional(v.boolean(), DEFAULTS.provider.allowInsecureJwks),
  algorithms: v.optional(
    v.array(v.picklist(SUPPORTED_ALGS, `must be one of ${SUPPORTED_ALGS.join(', ')}`)),
  ),
  clockSkew: v.optional(Integer(0, 3600), DEFAULTS.provider.clockSkew),
  requiredClaims: v.optional(v.array(v.string()), () => [...DEFAULTS.provider.requiredClaims]),
  requiredTyp: v.optional(mediaType),
  tokenSources: v.optional(
    v.array(
      v.pipe(
        v.string(),
        v.check(
          (s) => parseTokenSource(s) !== undefined,
          'must be header:Name, cookie:name or query:name',
        ),
      ),
    ),
    () => [...DEFAULTS.provider.tokenSources],
  ),
})

/**
 * A list that must name something: an empty one would be read as no check (`scopes.any: []`,
 * `roles.any: []`, `all: []`) — a template rendering an empty list would open the route — or,
 * for a named limit's `routes`/`providers`, as applying nowhere.
 */
function nonEmpty<T>(item: v.GenericSchema<T>, what: string, without = 'no check') {
  return v.pipe(
    v.array(item),
    v.minLength(1, `names no ${what}: give at least one, or leave the key out (${without})`),
  )
}

const RATE_TEXT =
  'must be requests per period, such as 100/1m or 10/1s (at most 100,000 a second, a period of at most a year)'
const RateText = v.pipe(
  v.string(RATE_TEXT),
  v.check((s) => parseRateLimit(s) !== undefined, RATE_TEXT),
)

const NamedRateLimit = v.strictObject({
  rate: RateText,
  burst: v.optional(Integer(1, 1_000_000_000)),
  key: v.optional(
    v.pipe(
      v.string(),
      v.check(
        (s) => parseLimitKey(s) !== undefined,
        'must be sub, address, claim:<claim path> or header:<Name>',
      ),
    ),
    DEFAULTS.rateLimit.key,
  ),
  // Empty, the limit would apply nowhere: leave the key out for every route and provider.
  routes: v.optional(nonEmpty(v.string(), 'route', 'every route')),
  providers: v.optional(nonEmpty(v.string(), 'provider', 'every provider')),
})

const Redis = v.strictObject({
  url: SecretRef,
  timeout: v.optional(Timeout, DEFAULTS.redis.timeout),
  onFailure: v.optional(
    v.picklist(['local', 'allow', 'deny'], 'must be local, allow or deny'),
    DEFAULTS.redis.onFailure,
  ),
  prefix: v.optional(v.string(), DEFAULTS.redis.prefix),
})

const Upstream = v.strictObject({
  url: v.string('must be a URL'),
  timeout: v.optional(Timeout, DEFAULTS.upstream.timeout),
})

const Scalar = v.union([v.string(), v.number(), v.boolean()])
const OPERATORS = ['equals', 'oneOf', 'contains', 'matches', 'all', 'any', 'not']

/** Why a claim condition is not one of the known shapes, for a precise message. */
function conditionProblem(input: unknown): string {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return 'must be an object such as { "claim": "tenant", "equals": "{params.tenant}" }'
  }
  const keys = Object.keys(input)
  const unknown = keys.filter((k) => k !== 'claim' && !OPERATORS.includes(k))
  if (unknown.length > 0) {
    return `unknown operator ${JSON.stringify(unknown[0])} (expected one of ${
      OPERATORS.join(', ')
    })`
  }
  const ops = keys.filter((k) => OPERATORS.includes(k))
  if (ops.length !== 1) return `must have exactly one operator (${OPERATORS.join(', ')})`
  const op = ops[0]!
  const combinator = op === 'all' || op === 'any' || op === 'not'
  if (combinator && keys.includes('claim')) {
    return `"${op}" combines conditions and takes no "claim"`
  }
  if (!combinator && typeof (input as { claim?: unknown }).claim !== 'string') {
    return `"${op}" needs a "claim" (a claim name or dot path)`
  }
  return `the value of "${op}" has the wrong type`
}

const validRegex = (s: string) => {
  try {
    new RegExp(s)
    return true
  } catch {
    return false
  }
}

const Condition: v.GenericSchema<ConditionInput> = v.lazy(() =>
  v.union(
    [
      v.strictObject({ claim: v.string(), equals: Scalar }),
      v.strictObject({ claim: v.string(), oneOf: v.array(Scalar) }),
      v.strictObject({ claim: v.string(), contains: Scalar }),
      v.strictObject({
        claim: v.string(),
        matches: v.pipe(v.string(), v.check(validRegex, 'is not a valid regular expression')),
      }),
      v.strictObject({ all: nonEmpty(Condition, 'condition') }),
      v.strictObject({ any: nonEmpty(Condition, 'condition') }),
      v.strictObject({ not: Condition }),
    ],
    (issue) => conditionProblem(issue.input),
  )
)

const Requirements: v.GenericSchema<RequirementsInput> = v.strictObject({
  scopes: v.optional(
    v.strictObject({
      all: v.optional(nonEmpty(v.string(), 'scope')),
      any: v.optional(nonEmpty(v.string(), 'scope')),
    }),
  ),
  roles: v.optional(
    v.strictObject({
      any: nonEmpty(v.string(), 'role'),
      claim: v.optional(v.string(), DEFAULTS.route.rolesClaim),
    }),
  ),
  claims: v.optional(v.array(Condition)),
})

const Route = v.strictObject({
  name: v.optional(Name),
  path: checked(patternProblem, 'is required: a path pattern such as /orders/:id or /files/*'),
  methods: v.optional(
    v.array(v.picklist(ALLOWED_METHODS, `must be one of ${ALLOWED_METHODS.join(', ')}`)),
  ),
  upstream: v.string('is required: the name of an upstream'),
  auth: v.optional(
    v.picklist(['required', 'optional', 'public'], 'must be required, optional or public'),
    DEFAULTS.route.auth,
  ),
  providers: v.optional(v.array(v.string())),
  stripPrefix: v.optional(checked(stripPrefixProblem)),
  rewrite: v.optional(checked((s) => templateProblem(s, true))),
  claimHeaders: v.optional(
    v.record(
      v.string(),
      v.union([
        v.pipe(v.string(), v.check(isToken, 'must be a header name')),
        v.strictObject({
          header: v.pipe(v.string(), v.check(isToken, 'must be a header name')),
          /** `text` (default): lists joined with `,`; `json`: the value as JSON, any shape. */
          as: v.optional(v.picklist(['text', 'json'])),
        }),
      ], 'must be a header name, or { header, as: text | json }'),
    ),
  ),
  require: v.optional(Requirements),
  /** Proxy WebSocket upgrades here (default: when the route authenticates). */
  websockets: v.optional(v.boolean()),
})

/** A size: bytes, or with a unit. */
const Size = v.union([
  v.pipe(v.number(), v.integer(), v.minValue(0)),
  v.pipe(v.string(), v.check((s) => parseSize(s) !== undefined)),
], 'must be a size in bytes, or with a unit: 512k, 10mb, 2g')
/** A cap on a message or a buffer: above 0 (at 0 nothing would pass). */
const PositiveSize = v.union([
  v.pipe(v.number(), v.integer(), v.minValue(1)),
  v.pipe(v.string(), v.check((s) => (parseSize(s) ?? 0) > 0)),
], 'must be a size above 0 in bytes, or with a unit: 512k, 10mb, 2g')

/** The whole file. Unknown keys are errors, so a typo never silently weakens a rule. */
export const FileSchema = v.strictObject({
  $schema: v.optional(v.string()),
  listen: v.optional(
    v.strictObject({
      host: v.optional(v.string(), DEFAULTS.listen.host),
      port: v.optional(Port, DEFAULTS.listen.port),
    }),
  ),
  trustedProxies: v.optional(Integer(0, 1000), DEFAULTS.trustedProxies),
  stripHeaders: v.optional(v.array(checked(stripItemProblem))),
  maxTokenBytes: v.optional(Integer(256, 65536), DEFAULTS.maxTokenBytes),
  forwardToken: v.optional(v.boolean(), DEFAULTS.forwardToken),
  debugHeaders: v.optional(v.boolean(), DEFAULTS.debugHeaders),
  watch: v.optional(v.boolean(), DEFAULTS.watch),
  log: v.optional(
    v.strictObject({
      level: v.optional(v.picklist(['debug', 'info', 'warn', 'error']), DEFAULTS.log.level),
      format: v.optional(v.picklist(['json', 'pretty']), DEFAULTS.log.format),
    }),
  ),
  admin: v.optional(
    v.strictObject({
      host: v.optional(v.string(), DEFAULTS.admin.host),
      port: Port,
      token: v.optional(SecretRef),
    }),
  ),
  revocations: v.optional(
    v.strictObject({
      file: v.optional(v.string()),
      strict: v.optional(v.boolean(), DEFAULTS.revocations.strict),
      maxTokenLifetime: v.optional(LongDuration, DEFAULTS.revocations.maxTokenLifetime),
      maxEntries: v.optional(Integer(1, 100_000_000), DEFAULTS.revocations.maxEntries),
    }),
  ),
  shutdownTimeout: v.optional(Duration, DEFAULTS.shutdownTimeout),
  mode: v.optional(v.picklist(['proxy', 'auth'], 'must be proxy or auth'), DEFAULTS.mode),
  forwardAuth: v.optional(
    v.strictObject({
      path: v.optional(checked(authPathProblem)),
      callers: v.optional(v.array(checked(callerProblem))),
      headers: v.optional(
        v.picklist(['original', 'forwarded', 'path'], 'must be original, forwarded or path'),
      ),
    }),
  ),
  workers: v.optional(
    v.union(
      [
        v.literal('auto'),
        v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_WORKERS)),
      ],
      `must be "auto" or a whole number from 1 to ${MAX_WORKERS}`,
    ),
    DEFAULTS.workers,
  ),
  tls: v.optional(
    v.strictObject({
      cert: v.string('is required: the certificate file (PEM)'),
      key: v.string('is required: the private key file (PEM)'),
    }),
  ),
  cors: v.optional(
    v.strictObject({
      origins: v.array(checked(originPatternProblem)),
      methods: v.optional(v.array(v.picklist(ALLOWED_METHODS)), () => [...DEFAULTS.cors.methods]),
      headers: v.optional(v.array(v.string()), () => [...DEFAULTS.cors.headers]),
      exposeHeaders: v.optional(
        v.array(checked((h) => (isToken(h) ? undefined : 'is not a header name'))),
        () => [...DEFAULTS.cors.exposeHeaders],
      ),
      credentials: v.optional(v.boolean(), DEFAULTS.cors.credentials),
      maxAge: v.optional(Duration, DEFAULTS.cors.maxAge),
    }),
  ),
  limits: v.optional(
    v.strictObject({
      maxHeaderBytes: v.optional(Integer(1024, 1_048_576), DEFAULTS.limits.maxHeaderBytes),
      maxBody: v.optional(Size),
      streamIdleTimeout: v.optional(Duration, DEFAULTS.limits.streamIdleTimeout),
    }),
  ),
  websockets: v.optional(
    v.strictObject({
      enabled: v.optional(v.boolean(), DEFAULTS.websockets.enabled),
      maxMessage: v.optional(PositiveSize, DEFAULTS.websockets.maxMessage),
      maxBuffered: v.optional(PositiveSize, DEFAULTS.websockets.maxBuffered),
      idleTimeout: v.optional(Duration, DEFAULTS.websockets.idleTimeout),
      maxConnections: v.optional(
        Integer(1, 10_000_000),
        DEFAULTS.websockets.maxConnections,
      ),
      expiryGrace: v.optional(Duration, DEFAULTS.websockets.expiryGrace),
    }),
  ),
  tokenCache: v.optional(
    v.strictObject({
      size: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), DEFAULTS.tokenCache.size),
      maxAge: v.optional(Duration, DEFAULTS.tokenCache.maxAge),
    }),
  ),
  rateLimit: v.optional(RateText),
  rateLimits: v.optional(v.record(Name, NamedRateLimit)),
  redis: v.optional(Redis),
  providers: v.optional(v.record(Name, Provider)),
  upstreams: v.optional(v.record(Name, Upstream)),
  routes: v.optional(v.array(Route)),
})

/**
 * The file when it guards a handler in the same process (`loadConfig(env, { local: true })`):
 * routes name no upstream. (`jwtgate schema` prints FileSchema: the binary always proxies.)
 */
export const LocalFileSchema = v.strictObject({
  ...FileSchema.entries,
  routes: v.optional(
    v.array(v.strictObject({ ...Route.entries, upstream: v.optional(v.string()) })),
  ),
})

export type FileConfig = v.InferOutput<typeof LocalFileSchema>

export type ProviderInput = v.InferOutput<typeof Provider>
export type RedisInput = v.InferOutput<typeof Redis>
/** A route as read, its upstream absent only in a local file (LocalFileSchema). */
export type RouteInput = NonNullable<FileConfig['routes']>[number]
export type SecretRefInput = v.InferOutput<typeof SecretRef>
