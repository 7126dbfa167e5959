/**
 * @module The configuration schema: one valibot schema over the `JWTGATE_*` variables, turning
 * their strings into typed values. Every issue's path is the variable's name.
 */
import { isToken } from '../syntax.ts'
import * as v from 'valibot'
import { type ClaimPath, claimPath } from '../auth/claims.ts'
import { SUPPORTED_ALGS } from '../auth/keys.ts'
import { parseTokenSource, type TokenSource } from '../auth/token.ts'
import {
  GATEWAY_HEADERS,
  HOP_BY_HOP,
  parseStripHeaders,
  stripItemProblem,
} from '../proxy/headers.ts'
import { upstreamBaseProblem } from '../proxy/url.ts'
import { patternProblem } from '../routing/routes.ts'
import { originPatternProblem } from '../cors.ts'
import { parseRateLimit } from '../rate-limit.ts'
import {
  boolean,
  count,
  duration,
  parsed,
  parseInteger,
  parseList,
  port,
  shown,
  size,
} from './values.ts'

/** A string that passes `problem` (which returns a message, or undefined when fine). */
function checked(problem: (value: string) => string | undefined) {
  return v.pipe(
    v.string(),
    v.rawCheck<string>(({ dataset, addIssue }) => {
      if (!dataset.typed) return
      const message = problem(dataset.value)
      if (message !== undefined) addIssue({ message })
    }),
  )
}

/** Decodes a secret: `base64:` prefix for raw bytes, else the UTF-8 bytes of the text. */
export function decodeSecret(text: string): Uint8Array | undefined {
  if (!text.startsWith('base64:')) return new TextEncoder().encode(text)
  const b64 = text.slice(7).trim().replace(/-/g, '+').replace(/_/g, '/')
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) return undefined
  try {
    const bin = atob(b64)
    return Uint8Array.from(bin, (c) => c.charCodeAt(0))
  } catch {
    return undefined
  }
}

/** Headers a claim may never be forwarded as. */
const RESERVED_HEADERS = new Set([
  ...HOP_BY_HOP,
  ...GATEWAY_HEADERS,
  'host',
  'authorization',
  'cookie',
  'content-length',
  'content-type',
  'content-encoding',
  'expect',
])

export interface ClaimHeader {
  readonly claim: ClaimPath
  /** Lower-cased header name. */
  readonly header: string
}

/** Why `header` cannot carry a claim (reserved: hop-by-hop, the gateway's own, Host, …), or undefined. */
export function claimHeaderProblem(header: string): string | undefined {
  return RESERVED_HEADERS.has(header.toLowerCase())
    ? `${header} is reserved and cannot carry a claim`
    : undefined
}

/** Parses `sub=X-User-Id,email=X-User-Email`. */
export function parseClaimHeaders(text: string): ClaimHeader[] | string {
  const out: ClaimHeader[] = []
  const seen = new Set<string>()
  for (const item of parseList(text)) {
    const eq = item.lastIndexOf('=')
    if (eq <= 0 || eq === item.length - 1) {
      return `each item must be claim=Header-Name (got ${shown(item)})`
    }
    const claim = item.slice(0, eq).trim()
    const header = item.slice(eq + 1).trim()
    if (!isToken(header)) return `${shown(header)} is not a valid header name`
    const lower = header.toLowerCase()
    const problem = claimHeaderProblem(header)
    if (problem !== undefined) return problem
    if (seen.has(lower)) return `header ${header} is mapped twice`
    seen.add(lower)
    out.push(Object.freeze({ claim: claimPath(claim), header: lower }))
  }
  return out.length > 0 ? out : 'expected at least one claim=Header-Name pair'
}

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

/** A valibot pipe for a value whose parser returns either the value or a message. */
function orMessage<T>(parse: (text: string) => T | string) {
  return v.pipe(
    v.string(),
    v.rawTransform<string, T>(({ dataset, addIssue, NEVER }) => {
      const out = parse(dataset.value)
      if (typeof out === 'string') {
        addIssue({ message: out })
        return NEVER
      }
      return out
    }),
  )
}

const list = v.pipe(v.string(), v.transform((s: string) => parseList(s)))
const spacedList = v.pipe(v.string(), v.transform((s: string) => parseList(s, true)))

/** The schema over the environment; keys are variable names, so issue paths name them. */
export const EnvSchema = v.object({
  JWTGATE_CONFIG: v.optional(v.string()),
  JWTGATE_DEBUG_HEADERS: v.optional(boolean, 'false'),
  JWTGATE_UPSTREAM: v.optional(checked(upstreamBaseProblem)),
  JWTGATE_HOST: v.optional(v.string(), '0.0.0.0'),
  JWTGATE_PORT: v.optional(port, '8080'),
  JWTGATE_SECRET: v.optional(parsed(decodeSecret, 'the base64: value is not valid base64', true)),
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
  JWTGATE_JWKS_COOLDOWN: v.optional(duration, '30s'),
  JWTGATE_JWKS_TIMEOUT: v.optional(duration, '5s'),
  JWTGATE_JWKS_MAX_AGE: v.optional(duration, '10m'),
  JWTGATE_ALLOW_INSECURE_JWKS: v.optional(boolean, 'false'),
  JWTGATE_ISSUER: v.optional(list, ''),
  JWTGATE_AUDIENCE: v.optional(list, ''),
  JWTGATE_ALGORITHMS: v.optional(orMessage(parseAlgorithms)),
  JWTGATE_CLOCK_SKEW: v.optional(
    parsed((t) => parseInteger(t, 0, 3600), 'must be a whole number of seconds from 0 to 3600'),
    '30',
  ),
  JWTGATE_REQUIRED_CLAIMS: v.optional(
    v.pipe(v.string(), v.transform((s: string) => (s.trim() === 'none' ? [] : parseList(s)))),
    'exp',
  ),
  JWTGATE_REQUIRED_TYP: v.optional(
    v.pipe(v.string(), v.regex(/^[\x21-\x7e]{1,100}$/, 'must be a media type such as at+jwt')),
  ),
  JWTGATE_TOKEN_SOURCES: v.optional(
    parsed(
      parseSources,
      'must be a comma-separated list of header:Authorization, header:X-Name, cookie:name or query:name',
    ),
    'header:Authorization',
  ),
  JWTGATE_MAX_TOKEN_BYTES: v.optional(
    parsed((t) => parseInteger(t, 256, 65536), 'must be a whole number of bytes from 256 to 65536'),
    '8192',
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
  JWTGATE_ROLES_CLAIM: v.optional(v.pipe(v.string(), v.transform(claimPath)), 'roles'),
  JWTGATE_FORWARD_CLAIMS: v.optional(orMessage(parseClaimHeaders)),
  JWTGATE_FORWARD_TOKEN: v.optional(boolean, 'false'),
  JWTGATE_UPSTREAM_TIMEOUT: v.optional(duration, '30s'),
  JWTGATE_TRUSTED_PROXIES: v.optional(count, '0'),
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
  JWTGATE_ADMIN_HOST: v.optional(v.string(), '127.0.0.1'),
  JWTGATE_ADMIN_PORT: v.optional(port),
  JWTGATE_SHUTDOWN_TIMEOUT: v.optional(duration, '30s'),
  JWTGATE_TLS_CERT: v.optional(v.string()),
  JWTGATE_TLS_KEY: v.optional(v.string()),
  JWTGATE_CORS_ORIGINS: v.optional(orMessage((s) => {
    const origins = parseList(s)
    for (const o of origins) {
      const problem = originPatternProblem(o)
      if (problem !== undefined) return problem
    }
    return origins
  })),
  JWTGATE_CORS_METHODS: v.optional(list, 'GET,HEAD,POST,PUT,PATCH,DELETE'),
  JWTGATE_CORS_HEADERS: v.optional(list, 'authorization,content-type'),
  JWTGATE_CORS_CREDENTIALS: v.optional(boolean, 'false'),
  JWTGATE_CORS_MAX_AGE: v.optional(duration, '10m'),
  JWTGATE_MAX_HEADER_BYTES: v.optional(
    parsed(
      (t) => parseInteger(t, 1024, 1_048_576),
      'must be a whole number of bytes from 1024 to 1048576',
    ),
    '16384',
  ),
  JWTGATE_MAX_BODY: v.optional(size),
  JWTGATE_STREAM_IDLE_TIMEOUT: v.optional(duration, '2m'),
  JWTGATE_RATE_LIMIT: v.optional(
    parsed(parseRateLimit, 'must be requests per period, such as 100/1m or 10/1s'),
  ),
  JWTGATE_TOKEN_CACHE_SIZE: v.optional(
    parsed(
      (t) => parseInteger(t, 0, 10_000_000),
      'must be a whole number of entries (0 turns the cache off)',
    ),
    '10000',
  ),
  JWTGATE_TOKEN_CACHE_TTL: v.optional(duration, '5m'),
  JWTGATE_LOG_LEVEL: v.optional(
    v.picklist(['debug', 'info', 'warn', 'error'], 'must be one of debug, info, warn, error'),
    'info',
  ),
  JWTGATE_LOG_FORMAT: v.optional(v.picklist(['json', 'pretty'], 'must be json or pretty'), 'json'),
})

export type EnvInput = v.InferInput<typeof EnvSchema>

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
export type EnvValues = v.InferOutput<typeof EnvSchema>

/** Every variable the gateway reads, including the `_FILE` forms resolved before parsing. */
export const VARIABLES: readonly string[] = [
  ...Object.keys(EnvSchema.entries),
  'JWTGATE_SECRET_FILE',
  'JWTGATE_PUBLIC_KEY_FILE',
]
