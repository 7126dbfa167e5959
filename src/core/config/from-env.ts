/**
 * @module The environment-only setup → Config parts: one provider `default`, one upstream
 * `default`, the JWTGATE_PUBLIC_PATHS as public routes, then the route `/*` with the
 * JWTGATE_REQUIRED_SCOPES / JWTGATE_REQUIRED_ROLES requirements.
 */
import { compileRequirements, NO_REQUIREMENTS } from '../auth/requirements.ts'
import type { ConfigIssue } from '../errors.ts'
import { parseUpstreamBase } from '../proxy/url.ts'
import { compileProvider, type ProviderSpec } from './provider.ts'
import type { EnvValues } from './schema.ts'
import type { Config, RouteConfig } from './types.ts'

/** The variable behind each provider field, to place its problems. */
const ENV_FIELD: Record<string, string> = {
  secret: 'JWTGATE_SECRET',
  publicKey: 'JWTGATE_PUBLIC_KEY',
  jwksUrl: 'JWTGATE_JWKS_URL',
  oidcIssuer: 'JWTGATE_OIDC_ISSUER',
  issuer: 'JWTGATE_ISSUER',
  algorithms: 'JWTGATE_ALGORITHMS',
  provider: 'key source',
}

function providerSpec(env: EnvValues, named: (variable: string) => string): ProviderSpec {
  return {
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
}

function routes(env: EnvValues): RouteConfig[] {
  const base = {
    methods: undefined,
    upstream: 'default',
    providers: ['default'],
    stripPrefix: undefined,
    rewrite: undefined,
    claimHeaders: env.JWTGATE_FORWARD_CLAIMS ?? [],
  }
  const routes: RouteConfig[] = env.JWTGATE_PUBLIC_PATHS.map((pattern) => ({
    ...base,
    name: `public ${pattern}`,
    place: 'JWTGATE_PUBLIC_PATHS',
    pattern,
    auth: 'public' as const,
    require: NO_REQUIREMENTS,
    websockets: false,
  }))
  routes.push({
    ...base,
    name: 'default',
    place: 'default route',
    pattern: '/*',
    auth: 'required',
    require: compileRequirements({
      scopes: { all: env.JWTGATE_REQUIRED_SCOPES },
      roles: { any: env.JWTGATE_REQUIRED_ROLES, claim: env.JWTGATE_ROLES_CLAIM },
    }, 'JWTGATE_REQUIRED_SCOPES/ROLES'),
    websockets: true,
  })
  return routes
}

/**
 * The providers, upstreams and routes the variables describe; problems go to `issues`, each named
 * by its variable (`named` gives the `_FILE` variable a value was read from).
 */
export async function compileEnvironment(
  env: EnvValues,
  named: (variable: string) => string,
  issues: ConfigIssue[],
  local = false,
): Promise<Pick<Config, 'providers' | 'upstreams' | 'routes'>> {
  // A handler guarded in the same process (guard.ts) has no upstream.
  if (
    !local && env.JWTGATE_UPSTREAM === undefined &&
    !issues.some((i) => i.path === 'JWTGATE_UPSTREAM')
  ) {
    issues.push({
      path: 'JWTGATE_UPSTREAM',
      message: 'is required: the base URL of the API to protect, e.g. http://127.0.0.1:3000',
    })
  }
  // A key variable with a bad value already says what is wrong: no "none configured" on top.
  const keyIssue = issues.some((i) => /SECRET|PUBLIC_KEY|JWKS_URL|OIDC_ISSUER/.test(i.path))
  const providerIssues: ConfigIssue[] = []
  const provider = await compileProvider(providerSpec(env, named), providerIssues)
  issues.push(...providerIssues.filter((i) => !(keyIssue && i.path === 'key source')))
  const upstreams = env.JWTGATE_UPSTREAM === undefined ? [] : [{
    name: 'default',
    url: env.JWTGATE_UPSTREAM,
    base: parseUpstreamBase(env.JWTGATE_UPSTREAM),
    timeoutMs: env.JWTGATE_UPSTREAM_TIMEOUT,
  }]
  return { providers: [provider], upstreams, routes: routes(env) }
}
