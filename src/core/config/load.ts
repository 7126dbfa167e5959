/**
 * @module loadConfig: environment → a validated, typed, frozen Config with every local key
 * imported. All problems are collected and thrown together as one ConfigError.
 */
import * as v from 'valibot'
import type { ClaimPath } from '../auth/claims.ts'
import { importPublicKeyText, importSecret, KeyImportError, SUPPORTED_ALGS, type VerifyKey } from '../auth/keys.ts'
import { insecureUrlProblem } from '../auth/fetch-json.ts'
import type { TokenSource } from '../auth/token.ts'
import { ConfigError } from '../errors.ts'
import type { LogFormat, LogLevel } from '../log.ts'
import { parseUpstreamBase, type UpstreamBase } from '../proxy/url.ts'
import { envInput, type ReadFile } from './env.ts'
import { EnvSchema, type ClaimHeader, type EnvValues } from './schema.ts'

/** Keys loaded at start, with the variable they came from. */
export interface LocalKeys {
  readonly label: 'secret' | 'public key'
  readonly keys: readonly VerifyKey[]
}

export interface Config {
  readonly host: string
  readonly port: number
  readonly upstream: { readonly url: string; readonly base: UpstreamBase; readonly timeoutMs: number }
  readonly trustedProxies: number
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
  readonly maxTokenBytes: number
  readonly publicPaths: readonly string[]
  readonly policy: {
    readonly requiredScopes: readonly string[]
    readonly requiredRoles: readonly string[]
    readonly rolesClaim: ClaimPath
  }
  readonly forward: { readonly claims: readonly ClaimHeader[]; readonly token: boolean }
  readonly log: { readonly level: LogLevel; readonly format: LogFormat }
}

export interface LoadOptions {
  /** Reads `_FILE` variables; omit where files are unavailable. */
  readonly readFile?: ReadFile
}

const ASYMMETRIC_ALGS = SUPPORTED_ALGS.filter((a) => !a.startsWith('HS'))

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value) && !(value instanceof CryptoKey)) {
    for (const child of Object.values(value)) deepFreeze(child)
    Object.freeze(value)
  }
  return value
}

/**
 * Parses and validates the `JWTGATE_*` variables of `env`, imports local keys, and returns a
 * frozen Config. Throws ConfigError listing every problem.
 *
 * @example
 * const config = await loadConfig({ JWTGATE_UPSTREAM: 'http://127.0.0.1:3000', JWTGATE_SECRET: secret })
 */
export async function loadConfig(env: Readonly<Record<string, string | undefined>>, options: LoadOptions = {}): Promise<Config> {
  const { input, issues, origin } = envInput(env, options.readFile)
  const named = (variable: string) => origin[variable] ?? variable
  // Each variable on its own, so that one bad value never hides the problems of the others.
  const values: Record<string, unknown> = {}
  for (const [variable, schema] of Object.entries(EnvSchema.entries)) {
    const result = v.safeParse(schema, input[variable])
    if (result.success) {
      values[variable] = result.output
      continue
    }
    const issue = result.issues[0]
    const required = input[variable] === undefined
    issues.push({
      path: named(variable),
      message: !required
        ? issue.message
        : variable === 'JWTGATE_UPSTREAM'
          ? 'is required: the base URL of the API to protect, e.g. http://127.0.0.1:3000'
          : 'is required',
    })
  }
  const env2 = values as EnvValues
  const configured = env2.JWTGATE_ALGORITHMS
  const local: LocalKeys[] = []

  async function importInto(variable: string, label: LocalKeys['label'], load: () => Promise<VerifyKey[]>) {
    try {
      const keys = await load()
      if (keys.length === 0) issues.push({ path: named(variable), message: `no key fits JWTGATE_ALGORITHMS (${configured?.join(', ')})` })
      else local.push({ label, keys })
    } catch (e) {
      issues.push({ path: named(variable), message: e instanceof KeyImportError ? e.message : 'the key could not be imported' })
    }
  }
  if (env2.JWTGATE_SECRET !== undefined) {
    const bytes = env2.JWTGATE_SECRET
    await importInto('JWTGATE_SECRET', 'secret', () => importSecret(bytes, configured))
  }
  if (env2.JWTGATE_PUBLIC_KEY !== undefined) {
    const text = env2.JWTGATE_PUBLIC_KEY
    await importInto('JWTGATE_PUBLIC_KEY', 'public key', () => importPublicKeyText(text, configured))
  }

  const jwksUrl = env2.JWTGATE_JWKS_URL
  const oidcIssuer = env2.JWTGATE_OIDC_ISSUER
  const allowInsecure = env2.JWTGATE_ALLOW_INSECURE_JWKS
  if (jwksUrl !== undefined && oidcIssuer !== undefined) {
    issues.push({ path: 'JWTGATE_OIDC_ISSUER', message: 'set either JWTGATE_JWKS_URL or JWTGATE_OIDC_ISSUER, not both (discovery finds the JWKS URL)' })
  }
  for (const [variable, url] of [['JWTGATE_JWKS_URL', jwksUrl], ['JWTGATE_OIDC_ISSUER', oidcIssuer]] as const) {
    const problem = url === undefined ? undefined : insecureUrlProblem(url, allowInsecure)
    if (problem !== undefined) issues.push({ path: variable, message: problem })
  }
  const remote = jwksUrl !== undefined || oidcIssuer !== undefined
  if (local.length === 0 && !remote && !issues.some((i) => /SECRET|PUBLIC_KEY|JWKS_URL|OIDC_ISSUER/.test(i.path))) {
    issues.push({
      path: 'key source',
      message: 'none configured: set JWTGATE_SECRET, JWTGATE_PUBLIC_KEY, JWTGATE_JWKS_URL or JWTGATE_OIDC_ISSUER (jwtgate never runs as an open proxy)',
    })
  }

  const keyAlgs = new Set(local.flatMap((l) => l.keys.map((k) => k.alg)))
  if (remote) for (const alg of ASYMMETRIC_ALGS) keyAlgs.add(alg)
  if (configured !== undefined && local.length > 0 && !remote) {
    const unusable = configured.filter((alg) => !keyAlgs.has(alg))
    if (unusable.length > 0) issues.push({ path: 'JWTGATE_ALGORITHMS', message: `no configured key can verify ${unusable.join(', ')}` })
  }
  const algorithms = configured ?? [...keyAlgs].sort((a, b) => SUPPORTED_ALGS.indexOf(a) - SUPPORTED_ALGS.indexOf(b))

  let issuers = env2.JWTGATE_ISSUER
  if (oidcIssuer !== undefined) {
    if (issuers.length === 0) issuers = [oidcIssuer]
    else if (!issuers.includes(oidcIssuer)) issues.push({ path: 'JWTGATE_ISSUER', message: `must include the OIDC issuer ${oidcIssuer}` })
  }

  if (issues.length > 0) throw new ConfigError(issues)
  return deepFreeze<Config>({
    host: env2.JWTGATE_HOST,
    port: env2.JWTGATE_PORT,
    upstream: { url: env2.JWTGATE_UPSTREAM, base: parseUpstreamBase(env2.JWTGATE_UPSTREAM), timeoutMs: env2.JWTGATE_UPSTREAM_TIMEOUT },
    trustedProxies: env2.JWTGATE_TRUSTED_PROXIES,
    keys: {
      local,
      jwksUrl,
      oidcIssuer,
      cooldownMs: env2.JWTGATE_JWKS_COOLDOWN,
      timeoutMs: env2.JWTGATE_JWKS_TIMEOUT,
      maxAgeMs: env2.JWTGATE_JWKS_MAX_AGE,
      allowInsecure,
    },
    verify: {
      algorithms,
      issuers,
      audiences: env2.JWTGATE_AUDIENCE,
      clockSkewSec: env2.JWTGATE_CLOCK_SKEW,
      requiredClaims: env2.JWTGATE_REQUIRED_CLAIMS,
      requiredTyp: env2.JWTGATE_REQUIRED_TYP,
    },
    tokenSources: env2.JWTGATE_TOKEN_SOURCES,
    maxTokenBytes: env2.JWTGATE_MAX_TOKEN_BYTES,
    publicPaths: env2.JWTGATE_PUBLIC_PATHS,
    policy: {
      requiredScopes: env2.JWTGATE_REQUIRED_SCOPES,
      requiredRoles: env2.JWTGATE_REQUIRED_ROLES,
      rolesClaim: env2.JWTGATE_ROLES_CLAIM,
    },
    forward: { claims: env2.JWTGATE_FORWARD_CLAIMS ?? [], token: env2.JWTGATE_FORWARD_TOKEN },
    log: { level: env2.JWTGATE_LOG_LEVEL, format: env2.JWTGATE_LOG_FORMAT },
  })
}
