/**
 * @module The configuration file's schema: one valibot schema, free of transforms, so that
 * `jwtgate schema` can print it as JSON Schema for editors. Values are converted (durations, keys,
 * patterns) when the validated file is compiled (compile.ts).
 */
import { isToken } from '../syntax.ts'
import * as v from 'valibot'
import { SUPPORTED_ALGS } from '../auth/keys.ts'
import { parseTokenSource } from '../auth/token.ts'
import { stripItemProblem } from '../proxy/headers.ts'
import { ALLOWED_METHODS } from '../routing/method.ts'
import { patternProblem } from '../routing/routes.ts'
import { templateProblem } from '../routing/template.ts'
import { originPatternProblem } from '../cors.ts'
import { parseRateLimit } from '../rate-limit.ts'
import { parseDuration, parseSize } from './values.ts'

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/

const Name = v.pipe(v.string(), v.regex(NAME, 'must be a name of letters, digits, "_", "." or "-"'))
const Duration = v.union(
  [
    v.pipe(v.number(), v.minValue(0)),
    v.pipe(v.string(), v.check((s) => parseDuration(s) !== undefined)),
  ],
  'must be a duration such as 500ms, 30s, 5m, or a number of seconds',
)
const StringList = v.union(
  [v.string(), v.array(v.string())],
  'must be a string or a list of strings',
)
const Url = v.pipe(v.string('must be a URL'), v.url('must be an absolute URL'))

/** A secret or key given inline, or read from an environment variable or a file at load time. */
const SecretRef = v.union(
  [v.string(), v.strictObject({ env: v.string() }), v.strictObject({ file: v.string() })],
  'must be a string, { "env": "NAME" } or { "file": "/path" }',
)

const Provider = v.strictObject({
  issuer: v.optional(StringList),
  audience: v.optional(StringList),
  secret: v.optional(SecretRef),
  publicKey: v.optional(SecretRef),
  jwksUrl: v.optional(Url),
  oidcIssuer: v.optional(Url),
  jwksCooldown: v.optional(Duration),
  jwksTimeout: v.optional(Duration),
  jwksMaxAge: v.optional(Duration),
  allowInsecureJwks: v.optional(v.boolean()),
  algorithms: v.optional(
    v.array(v.picklist(SUPPORTED_ALGS, `must be one of ${SUPPORTED_ALGS.join(', ')}`)),
  ),
  clockSkew: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(3600))),
  requiredClaims: v.optional(v.array(v.string())),
  requiredTyp: v.optional(v.string()),
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
  ),
})

const Upstream = v.strictObject({
  url: v.string('must be a URL'),
  timeout: v.optional(Duration),
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

export type ConditionInput =
  | { claim: string; equals: string | number | boolean }
  | { claim: string; oneOf: (string | number | boolean)[] }
  | { claim: string; contains: string | number | boolean }
  | { claim: string; matches: string }
  | { all: ConditionInput[] }
  | { any: ConditionInput[] }
  | { not: ConditionInput }

const validRegex = (s: string) => {
  try {
    new RegExp(s)
    return true
  } catch {
    return false
  }
}

export const Condition: v.GenericSchema<ConditionInput> = v.lazy(() =>
  v.union(
    [
      v.strictObject({ claim: v.string(), equals: Scalar }),
      v.strictObject({ claim: v.string(), oneOf: v.array(Scalar) }),
      v.strictObject({ claim: v.string(), contains: Scalar }),
      v.strictObject({
        claim: v.string(),
        matches: v.pipe(v.string(), v.check(validRegex, 'is not a valid regular expression')),
      }),
      v.strictObject({ all: v.array(Condition) }),
      v.strictObject({ any: v.array(Condition) }),
      v.strictObject({ not: Condition }),
    ],
    (issue) => conditionProblem(issue.input),
  )
)

const Requirements = v.strictObject({
  scopes: v.optional(
    v.strictObject({ all: v.optional(v.array(v.string())), any: v.optional(v.array(v.string())) }),
  ),
  roles: v.optional(v.strictObject({ any: v.array(v.string()), claim: v.optional(v.string()) })),
  claims: v.optional(v.array(Condition)),
})

const Route = v.strictObject({
  name: v.optional(Name),
  path: v.pipe(
    v.string('is required: a path pattern such as /orders/:id or /files/*'),
    v.rawCheck(({ dataset, addIssue }) => {
      const problem = dataset.typed ? patternProblem(dataset.value) : undefined
      if (problem !== undefined) addIssue({ message: problem })
    }),
  ),
  methods: v.optional(
    v.array(v.picklist(ALLOWED_METHODS, `must be one of ${ALLOWED_METHODS.join(', ')}`)),
  ),
  upstream: v.string('is required: the name of an upstream'),
  auth: v.optional(
    v.picklist(['required', 'optional', 'public'], 'must be required, optional or public'),
  ),
  providers: v.optional(v.array(v.string())),
  stripPrefix: v.optional(v.pipe(v.string(), v.startsWith('/', 'must start with /'))),
  rewrite: v.optional(v.pipe(
    v.string(),
    v.rawCheck(({ dataset, addIssue }) => {
      const problem = dataset.typed ? templateProblem(dataset.value, true) : undefined
      if (problem !== undefined) addIssue({ message: problem })
    }),
  )),
  claimHeaders: v.optional(
    v.record(v.string(), v.pipe(v.string(), v.check(isToken, 'must be a header name'))),
  ),
  require: v.optional(Requirements),
})

/** The whole file. Unknown keys are errors, so a typo never silently weakens a rule. */
export const FileSchema = v.strictObject({
  $schema: v.optional(v.string()),
  listen: v.optional(
    v.strictObject({
      host: v.optional(v.string()),
      port: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(65535))),
    }),
  ),
  trustedProxies: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(1000))),
  stripHeaders: v.optional(v.array(v.pipe(
    v.string(),
    v.rawCheck(({ dataset, addIssue }) => {
      const problem = dataset.typed ? stripItemProblem(dataset.value) : undefined
      if (problem !== undefined) addIssue({ message: problem })
    }),
  ))),
  maxTokenBytes: v.optional(v.pipe(v.number(), v.integer(), v.minValue(256), v.maxValue(65536))),
  forwardToken: v.optional(v.boolean()),
  debugHeaders: v.optional(v.boolean()),
  watch: v.optional(v.boolean()),
  log: v.optional(
    v.strictObject({
      level: v.optional(v.picklist(['debug', 'info', 'warn', 'error'])),
      format: v.optional(v.picklist(['json', 'pretty'])),
    }),
  ),
  admin: v.optional(
    v.strictObject({
      host: v.optional(v.string()),
      port: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(65535)),
    }),
  ),
  shutdownTimeout: v.optional(Duration),
  tls: v.optional(
    v.strictObject({
      cert: v.string('is required: the certificate file (PEM)'),
      key: v.string('is required: the private key file (PEM)'),
    }),
  ),
  cors: v.optional(
    v.strictObject({
      origins: v.array(v.pipe(
        v.string(),
        v.rawCheck(({ dataset, addIssue }) => {
          const problem = dataset.typed ? originPatternProblem(dataset.value) : undefined
          if (problem !== undefined) addIssue({ message: problem })
        }),
      )),
      methods: v.optional(v.array(v.picklist(ALLOWED_METHODS))),
      headers: v.optional(v.array(v.string())),
      credentials: v.optional(v.boolean()),
      maxAge: v.optional(Duration),
    }),
  ),
  limits: v.optional(
    v.strictObject({
      maxHeaderBytes: v.optional(
        v.pipe(v.number(), v.integer(), v.minValue(1024), v.maxValue(1_048_576)),
      ),
      maxBody: v.optional(
        v.union([
          v.pipe(v.number(), v.integer(), v.minValue(0)),
          v.pipe(v.string(), v.check((s) => parseSize(s) !== undefined)),
        ], 'must be a size in bytes, or with a unit: 512k, 10mb, 2g'),
      ),
      streamIdleTimeout: v.optional(Duration),
    }),
  ),
  tokenCache: v.optional(
    v.strictObject({
      size: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
      maxAge: v.optional(Duration),
    }),
  ),
  rateLimit: v.optional(
    v.pipe(
      v.string(),
      v.check(
        (s) => parseRateLimit(s) !== undefined,
        'must be requests per period, such as 100/1m or 10/1s',
      ),
    ),
  ),
  providers: v.optional(v.record(Name, Provider)),
  upstreams: v.optional(v.record(Name, Upstream)),
  routes: v.optional(v.array(Route)),
})

export type FileConfig = v.InferOutput<typeof FileSchema>
export type ProviderInput = v.InferOutput<typeof Provider>
export type RouteInput = v.InferOutput<typeof Route>
export type SecretRefInput = v.InferOutput<typeof SecretRef>
export type DurationInput = v.InferOutput<typeof Duration>
