/**
 * @module loadConfig: environment (and, with JWTGATE_CONFIG, a JSON or YAML file) → a validated,
 * typed, frozen Config with every local key imported. All problems are collected and thrown
 * together as one ConfigError, each at its place: a variable name or a path in the file.
 */
import * as v from 'valibot'
import { type ClaimPath, claimPath } from '../auth/claims.ts'
import {
  importPublicKeyText,
  importSecret,
  KeyImportError,
  SUPPORTED_ALGS,
  type VerifyKey,
} from '../auth/keys.ts'
import { insecureUrlProblem } from '../auth/fetch-json.ts'
import { compileCondition, NO_REQUIREMENTS, type Requirements } from '../auth/requirements.ts'
import { parseTokenSource, type TokenSource } from '../auth/token.ts'
import type { CorsConfig } from '../cors.ts'
import { ConfigError, type ConfigIssue } from '../errors.ts'
import { parseRateLimit, type RateLimit } from '../rate-limit.ts'
import type { LogFormat, LogLevel } from '../log.ts'
import { parseStripHeaders, type StripHeaders } from '../proxy/headers.ts'
import { parseUpstreamBase, type UpstreamBase, upstreamBaseProblem } from '../proxy/url.ts'
import { compileRoutes, shadowedRoutes } from '../routing/routes.ts'
import { parseTemplate, type Template, templateParams } from '../routing/template.ts'
import { envInput, type ReadFile } from './env.ts'
import type {
  DurationInput,
  FileConfig,
  ProviderInput,
  RouteInput,
  SecretRefInput,
} from './file-schema.ts'
import { parseConfigText, referenceIssues, validateFile } from './file.ts'
import {
  type ClaimHeader,
  claimHeaderProblem,
  decodeSecret,
  EnvSchema,
  type EnvValues,
  ROUTE_VARIABLES,
} from './schema.ts'
import { parseDuration, parseSize } from './values.ts'

/** Keys loaded at start, with where they came from. */
export interface LocalKeys {
  readonly label: 'secret' | 'public key'
  readonly keys: readonly VerifyKey[]
}

/** A token issuer: its keys, what its tokens must say, and where its tokens are found. */
export interface ProviderConfig {
  readonly name: string
  readonly keys: {
    readonly local: readonly LocalKeys[]
    readonly jwksUrl: string | undefined
    readonly oidcIssuer: string | undefined
    readonly cooldownMs: number
    readonly timeoutMs: number
    readonly maxAgeMs: number
    readonly allowInsecure: boolean
  }
  readonly verify: {
    /** The algorithms a token may use: configured, or derived from the key types. */
    readonly algorithms: readonly string[]
    readonly issuers: readonly string[]
    readonly audiences: readonly string[]
    readonly clockSkewSec: number
    readonly requiredClaims: readonly string[]
    /** Required `typ` header value (RFC 8725 §3.11), e.g. `at+jwt`. */
    readonly requiredTyp: string | undefined
  }
  readonly tokenSources: readonly TokenSource[]
}

export interface UpstreamConfig {
  readonly name: string
  readonly url: string
  readonly base: UpstreamBase
  readonly timeoutMs: number
}

export type AuthMode = 'required' | 'optional' | 'public'

export interface RouteConfig {
  readonly name: string
  /** Where the route is in the configuration: `routes[2]`, or `JWTGATE_PUBLIC_PATHS`. */
  readonly place: string
  readonly pattern: string
  readonly methods: readonly string[] | undefined
  readonly upstream: string
  readonly auth: AuthMode
  /** Names of the providers whose tokens the route accepts. */
  readonly providers: readonly string[]
  readonly stripPrefix: string | undefined
  readonly rewrite: Template | undefined
  readonly claimHeaders: readonly ClaimHeader[]
  readonly require: Requirements
}

export interface Config {
  readonly host: string
  readonly port: number
  readonly trustedProxies: number
  /** The operator's headers never forwarded, beyond the built-in lists. */
  readonly stripHeaders: StripHeaders
  readonly maxTokenBytes: number
  readonly forwardToken: boolean
  /** Return the rejection reason in an `X-Jwtgate-Reason` header (debugging only). */
  readonly debugHeaders: boolean
  readonly providers: readonly ProviderConfig[]
  readonly upstreams: readonly UpstreamConfig[]
  readonly routes: readonly RouteConfig[]
  readonly log: { readonly level: LogLevel; readonly format: LogFormat }
  /** The admin listener (metrics, health) — off unless a port is given. */
  readonly admin: { readonly host: string; readonly port: number } | undefined
  readonly shutdownTimeoutMs: number
  /** PEM text of the certificate chain and key, read at start; undefined for plain HTTP. */
  readonly tls: { readonly cert: string; readonly key: string } | undefined
  readonly cors: CorsConfig | undefined
  readonly limits: {
    readonly maxHeaderBytes: number
    /** Request body cap, enforced while streaming; undefined: none. */
    readonly maxBodyBytes: number | undefined
    readonly streamIdleMs: number
  }
  readonly rateLimit: RateLimit | undefined
  /** The verified-token cache: entries (0: off) and the longest an entry is used. */
  readonly tokenCache: { readonly size: number; readonly maxAgeMs: number }
  /** The configuration file, when there is one. */
  readonly file: { readonly path: string; readonly watch: boolean } | undefined
  /** Problems that do not stop the gateway (a route shadowed by an earlier one). */
  readonly warnings: readonly string[]
}

export interface LoadOptions {
  /** Reads `_FILE` variables, the configuration file and `{ "file": … }` secrets. */
  readonly readFile?: ReadFile
}

const ASYMMETRIC_ALGS = SUPPORTED_ALGS.filter((a) => !a.startsWith('HS'))

function deepFreeze<T>(value: T): T {
  if (
    typeof value === 'object' && value !== null && !Object.isFrozen(value) &&
    !(value instanceof CryptoKey) && !(value instanceof RegExp)
  ) {
    for (const child of Object.values(value)) deepFreeze(child)
    Object.freeze(value)
  }
  return value
}

/**
 * A provider as read from either source, before keys are imported: the key and verification
 * settings of ProviderConfig, with the key material still raw and the algorithms maybe unset.
 * `place(field)` names a field for messages.
 */
interface ProviderSpec
  extends Omit<ProviderConfig['keys'], 'local'>, Omit<ProviderConfig['verify'], 'algorithms'> {
  readonly name: string
  readonly place: (field: string) => string
  readonly secret: Uint8Array | undefined
  readonly publicKey: string | undefined
  readonly algorithms: readonly string[] | undefined
  readonly tokenSources: readonly TokenSource[]
}

const ENV_FIELD: Record<string, string> = {
  secret: 'JWTGATE_SECRET',
  publicKey: 'JWTGATE_PUBLIC_KEY',
  jwksUrl: 'JWTGATE_JWKS_URL',
  oidcIssuer: 'JWTGATE_OIDC_ISSUER',
  issuer: 'JWTGATE_ISSUER',
  algorithms: 'JWTGATE_ALGORITHMS',
  provider: 'key source',
}

async function compileProvider(spec: ProviderSpec, issues: ConfigIssue[]): Promise<ProviderConfig> {
  const local: LocalKeys[] = []
  const configured = spec.algorithms
  async function importInto(
    field: string,
    label: LocalKeys['label'],
    load: () => Promise<VerifyKey[]>,
  ) {
    try {
      const keys = await load()
      if (keys.length === 0) {
        issues.push({
          path: spec.place(field),
          message: `no key fits the allowed algorithms (${configured?.join(', ')})`,
        })
      } else local.push({ label, keys })
    } catch (e) {
      issues.push({
        path: spec.place(field),
        message: e instanceof KeyImportError ? e.message : 'the key could not be imported',
      })
    }
  }
  if (spec.secret !== undefined) {
    const bytes = spec.secret
    await importInto('secret', 'secret', () => importSecret(bytes, configured))
  }
  if (spec.publicKey !== undefined) {
    const text = spec.publicKey
    await importInto('publicKey', 'public key', () => importPublicKeyText(text, configured))
  }
  const { jwksUrl, oidcIssuer, allowInsecure } = spec
  if (jwksUrl !== undefined && oidcIssuer !== undefined) {
    issues.push({
      path: spec.place('oidcIssuer'),
      message: 'set either a JWKS URL or an OIDC issuer, not both (discovery finds the JWKS URL)',
    })
  }
  for (const [field, url] of [['jwksUrl', jwksUrl], ['oidcIssuer', oidcIssuer]] as const) {
    const problem = url === undefined ? undefined : insecureUrlProblem(url, allowInsecure)
    if (problem !== undefined) issues.push({ path: spec.place(field), message: problem })
  }
  const remote = jwksUrl !== undefined || oidcIssuer !== undefined
  const unresolved = issues.some((i) =>
    i.path === spec.place('secret') || i.path === spec.place('publicKey')
  )
  if (spec.secret === undefined && spec.publicKey === undefined && !remote && !unresolved) {
    issues.push({
      path: spec.place('provider'),
      message: spec.place('provider') === 'key source'
        ? 'none configured: set JWTGATE_SECRET, JWTGATE_PUBLIC_KEY, JWTGATE_JWKS_URL or JWTGATE_OIDC_ISSUER (jwtgate never runs as an open proxy)'
        : 'has no key source: set secret, publicKey, jwksUrl or oidcIssuer',
    })
  }
  const keyAlgs = new Set(local.flatMap((l) => l.keys.map((k) => k.alg)))
  if (remote) { for (const alg of ASYMMETRIC_ALGS) keyAlgs.add(alg) }
  if (configured !== undefined && local.length > 0 && !remote) {
    const unusable = configured.filter((alg) => !keyAlgs.has(alg))
    if (unusable.length > 0) {
      issues.push({
        path: spec.place('algorithms'),
        message: `no configured key can verify ${unusable.join(', ')}`,
      })
    }
  }
  let issuers = spec.issuers
  if (oidcIssuer !== undefined) {
    if (issuers.length === 0) issuers = [oidcIssuer]
    else if (!issuers.includes(oidcIssuer)) {
      issues.push({
        path: spec.place('issuer'),
        message: `must include the OIDC issuer ${oidcIssuer}`,
      })
    }
  }
  return {
    name: spec.name,
    keys: {
      local,
      jwksUrl,
      oidcIssuer,
      cooldownMs: spec.cooldownMs,
      timeoutMs: spec.timeoutMs,
      maxAgeMs: spec.maxAgeMs,
      allowInsecure,
    },
    verify: {
      algorithms: configured ??
        [...keyAlgs].sort((a, b) => SUPPORTED_ALGS.indexOf(a) - SUPPORTED_ALGS.indexOf(b)),
      issuers,
      audiences: spec.audiences,
      clockSkewSec: spec.clockSkewSec,
      requiredClaims: spec.requiredClaims,
      requiredTyp: spec.requiredTyp,
    },
    tokenSources: spec.tokenSources,
  }
}

/** The single provider, upstream and routes an environment-only setup describes. */
function fromEnvironment(
  env: EnvValues,
  named: (variable: string) => string,
): { provider: ProviderSpec; upstream: UpstreamConfig | undefined; routes: RouteConfig[] } {
  const provider: ProviderSpec = {
    name: 'default',
    place: (field) => named(ENV_FIELD[field] ?? 'configuration'),
    secret: env.JWTGATE_SECRET,
    publicKey: env.JWTGATE_PUBLIC_KEY,
    jwksUrl: env.JWTGATE_JWKS_URL,
    oidcIssuer: env.JWTGATE_OIDC_ISSUER,
    cooldownMs: env.JWTGATE_JWKS_COOLDOWN,
    timeoutMs: env.JWTGATE_JWKS_TIMEOUT,
    maxAgeMs: env.JWTGATE_JWKS_MAX_AGE,
    allowInsecure: env.JWTGATE_ALLOW_INSECURE_JWKS,
    algorithms: env.JWTGATE_ALGORITHMS,
    issuers: env.JWTGATE_ISSUER,
    audiences: env.JWTGATE_AUDIENCE,
    clockSkewSec: env.JWTGATE_CLOCK_SKEW,
    requiredClaims: env.JWTGATE_REQUIRED_CLAIMS,
    requiredTyp: env.JWTGATE_REQUIRED_TYP,
    tokenSources: env.JWTGATE_TOKEN_SOURCES,
  }
  const upstream = env.JWTGATE_UPSTREAM === undefined ? undefined : {
    name: 'default',
    url: env.JWTGATE_UPSTREAM,
    base: parseUpstreamBase(env.JWTGATE_UPSTREAM),
    timeoutMs: env.JWTGATE_UPSTREAM_TIMEOUT,
  }
  const claimHeaders = env.JWTGATE_FORWARD_CLAIMS ?? []
  const base = {
    methods: undefined,
    upstream: 'default',
    providers: ['default'],
    stripPrefix: undefined,
    rewrite: undefined,
    claimHeaders,
  }
  const routes: RouteConfig[] = env.JWTGATE_PUBLIC_PATHS.map((pattern) => ({
    ...base,
    name: `public ${pattern}`,
    place: 'JWTGATE_PUBLIC_PATHS',
    pattern,
    auth: 'public' as const,
    require: NO_REQUIREMENTS,
  }))
  routes.push({
    ...base,
    name: 'default',
    place: 'default route',
    pattern: '/*',
    auth: 'required',
    require: {
      ...NO_REQUIREMENTS,
      scopesAll: env.JWTGATE_REQUIRED_SCOPES,
      rolesAny: env.JWTGATE_REQUIRED_ROLES,
      rolesClaim: env.JWTGATE_ROLES_CLAIM,
      place: 'JWTGATE_REQUIRED_SCOPES/ROLES',
    },
  })
  return { provider, upstream, routes }
}

const list = (
  value: string | string[] | undefined,
) => (value === undefined ? [] : Array.isArray(value) ? value : [value])
const durationMs = (value: DurationInput | undefined, fallback: number) =>
  value === undefined
    ? fallback
    : typeof value === 'number'
    ? Math.round(value * 1000)
    : (parseDuration(value) ?? fallback)

function resolveSecret(
  ref: SecretRefInput | undefined,
  place: string,
  env: Readonly<Record<string, string | undefined>>,
  readFile: ReadFile | undefined,
  issues: ConfigIssue[],
): string | undefined {
  if (ref === undefined || typeof ref === 'string') return ref
  if ('env' in ref) {
    const value = env[ref.env]
    if (value === undefined || value === '') {
      issues.push({ path: place, message: `environment variable ${ref.env} is not set` })
    }
    return value
  }
  if (readFile === undefined) {
    issues.push({ path: place, message: 'files cannot be read here' })
    return undefined
  }
  try {
    return readFile(ref.file).replace(/\r?\n$/, '')
  } catch {
    issues.push({ path: place, message: `cannot read file ${JSON.stringify(ref.file)}` })
    return undefined
  }
}

function providerFromFile(
  name: string,
  p: ProviderInput,
  env: Readonly<Record<string, string | undefined>>,
  readFile: ReadFile | undefined,
  issues: ConfigIssue[],
): ProviderSpec {
  const place = (
    field: string,
  ) => (field === 'provider' ? `providers.${name}` : `providers.${name}.${field}`)
  const secretText = resolveSecret(p.secret, place('secret'), env, readFile, issues)
  let secret: Uint8Array | undefined
  if (secretText !== undefined) {
    secret = decodeSecret(secretText)
    if (secret === undefined) {
      issues.push({ path: place('secret'), message: 'the base64: value is not valid base64' })
    }
  }
  return {
    name,
    place,
    secret,
    publicKey: resolveSecret(p.publicKey, place('publicKey'), env, readFile, issues),
    jwksUrl: p.jwksUrl,
    oidcIssuer: p.oidcIssuer,
    cooldownMs: durationMs(p.jwksCooldown, 30_000),
    timeoutMs: durationMs(p.jwksTimeout, 5_000),
    maxAgeMs: durationMs(p.jwksMaxAge, 600_000),
    allowInsecure: p.allowInsecureJwks ?? false,
    algorithms: p.algorithms,
    issuers: list(p.issuer),
    audiences: list(p.audience),
    clockSkewSec: p.clockSkew ?? 30,
    requiredClaims: p.requiredClaims ?? ['exp'],
    requiredTyp: p.requiredTyp,
    tokenSources: (p.tokenSources ?? ['header:Authorization']).map((s) => parseTokenSource(s)!),
  }
}

function routeFromFile(
  r: RouteInput,
  index: number,
  file: FileConfig,
  providerNames: string[],
  issues: ConfigIssue[],
): RouteConfig {
  const place = `routes[${index}]`
  const auth = r.auth ?? 'required'
  if (file.upstreams?.[r.upstream] === undefined) {
    issues.push({
      path: `${place}.upstream`,
      message: `unknown upstream ${JSON.stringify(r.upstream)}`,
    })
  }
  const providers = r.providers ?? providerNames
  for (const [i, name] of providers.entries()) {
    if (!providerNames.includes(name)) {
      issues.push({
        path: `${place}.providers[${i}]`,
        message: `unknown provider ${JSON.stringify(name)}`,
      })
    }
  }
  if (auth !== 'public' && providers.length === 0) {
    issues.push({ path: place, message: `auth "${auth}" needs a provider, and none is defined` })
  }
  if (providers.length > 1) {
    for (const name of providers) {
      const p = file.providers?.[name]
      if (p !== undefined && list(p.issuer).length === 0 && p.oidcIssuer === undefined) {
        issues.push({
          path: `providers.${name}.issuer`,
          message:
            `is required: routes[${index}] accepts several providers, and tokens go to a provider by their "iss"`,
        })
      }
    }
  }
  if (r.require !== undefined && auth !== 'required') {
    issues.push({
      path: `${place}.require`,
      message: `requirements need auth "required" (this route is "${auth}")`,
    })
  }
  if (r.stripPrefix !== undefined && r.rewrite !== undefined) {
    issues.push({
      path: `${place}.rewrite`,
      message: 'use either stripPrefix or rewrite, not both',
    })
  }
  const rewrite = r.rewrite === undefined ? undefined : parseTemplate(r.rewrite)
  const params = new Set([...r.path.matchAll(/:([A-Za-z_]\w*)/g)].map((m) => m[1]!))
  for (const name of rewrite === undefined ? [] : templateParams(rewrite)) {
    if (!params.has(name)) {
      issues.push({
        path: `${place}.rewrite`,
        message: `{params.${name}} is not a parameter of ${r.path}`,
      })
    }
  }
  const claimHeaders: ClaimHeader[] = Object.entries(r.claimHeaders ?? {}).map((
    [claim, header],
  ) => ({ claim: claimPath(claim), header: header.toLowerCase() }))
  const mapped = new Set<string>()
  for (const [claim, header] of Object.entries(r.claimHeaders ?? {})) {
    const problem = claimHeaderProblem(header)
    if (problem !== undefined) {
      issues.push({ path: `${place}.claimHeaders.${claim}`, message: problem })
    } else if (mapped.has(header.toLowerCase())) {
      issues.push({
        path: `${place}.claimHeaders.${claim}`,
        message: `header ${header} is mapped twice`,
      })
    }
    mapped.add(header.toLowerCase())
  }
  const req = r.require
  return {
    name: r.name ?? place,
    place,
    pattern: r.path,
    methods: r.methods,
    upstream: r.upstream,
    auth,
    providers: auth === 'public' ? [] : providers,
    stripPrefix: r.stripPrefix?.replace(/\/+$/, ''),
    rewrite,
    claimHeaders,
    require: req === undefined ? NO_REQUIREMENTS : {
      scopesAll: req.scopes?.all ?? [],
      scopesAny: req.scopes?.any ?? [],
      rolesAny: req.roles?.any ?? [],
      rolesClaim: claimPath(req.roles?.claim ?? 'roles'),
      claims: (req.claims ?? []).map((c, i) =>
        compileCondition(c, `${place}.require.claims[${i}]`)
      ),
      place: `${place}.require`,
    },
  }
}

/**
 * Parses and validates the configuration — the `JWTGATE_*` variables of `env` and, when
 * JWTGATE_CONFIG names one, the file — imports local keys, and returns a frozen Config. Throws
 * ConfigError listing every problem.
 *
 * @example
 * const config = await loadConfig({ JWTGATE_UPSTREAM: 'http://127.0.0.1:3000', JWTGATE_SECRET: secret })
 */
export async function loadConfig(
  env: Readonly<Record<string, string | undefined>>,
  options: LoadOptions = {},
): Promise<Config> {
  const { input, issues, origin } = envInput(env, options.readFile)
  const named = (variable: string) => origin[variable] ?? variable
  // Each variable on its own, so that one bad value never hides the problems of the others.
  const values: Record<string, unknown> = {}
  for (const [variable, schema] of Object.entries(EnvSchema.entries)) {
    const result = v.safeParse(schema, input[variable])
    if (result.success) values[variable] = result.output
    else {
      issues.push({ path: named(variable), message: result.issues[0].message })
      // Go on with the default, so that later checks still run; the issue fails the load.
      values[variable] = v.safeParse(schema, undefined).output
    }
  }
  const envValues = values as EnvValues
  const filePath = envValues.JWTGATE_CONFIG

  let file: FileConfig | undefined
  if (filePath !== undefined) {
    for (const variable of ROUTE_VARIABLES) {
      if (variable in input || (variable.endsWith('_FILE') && env[variable])) {
        issues.push({
          path: variable,
          message:
            'describes the environment-only setup; with JWTGATE_CONFIG, set it in the file (secrets as { "env": "NAME" } or { "file": "/path" })',
        })
      }
    }
    let text: string | undefined
    try {
      if (options.readFile === undefined) throw new Error('no reader')
      text = options.readFile(filePath)
    } catch {
      issues.push({
        path: 'JWTGATE_CONFIG',
        message: `cannot read file ${JSON.stringify(filePath)}`,
      })
    }
    if (text !== undefined) {
      const parsed = await parseConfigText(text, filePath)
      if (parsed.issue !== undefined) issues.push(parsed.issue)
      else {
        const validated = validateFile(parsed.value)
        issues.push(...validated.issues)
        if (validated.file === undefined) issues.push(...referenceIssues(parsed.value))
        file = validated.file
      }
    }
    if (file === undefined) throw new ConfigError(issues)
  }

  let providers: ProviderConfig[]
  let upstreams: UpstreamConfig[]
  let routes: RouteConfig[]
  if (file === undefined) {
    const described = fromEnvironment(envValues, named)
    if (
      envValues.JWTGATE_UPSTREAM === undefined && !issues.some((i) => i.path === 'JWTGATE_UPSTREAM')
    ) {
      issues.push({
        path: 'JWTGATE_UPSTREAM',
        message: 'is required: the base URL of the API to protect, e.g. http://127.0.0.1:3000',
      })
    }
    const keyIssue = issues.some((i) => /SECRET|PUBLIC_KEY|JWKS_URL|OIDC_ISSUER/.test(i.path))
    const providerIssues: ConfigIssue[] = []
    providers = [await compileProvider(described.provider, providerIssues)]
    issues.push(...providerIssues.filter((i) => !(keyIssue && i.path === 'key source')))
    upstreams = described.upstream === undefined ? [] : [described.upstream]
    routes = described.routes
  } else {
    const providerNames = Object.keys(file.providers ?? {})
    providers = []
    for (const [name, p] of Object.entries(file.providers ?? {})) {
      providers.push(
        await compileProvider(providerFromFile(name, p, env, options.readFile, issues), issues),
      )
    }
    upstreams = []
    for (const [name, u] of Object.entries(file.upstreams ?? {})) {
      const problem = upstreamBaseProblem(u.url)
      if (problem !== undefined) issues.push({ path: `upstreams.${name}.url`, message: problem })
      else {upstreams.push({
          name,
          url: u.url,
          base: parseUpstreamBase(u.url),
          timeoutMs: durationMs(u.timeout, 30_000),
        })}
    }
    routes = (file.routes ?? []).map((r, i) => routeFromFile(r, i, file!, providerNames, issues))
    if (routes.length === 0) {
      issues.push({
        path: 'routes',
        message: 'is empty: without routes every request would be 404',
      })
    }
    const names = new Map<string, number>()
    for (const [i, r] of routes.entries()) {
      if (names.has(r.name)) {
        issues.push({
          path: `routes[${i}].name`,
          message: `duplicates the name of routes[${names.get(r.name)}]`,
        })
      }
      names.set(r.name, i)
    }
  }

  const set = (variable: string) => variable in input
  /** The variable when it was set, else the file's value (converted), else the variable's default. */
  function pick<K extends keyof EnvValues, F>(
    variable: K,
    fileValue: F | undefined,
    convert?: (value: F) => EnvValues[K],
  ): EnvValues[K] {
    if (set(variable) || fileValue === undefined) return envValues[variable]
    return convert === undefined ? (fileValue as unknown as EnvValues[K]) : convert(fileValue)
  }

  const tlsPaths = {
    cert: set('JWTGATE_TLS_CERT') ? envValues.JWTGATE_TLS_CERT : file?.tls?.cert,
    key: set('JWTGATE_TLS_KEY') ? envValues.JWTGATE_TLS_KEY : file?.tls?.key,
  }
  const tlsPlace = (
    part: 'cert' | 'key',
  ) => (set(part === 'cert' ? 'JWTGATE_TLS_CERT' : 'JWTGATE_TLS_KEY') || file === undefined
    ? `JWTGATE_TLS_${part.toUpperCase()}`
    : `tls.${part}`)
  let tls: Config['tls']
  if ((tlsPaths.cert === undefined) !== (tlsPaths.key === undefined)) {
    issues.push({
      path: tlsPlace(tlsPaths.cert === undefined ? 'cert' : 'key'),
      message: 'is required: TLS needs both a certificate and a key',
    })
  } else if (tlsPaths.cert !== undefined && tlsPaths.key !== undefined) {
    const read = (part: 'cert' | 'key', path: string, marker: RegExp, expected: string) => {
      try {
        const text = options.readFile!(path)
        if (!marker.test(text)) {
          issues.push({
            path: tlsPlace(part),
            message: `${JSON.stringify(path)} is not ${expected}`,
          })
        }
        return text
      } catch {
        issues.push({ path: tlsPlace(part), message: `cannot read file ${JSON.stringify(path)}` })
        return ''
      }
    }
    tls = {
      cert: read('cert', tlsPaths.cert, /-----BEGIN CERTIFICATE-----/, 'a PEM certificate'),
      key: read(
        'key',
        tlsPaths.key,
        /-----BEGIN (?:RSA |EC )?PRIVATE KEY-----/,
        'a PEM private key',
      ),
    }
  }

  const corsOrigins = set('JWTGATE_CORS_ORIGINS')
    ? envValues.JWTGATE_CORS_ORIGINS
    : file?.cors?.origins
  let cors: CorsConfig | undefined
  if (corsOrigins !== undefined && corsOrigins.length > 0) {
    const credentials = pick('JWTGATE_CORS_CREDENTIALS', file?.cors?.credentials)
    if (credentials && corsOrigins.includes('*')) {
      issues.push({
        path: set('JWTGATE_CORS_ORIGINS') ? 'JWTGATE_CORS_ORIGINS' : 'cors.origins',
        message: '"*" cannot be combined with credentials; list the origins',
      })
    }
    cors = {
      origins: corsOrigins,
      methods: pick('JWTGATE_CORS_METHODS', file?.cors?.methods),
      headers: pick('JWTGATE_CORS_HEADERS', file?.cors?.headers),
      credentials,
      maxAgeSec: Math.round(
        pick('JWTGATE_CORS_MAX_AGE', file?.cors?.maxAge, (d) => durationMs(d, 600_000)) / 1000,
      ),
    }
  }
  const adminPort = set('JWTGATE_ADMIN_PORT') ? envValues.JWTGATE_ADMIN_PORT : file?.admin?.port
  const maxBody = pick(
    'JWTGATE_MAX_BODY',
    file?.limits?.maxBody,
    (b) => (typeof b === 'number' ? b : parseSize(b)),
  )

  if (issues.length > 0) throw new ConfigError(issues)
  const warnings = shadowedRoutes(compileRoutes(routes)).map(([later, earlier]) =>
    `${routes[later]!.place} (${routes[later]!.pattern}) is shadowed by ${
      routes[earlier]!.place
    } (${routes[earlier]!.pattern}) and never matches`
  )
  return deepFreeze<Config>({
    host: pick('JWTGATE_HOST', file?.listen?.host),
    port: pick('JWTGATE_PORT', file?.listen?.port),
    trustedProxies: pick('JWTGATE_TRUSTED_PROXIES', file?.trustedProxies),
    stripHeaders: pick('JWTGATE_STRIP_HEADERS', file?.stripHeaders, parseStripHeaders),
    maxTokenBytes: pick('JWTGATE_MAX_TOKEN_BYTES', file?.maxTokenBytes),
    forwardToken: pick('JWTGATE_FORWARD_TOKEN', file?.forwardToken),
    debugHeaders: pick('JWTGATE_DEBUG_HEADERS', file?.debugHeaders),
    providers,
    upstreams,
    routes,
    log: {
      level: pick('JWTGATE_LOG_LEVEL', file?.log?.level),
      format: pick('JWTGATE_LOG_FORMAT', file?.log?.format),
    },
    admin: adminPort === undefined
      ? undefined
      : { host: pick('JWTGATE_ADMIN_HOST', file?.admin?.host), port: adminPort },
    shutdownTimeoutMs: pick(
      'JWTGATE_SHUTDOWN_TIMEOUT',
      file?.shutdownTimeout,
      (d) => durationMs(d, 30_000),
    ),
    tls,
    cors,
    limits: {
      maxHeaderBytes: pick('JWTGATE_MAX_HEADER_BYTES', file?.limits?.maxHeaderBytes),
      maxBodyBytes: maxBody,
      streamIdleMs: pick(
        'JWTGATE_STREAM_IDLE_TIMEOUT',
        file?.limits?.streamIdleTimeout,
        (d) => durationMs(d, 120_000),
      ),
    },
    rateLimit: pick('JWTGATE_RATE_LIMIT', file?.rateLimit, parseRateLimit),
    tokenCache: {
      size: pick('JWTGATE_TOKEN_CACHE_SIZE', file?.tokenCache?.size),
      maxAgeMs: pick(
        'JWTGATE_TOKEN_CACHE_TTL',
        file?.tokenCache?.maxAge,
        (d) => durationMs(d, 300_000),
      ),
    },
    file: filePath === undefined ? undefined : { path: filePath, watch: file?.watch ?? false },
    warnings,
  })
}

export type { ClaimHeader, ClaimPath }
