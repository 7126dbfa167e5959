/**
 * @module loadConfig: environment (and, with JWTGATE_CONFIG, a JSON or YAML file) → a validated,
 * typed, frozen Config with every local key imported. All problems are collected and thrown
 * together as one ConfigError, each at its place: a variable name or a path in the file.
 *
 * The steps, each in its module: the variables (env.ts, schema.ts), the file (file.ts,
 * file-schema.ts), the providers, upstreams and routes of either (from-env.ts or from-file.ts,
 * with provider.ts), and the top-level settings, a variable over the file (merge.ts).
 */
import { ConfigError, type ConfigIssue } from '../errors.ts'
import { compileRoutes, shadowedRoutes } from '../routing/routes.ts'
import { envInput } from './env.ts'
import { readConfigFile } from './file.ts'
import type { FileConfig } from './file-schema.ts'
import { compileEnvironment } from './from-env.ts'
import { compileFile } from './from-file.ts'
import { mergeSettings } from './merge.ts'
import { refuseUpstreamOnly } from './local.ts'
import {
  audienceWarnings,
  cooldownWarnings,
  issuerWarnings,
  mixedIssuerWarnings,
} from './provider.ts'
import { compileRateLimits, headerKeyWarnings } from './rate-limits.ts'
import { redisSettings } from './redis.ts'
import { adminToken, revocationSettings } from './revocations.ts'
import { parseEnv, ROUTE_VARIABLES } from './schema.ts'
import type { Config, Environment, ReadFile, RouteConfig } from './types.ts'

/** What loadConfig returns (the types of its parts are in types.ts). */
export type { Config } from './types.ts'

/** How loadConfig reaches files (the core has no file system of its own). */
export interface LoadOptions {
  /** Reads `_FILE` variables, the configuration file and `{ "file": … }` secrets. */
  readonly readFile?: ReadFile
  /**
   * The configuration guards a handler in the same process (`protect`, `createVerifier`): no
   * upstream is needed, and routes may name none.
   */
  readonly local?: boolean
}

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

/** Routes an earlier route always wins over: warnings, not errors. */
function shadowWarnings(routes: readonly RouteConfig[]): string[] {
  return shadowedRoutes(compileRoutes(routes)).map(([later, earlier]) =>
    `${routes[later]!.place} (${routes[later]!.pattern}) is shadowed by ${
      routes[earlier]!.place
    } (${routes[earlier]!.pattern}) and never matches`
  )
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
  const values = parseEnv(input, named, issues)
  const filePath = values.JWTGATE_CONFIG

  let file: FileConfig | undefined
  // No upstream is needed to guard a handler in this process, nor to answer other proxies' checks.
  const local = options.local === true ||
    ('JWTGATE_MODE' in input ? values.JWTGATE_MODE === 'auth' : undefined)
  if (filePath !== undefined) {
    refuseRouteVariables(env, input, issues)
    file = await readConfigFile(filePath, options.readFile, issues, local)
    if (file === undefined) throw new ConfigError(issues)
  }
  const parts = file === undefined
    ? await compileEnvironment(values, named, issues, local === true)
    : await compileFile(file, env, options.readFile, issues)
  const settings = mergeSettings(values, input, file, options.readFile, issues)
  if (options.local === true) {
    refuseUpstreamOnly(parts.routes, settings.stripHeaders, file !== undefined, issues)
  }
  const rateLimits = compileRateLimits(file, parts.routes, parts.providers, issues)
  const redis = redisSettings(values, input, file, env, options.readFile, issues)
  const revocations = revocationSettings(
    values,
    input,
    file,
    redis !== undefined,
    parts.providers,
    issues,
  )
  const token = adminToken(
    values,
    input,
    file,
    env,
    options.readFile,
    settings.admin !== undefined,
    issues,
  )
  if (issues.length > 0) throw new ConfigError(issues)
  // Assembled in Config's field order (the listener's settings, the parts, then the rest).
  const {
    mode,
    forwardAuth,
    log,
    admin,
    shutdownTimeoutMs,
    workers,
    tls,
    cors,
    limits,
    websockets,
    rateLimit,
    tokenCache,
    ...listener
  } = settings
  return deepFreeze<Config>({
    mode,
    forwardAuth,
    ...listener,
    ...parts,
    log,
    admin: admin === undefined ? undefined : { ...admin, token },
    shutdownTimeoutMs,
    workers,
    tls,
    cors,
    limits,
    websockets,
    rateLimit,
    rateLimits,
    redis,
    revocations,
    tokenCache,
    file: filePath === undefined || file === undefined
      ? undefined
      : { path: filePath, watch: file.watch },
    warnings: [
      ...shadowWarnings(parts.routes),
      ...audienceWarnings(parts.providers, file !== undefined),
      ...issuerWarnings(parts.providers, file !== undefined),
      ...cooldownWarnings(parts.providers, file !== undefined),
      ...mixedIssuerWarnings(parts.routes, parts.providers),
      ...headerKeyWarnings(rateLimits, rateLimit !== undefined),
    ],
  })
}

/** Next to a file, the variables of the environment-only setup are refused: the file says it. */
function refuseRouteVariables(
  env: Environment,
  input: Readonly<Record<string, string>>,
  issues: ConfigIssue[],
): void {
  for (const variable of ROUTE_VARIABLES) {
    if (variable in input || (variable.endsWith('_FILE') && env[variable])) {
      issues.push({
        path: variable,
        message:
          'describes the environment-only setup; with JWTGATE_CONFIG, set it in the file (secrets as { "env": "NAME" } or { "file": "/path" })',
      })
    }
  }
}
