/**
 * @module The configuration schema: one valibot schema over the `JWTGATE_*` variables, turning
 * their strings into typed values (defaults from defaults.ts). Every issue's path is the
 * variable's name.
 */
import * as v from 'valibot'
import { SUPPORTED_ALGS } from '../auth/keys.ts'
import { parseTokenSource, type TokenSource } from '../auth/token.ts'
import type { ConfigIssue } from '../errors.ts'
import { parseStripHeaders, stripItemProblem } from '../proxy/headers.ts'
import { upstreamBaseProblem } from '../proxy/url.ts'
import { ALLOWED_METHODS } from '../routing/method.ts'
import { patternProblem } from '../routing/routes.ts'
import { originPatternProblem } from '../cors.ts'
import { parseRateLimit } from '../rate-limit.ts'
import { parseClaimHeaders } from './claim-headers.ts'
import { isToken } from '../syntax.ts'
import { redisUrlProblem } from './redis.ts'
import { DEFAULTS, defaultText as text } from './defaults.ts'
import { decodeSecret, INVALID_BASE64 } from './secrets.ts'
import {
  authPathProblem,
  boolean,
  callerProblem,
  checked,
  checkedList,
  count,
  duration,
  longDuration,
  MAX_WORKERS,
  mediaType,
  orMessage,
  parsed,
  parseInteger,
  parseList,
  parseWorkers,
  port,
  positiveSize,
  shown,
  size,
  timeout,
} from './values.ts'

function parseSources(text: string): TokenSource[] | undefined {
  const list = parseList(text)
  const out: TokenSource[] = []
  for (const spec of list) {
    const source = parseTokenSource(spec)
    if (source === undefined) return undefined
    out.push(source)
  }
  return out.length > 0 ? out : undefined
}

function parseAlgorithms(text: string): string[] | string {
  const algs = parseList(text, true)
  for (const alg of algs) {
    if (alg.toLowerCase() === 'none') return '"none" is never allowed'
    if (!SUPPORTED_ALGS.includes(alg)) {
      return `unknown algorithm ${shown(alg)}; supported: ${SUPPORTED_ALGS.join(', ')}`
    }
  }
  return algs.length > 0 ? algs : 'expected at least one algorithm'
}

const list = v.pipe(v.string(), v.transform((s: string) => parseList(s)))
/**
 * A list whose items are checked against a token (issuers, audiences): empty means no check, so
 * a value that names nothing (`,`) is refused rather than read as empty; a blank one is unset.
 */
const NAMES_NOTHING =
  'names nothing (only commas or spaces): give a value, or leave the variable out (no check)'
const claimList = v.pipe(
  v.string(),
  v.check((s: string) => s.trim() === '' || parseList(s).length > 0, NAMES_NOTHING),
  v.transform((s: string) => parseList(s)),
)
const spacedList = v.pipe(
  v.string(),
  v.check((s: string) => s.trim() === '' || parseList(s, true).length > 0, NAMES_NOTHING),
  v.transform((s: string) => parseList(s, true)),
)

/** The schema over the environment; keys are variable names, so issue paths name them. */
const EnvSchema = v.object({
  JWTGATE_CONFIG: v.optional(v.string()),
  JWTGATE_DEBUG_HEADERS: v.optional(boolean, text(DEFAULTS.debugHeaders)),
  JWTGATE_UPSTREAM: v.optional(checked(upstreamBaseProblem)),
  JWTGATE_HOST: v.optional(v.string(), DEFAULTS.listen.host),
  JWTGATE_PORT: v.optional(port, text(DEFAULTS.listen.port)),
  JWTGATE_SECRET: v.optional(parsed(decodeSecret, INVALID_BASE64, true)),
  JWTGATE_PUBLIC_KEY: v.optional(v.string()),
  JWTGATE_JWKS_URL: v.optional(
    v.pipe(
      v.string(),
      v.url('must be an absolute URL, e.g. https://idp.example.com/.well-known/jwks.json'),
    ),
  ),
  JWTGATE_OIDC_ISSUER: v.optional(
    v.pipe(v.string(), v.url('must be the issuer URL, e.g. https://idp.example.com/realms/main')),
  ),
  JWTGATE_JWKS_COOLDOWN: v.optional(duration, DEFAULTS.provider.jwksCooldown),
  JWTGATE_JWKS_TIMEOUT: v.optional(timeout, DEFAULTS.provider.jwksTimeout),
  JWTGATE_JWKS_MAX_AGE: v.optional(duration, DEFAULTS.provider.jwksMaxAge),
  JWTGATE_ALLOW_INSECURE_JWKS: v.optional(boolean, text(DEFAULTS.provider.allowInsecureJwks)),
  JWTGATE_ISSUER: v.optional(claimList, ''),
  JWTGATE_AUDIENCE: v.optional(claimList, ''),
  JWTGATE_ALGORITHMS: v.optional(orMessage(parseAlgorithms)),
  JWTGATE_CLOCK_SKEW: v.optional(
    parsed((t) => parseInteger(t, 0, 3600), 'must be a whole number of seconds from 0 to 3600'),
    text(DEFAULTS.provider.clockSkew),
  ),
  JWTGATE_REQUIRED_CLAIMS: v.optional(
    v.pipe(v.string(), v.transform((s: string) => (s.trim() === 'none' ? [] : parseList(s)))),
    text(DEFAULTS.provider.requiredClaims),
  ),
  JWTGATE_REQUIRED_TYP: v.optional(mediaType),
  JWTGATE_TOKEN_SOURCES: v.optional(
    parsed(
      parseSources,
      'must be a comma-separated list of header:Authorization, header:X-Name, cookie:name or query:name',
    ),
    text(DEFAULTS.provider.tokenSources),
  ),
  JWTGATE_MAX_TOKEN_BYTES: v.optional(
    parsed((t) => parseInteger(t, 256, 65536), 'must be a whole number of bytes from 256 to 65536'),
    text(DEFAULTS.maxTokenBytes),
  ),
  JWTGATE_PUBLIC_PATHS: v.optional(
    orMessage((s) => {
      const patterns = parseList(s)
      for (const p of patterns) {
        const problem = patternProblem(p)
        if (problem !== undefined) return `${shown(p)}: ${problem}`
      }
      return patterns
    }),
    '',
  ),
  JWTGATE_REQUIRED_SCOPES: v.optional(spacedList, ''),
  JWTGATE_REQUIRED_ROLES: v.optional(spacedList, ''),
  JWTGATE_ROLES_CLAIM: v.optional(v.string(), DEFAULTS.route.rolesClaim),
  JWTGATE_FORWARD_CLAIMS: v.optional(orMessage(parseClaimHeaders)),
  JWTGATE_FORWARD_TOKEN: v.optional(boolean, text(DEFAULTS.forwardToken)),
  JWTGATE_UPSTREAM_TIMEOUT: v.optional(timeout, DEFAULTS.upstream.timeout),
  JWTGATE_TRUSTED_PROXIES: v.optional(count, text(DEFAULTS.trustedProxies)),
  JWTGATE_STRIP_HEADERS: v.optional(
    orMessage((s) => {
      const items = parseList(s)
      for (const item of items) {
        const problem = stripItemProblem(item)
        if (problem !== undefined) return problem
      }
      return parseStripHeaders(items)
    }),
    '',
  ),
  JWTGATE_ADMIN_HOST: v.optional(v.string(), DEFAULTS.admin.host),
  JWTGATE_ADMIN_PORT: v.optional(port),
  JWTGATE_MODE: v.optional(
    v.picklist(['proxy', 'auth'], 'must be proxy or auth'),
    DEFAULTS.mode,
  ),
  JWTGATE_AUTH_PATH: v.optional(checked(authPathProblem)),
  JWTGATE_AUTH_CALLERS: v.optional(checkedList(callerProblem)),
  JWTGATE_AUTH_HEADERS: v.optional(
    v.picklist(['original', 'forwarded', 'path'], 'must be original, forwarded or path'),
  ),
  JWTGATE_ADMIN_TOKEN: v.optional(v.string()),
  JWTGATE_REVOCATIONS_FILE: v.optional(v.string()),
  JWTGATE_REVOCATIONS_STRICT: v.optional(boolean, text(DEFAULTS.revocations.strict)),
  JWTGATE_REVOCATIONS_MAX_TOKEN_LIFETIME: v.optional(
    longDuration,
    DEFAULTS.revocations.maxTokenLifetime,
  ),
  JWTGATE_SHUTDOWN_TIMEOUT: v.optional(duration, DEFAULTS.shutdownTimeout),
  JWTGATE_WORKERS: v.optional(
    parsed(parseWorkers, `must be auto or a whole number from 1 to ${MAX_WORKERS}`),
    DEFAULTS.workers,
  ),
  JWTGATE_TLS_CERT: v.optional(v.string()),
  JWTGATE_TLS_KEY: v.optional(v.string()),
  JWTGATE_CORS_ORIGINS: v.optional(checkedList(originPatternProblem)),
  JWTGATE_CORS_METHODS: v.optional(
    checkedList((m) =>
      ALLOWED_METHODS.includes(m)
        ? undefined
        : `${shown(m)} is not a method a preflight asks for: use ${ALLOWED_METHODS.join(', ')}`
    ),
    text(DEFAULTS.cors.methods),
  ),
  JWTGATE_CORS_HEADERS: v.optional(list, text(DEFAULTS.cors.headers)),
  JWTGATE_CORS_EXPOSE_HEADERS: v.optional(
    checkedList((h) => (isToken(h) ? undefined : `${shown(h)} is not a header name`)),
    '',
  ),
  JWTGATE_CORS_CREDENTIALS: v.optional(boolean, text(DEFAULTS.cors.credentials)),
  JWTGATE_CORS_MAX_AGE: v.optional(duration, DEFAULTS.cors.maxAge),
  JWTGATE_MAX_HEADER_BYTES: v.optional(
    parsed(
      (t) => parseInteger(t, 1024, 1_048_576),
      'must be a whole number of bytes from 1024 to 1048576',
    ),
    text(DEFAULTS.limits.maxHeaderBytes),
  ),
  JWTGATE_MAX_BODY: v.optional(size),
  JWTGATE_STREAM_IDLE_TIMEOUT: v.optional(duration, DEFAULTS.limits.streamIdleTimeout),
  JWTGATE_WEBSOCKETS: v.optional(boolean, text(DEFAULTS.websockets.enabled)),
  JWTGATE_WEBSOCKET_MAX_MESSAGE: v.optional(positiveSize, DEFAULTS.websockets.maxMessage),
  JWTGATE_WEBSOCKET_MAX_BUFFERED: v.optional(positiveSize, DEFAULTS.websockets.maxBuffered),
  JWTGATE_WEBSOCKET_IDLE_TIMEOUT: v.optional(duration, DEFAULTS.websockets.idleTimeout),
  JWTGATE_WEBSOCKET_MAX_CONNECTIONS: v.optional(
    parsed(
      (t) => parseInteger(t, 1, 10_000_000),
      'must be a whole number of connections from 1',
    ),
    text(DEFAULTS.websockets.maxConnections),
  ),
  JWTGATE_WEBSOCKET_EXPIRY_GRACE: v.optional(duration, DEFAULTS.websockets.expiryGrace),
  JWTGATE_RATE_LIMIT: v.optional(
    parsed(
      parseRateLimit,
      'must be requests per period, such as 100/1m or 10/1s (at most 100,000 a second, a period of at most a year)',
    ),
  ),
  JWTGATE_REDIS_URL: v.optional(checked(redisUrlProblem)),
  JWTGATE_REDIS_TIMEOUT: v.optional(timeout, DEFAULTS.redis.timeout),
  JWTGATE_REDIS_ON_FAILURE: v.optional(
    v.picklist(['local', 'allow', 'deny'], 'must be local, allow or deny'),
    DEFAULTS.redis.onFailure,
  ),
  JWTGATE_REDIS_PREFIX: v.optional(v.string(), DEFAULTS.redis.prefix),
  JWTGATE_TOKEN_CACHE_SIZE: v.optional(
    parsed(
      (t) => parseInteger(t, 0, 10_000_000),
      'must be a whole number of entries (0 turns the cache off)',
    ),
    text(DEFAULTS.tokenCache.size),
  ),
  JWTGATE_TOKEN_CACHE_TTL: v.optional(duration, DEFAULTS.tokenCache.maxAge),
  JWTGATE_LOG_LEVEL: v.optional(
    v.picklist(['debug', 'info', 'warn', 'error'], 'must be one of debug, info, warn, error'),
    DEFAULTS.log.level,
  ),
  JWTGATE_LOG_FORMAT: v.optional(
    v.picklist(['json', 'pretty'], 'must be json or pretty'),
    DEFAULTS.log.format,
  ),
})

/**
 * Variables that describe the single route of an environment-only setup. Next to a file they are
 * refused: the file says where each key and upstream goes.
 */
export const ROUTE_VARIABLES: readonly string[] = [
  'JWTGATE_UPSTREAM',
  'JWTGATE_SECRET',
  'JWTGATE_SECRET_FILE',
  'JWTGATE_PUBLIC_KEY',
  'JWTGATE_PUBLIC_KEY_FILE',
  'JWTGATE_JWKS_URL',
  'JWTGATE_OIDC_ISSUER',
  'JWTGATE_JWKS_COOLDOWN',
  'JWTGATE_JWKS_TIMEOUT',
  'JWTGATE_JWKS_MAX_AGE',
  'JWTGATE_ALLOW_INSECURE_JWKS',
  'JWTGATE_ISSUER',
  'JWTGATE_AUDIENCE',
  'JWTGATE_ALGORITHMS',
  'JWTGATE_CLOCK_SKEW',
  'JWTGATE_REQUIRED_CLAIMS',
  'JWTGATE_REQUIRED_TYP',
  'JWTGATE_TOKEN_SOURCES',
  'JWTGATE_PUBLIC_PATHS',
  'JWTGATE_REQUIRED_SCOPES',
  'JWTGATE_REQUIRED_ROLES',
  'JWTGATE_ROLES_CLAIM',
  'JWTGATE_FORWARD_CLAIMS',
  'JWTGATE_UPSTREAM_TIMEOUT',
]

/** The variables' values, typed, with the defaults of those not set. */
export type EnvValues = v.InferOutput<typeof EnvSchema>

/** Every variable the gateway reads, including the `_FILE` forms resolved before parsing. */
export const VARIABLES: readonly string[] = [
  ...Object.keys(EnvSchema.entries),
  'JWTGATE_SECRET_FILE',
  'JWTGATE_PUBLIC_KEY_FILE',
  'JWTGATE_REDIS_URL_FILE',
  'JWTGATE_ADMIN_TOKEN_FILE',
]

/**
 * The values of `input` (the set variables), each parsed on its own so that one bad value never
 * hides the problems of the others. A bad value is an issue (named by `named`) and takes its
 * default, so that later checks still run; the issue fails the load.
 */
export function parseEnv(
  input: Readonly<Record<string, string>>,
  named: (variable: string) => string,
  issues: ConfigIssue[],
): EnvValues {
  const values: Record<string, unknown> = {}
  for (const [variable, schema] of Object.entries(EnvSchema.entries)) {
    const result = v.safeParse(schema, input[variable])
    if (result.success) values[variable] = result.output
    else {
      issues.push({ path: named(variable), message: result.issues[0].message })
      values[variable] = v.safeParse(schema, undefined).output
    }
  }
  return values as EnvValues
}
