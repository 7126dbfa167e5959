/**
 * @module The configuration file → Config parts: its named providers (keys imported), named
 * upstreams and ordered routes, with the checks between them. The file is validated already and
 * its defaults filled in (file-schema.ts); each problem is reported at its place in the file.
 */
import { compileRequirements, conditionParams, NO_REQUIREMENTS } from '../auth/requirements.ts'
import { parseTokenSource } from '../auth/token.ts'
import type { ConfigIssue } from '../errors.ts'
import { parseUpstreamBase, upstreamBaseProblem } from '../proxy/url.ts'
import { parseTemplate, templateParams } from '../routing/template.ts'
import { claimHeadersFromFile } from './claim-headers.ts'
import type { FileConfig, ProviderInput, RouteInput } from './file-schema.ts'
import { compileProvider, type ProviderSpec } from './provider.ts'
import { routeReferenceIssues } from './references.ts'
import { decodeSecret, INVALID_BASE64, resolveSecret } from './secrets.ts'
import type { Config, Environment, ReadFile, RouteConfig, UpstreamConfig } from './types.ts'
import { durationMs } from './values.ts'

const list = (value: string | string[] | undefined) =>
  value === undefined ? [] : Array.isArray(value) ? value : [value]

function providerSpec(
  name: string,
  p: ProviderInput,
  env: Environment,
  readFile: ReadFile | undefined,
  issues: ConfigIssue[],
): ProviderSpec {
  const place = (field: string) =>
    field === 'provider' ? `providers.${name}` : `providers.${name}.${field}`
  const secretText = resolveSecret(p.secret, place('secret'), env, readFile, issues)
  const secret = secretText === undefined ? undefined : decodeSecret(secretText)
  if (secretText !== undefined && secret === undefined) {
    issues.push({ path: place('secret'), message: INVALID_BASE64 })
  }
  return {
    name,
    place,
    secret,
    publicKey: resolveSecret(p.publicKey, place('publicKey'), env, readFile, issues),
    jwksUrl: p.jwksUrl,
    oidcIssuer: p.oidcIssuer,
    cooldownMs: durationMs(p.jwksCooldown),
    timeoutMs: durationMs(p.jwksTimeout),
    maxAgeMs: durationMs(p.jwksMaxAge),
    allowInsecure: p.allowInsecureJwks,
    algorithms: p.algorithms,
    issuers: list(p.issuer),
    audiences: list(p.audience),
    clockSkewSec: p.clockSkew,
    requiredClaims: p.requiredClaims,
    requiredTyp: p.requiredTyp,
    tokenSources: p.tokenSources.map((s) => parseTokenSource(s)!),
  }
}

function upstreams(file: FileConfig, issues: ConfigIssue[]): UpstreamConfig[] {
  const out: UpstreamConfig[] = []
  for (const [name, u] of Object.entries(file.upstreams ?? {})) {
    const problem = upstreamBaseProblem(u.url)
    if (problem !== undefined) issues.push({ path: `upstreams.${name}.url`, message: problem })
    else {
      out.push({
        name,
        url: u.url,
        base: parseUpstreamBase(u.url),
        timeoutMs: durationMs(u.timeout),
      })
    }
  }
  return out
}

function route(
  r: RouteInput,
  index: number,
  file: FileConfig,
  issues: ConfigIssue[],
): RouteConfig {
  const place = `routes[${index}]`
  const { auth } = r
  const defined = new Map(Object.entries(file.providers ?? {}))
  const upstreamNames = Object.keys(file.upstreams ?? {})
  issues.push(...routeReferenceIssues(r, place, upstreamNames, [...defined.keys()]))
  const providers = r.providers ?? [...defined.keys()]
  if (auth !== 'public' && providers.length === 0) {
    issues.push({ path: place, message: `auth "${auth}" needs a provider, and none is defined` })
  }
  if (providers.length > 1) {
    for (const name of providers) {
      const p = defined.get(name)
      if (p !== undefined && list(p.issuer).length === 0 && p.oidcIssuer === undefined) {
        issues.push({
          path: `providers.${name}.issuer`,
          message:
            `is required: ${place} accepts several providers, and tokens go to a provider by their "iss"`,
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
  const require = r.require === undefined
    ? NO_REQUIREMENTS
    : compileRequirements(r.require, `${place}.require`)
  // A claim condition naming a parameter the path lacks would compare the claim with '' (a
  // token whose claim is empty passes): refused, as a rewrite's is.
  for (const { name, place: where } of conditionParams(require.claims)) {
    if (!params.has(name)) {
      issues.push({ path: where, message: `{params.${name}} is not a parameter of ${r.path}` })
    }
  }
  return {
    name: r.name ?? place,
    place,
    pattern: r.path,
    methods: r.methods,
    // Absent only in a local file (LocalFileSchema): the guarded handler answers.
    upstream: r.upstream ?? '',
    auth,
    providers: auth === 'public' ? [] : providers,
    stripPrefix: r.stripPrefix?.replace(/\/+$/, ''),
    rewrite,
    claimHeaders: claimHeadersFromFile(r.claimHeaders ?? {}, place, issues),
    require,
    websockets: r.websockets ?? auth !== 'public',
  }
}

/**
 * The providers, upstreams and routes of a validated file; problems go to `issues`. Secrets
 * written `{ "env": NAME }` are read from `env`, `{ "file": path }` with `readFile`.
 */
export async function compileFile(
  file: FileConfig,
  env: Environment,
  readFile: ReadFile | undefined,
  issues: ConfigIssue[],
): Promise<Pick<Config, 'providers' | 'upstreams' | 'routes'>> {
  const providers = []
  for (const [name, p] of Object.entries(file.providers ?? {})) {
    providers.push(await compileProvider(providerSpec(name, p, env, readFile, issues), issues))
  }
  const compiledUpstreams = upstreams(file, issues)
  const routes = (file.routes ?? []).map((r, i) => route(r, i, file, issues))
  if (routes.length === 0) {
    issues.push({ path: 'routes', message: 'is empty: without routes every request would be 404' })
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
  return { providers, upstreams: compiledUpstreams, routes }
}
