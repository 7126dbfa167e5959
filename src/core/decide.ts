/**
 * @module The access decision for one request, apart from proxying, in the steps the gateway
 * runs: `route` (which route), `authenticate` (which token, which provider, verified or taken from
 * the cache), `authorize` (the route's requirements); `jwtgate explain` runs the same three. With
 * a trace every step is recorded (explain); without one nothing extra is done (the hot path). The steps return what they found; the caller keeps its own record.
 */
import type { CachedToken } from './auth/cache.ts'
import type { Claims } from './auth/claims.ts'
import { checkRequirements, type Trace } from './auth/requirements.ts'
import {
  checkTokenShape,
  describeTokenSource,
  extractToken,
  type FoundToken,
} from './auth/token.ts'
import { readHeader } from './auth/verify.ts'
import type { RouteConfig } from './config/types.ts'
import { GatewayError, LimitError, NoRouteError, TokenError } from './errors.ts'
import { addressKey } from './rate-limit.ts'
import type { Target } from './routing/path.ts'
import { type CompiledRoute, matchPath, matchRoute, type RouteMatch } from './routing/routes.ts'
import type { Provider, State } from './state.ts'

export interface Decision {
  readonly route: CompiledRoute<RouteConfig>
  readonly params: Readonly<Record<string, string>>
  /** Verified claims; undefined on a public route, or an optional one without a token. */
  readonly claims: Claims | undefined
  readonly provider: Provider | undefined
  readonly found: FoundToken | undefined
  /** The token's cache entry, where per-route claim headers are kept once encoded. */
  readonly cached: CachedToken | undefined
}

/** The first route whose methods and pattern match; throws 404 no_route. */
export function route(
  state: State,
  method: string,
  path: string,
  trace?: Trace,
): RouteMatch<RouteConfig> {
  const match = trace === undefined
    ? matchRoute(state.routes, method, path)
    : tracedMatch(state, method, path, trace)
  if (match === undefined) throw new NoRouteError()
  return match
}

function tracedMatch(state: State, method: string, path: string, trace: Trace) {
  for (const route of state.routes) {
    const where = `${route.route.place} ${route.pattern}${
      route.methods ? ` [${[...route.methods].join(',')}]` : ''
    }`
    if (route.methods !== undefined && !route.methods.has(method)) {
      trace.push({ step: `${where}: method ${method} not listed`, ok: false })
      continue
    }
    const params = matchPath(route, path)
    if (params === undefined) {
      trace.push({ step: `${where}: path does not match`, ok: false })
      continue
    }
    trace.push({
      step: `${where}: matches`,
      ok: true,
      detail: Object.keys(params).length > 0 ? `params ${JSON.stringify(params)}` : undefined,
    })
    return { route, params }
  }
  return undefined
}

/**
 * The provider that verifies a token found in a source whose `candidates` are the route's
 * providers listing that source: the only one, unless the token names an `iss` it does not
 * accept; else the first whose issuers include the token's `iss`. Undefined: none may (401
 * wrong_issuer, and no key is tried). The one rule for fresh verifications and cache hits.
 */
function pickProvider(candidates: readonly Provider[], iss: unknown): Provider | undefined {
  if (candidates.length === 1) {
    const only = candidates[0]!
    const issuers = only.config.verify.issuers
    return typeof iss === 'string' && issuers.length > 0 && !issuers.includes(iss)
      ? undefined
      : only
  }
  if (typeof iss !== 'string') return undefined
  for (const provider of candidates) {
    if (provider.config.verify.issuers.includes(iss)) return provider
  }
  return undefined
}

const WRONG_ISSUER = 'The token was issued by an issuer that is not accepted.'

/** JWTGATE_RATE_LIMIT: an address over its limit is refused before its token costs a verification. */
function gate(state: State, client: string | undefined, now: number): void {
  if (state.limiter === undefined) return
  const wait = state.limiter.wait(addressKey(client), now)
  if (wait > 0) {
    throw new LimitError('rate_limited', 'Too many requests; retry later.', Math.ceil(wait / 1000))
  }
}

/**
 * The token for `match`'s route, verified: the decision with its claims, or without claims on a
 * public route and an optional one without a token. Throws TokenError (401), LimitError (429: the
 * client's address is over JWTGATE_RATE_LIMIT and its token would cost a verification) or
 * UnavailableError (503). A token the cache holds for the provider this request would choose
 * needs no decoding and no await: the result is then not a promise.
 */
export function authenticate(
  state: State,
  match: RouteMatch<RouteConfig>,
  request: Request,
  target: Target,
  client: string | undefined,
  trace?: Trace,
): Decision | Promise<Decision> {
  const route = match.route.route
  if (route.auth === 'public') {
    trace?.push({ step: `auth public: no token needed`, ok: true })
    return anonymous(match)
  }
  const auth = state.auth.get(route)!
  const found = extractToken(
    request.headers,
    target.search,
    auth.sources,
    state.config.maxTokenBytes,
  )
  const now = state.now()
  if (found === undefined) {
    trace?.push({ step: `token: none found (auth ${route.auth})`, ok: route.auth === 'optional' })
    if (route.auth === 'optional') return anonymous(match)
    gate(state, client, now)
    throw new TokenError('token_missing', 'A bearer token is required.')
  }
  trace?.push({ step: `token: found in ${describeTokenSource(found.source)}`, ok: true })
  const candidates = auth.candidates.get(found.source)!
  const cached = state.cache?.get(found.token, now, state.keysVersion)
  if (cached !== undefined) {
    // Counts only when the provider this request would choose is the one that verified it
    // (else it is verified afresh): a cache hit answers exactly as a fresh check would.
    const provider = pickProvider(candidates, cached.claims.iss)
    if (provider !== undefined && provider.config.name === cached.provider) {
      if (state.metrics !== undefined) state.metrics.cacheHits.value++
      trace?.push({
        step: `token: verified before by provider ${provider.config.name} (cache)`,
        ok: true,
      })
      return {
        route: match.route,
        params: match.params,
        claims: cached.claims,
        provider,
        found,
        cached,
      }
    }
  }
  if (state.cache !== undefined && state.metrics !== undefined) state.metrics.cacheMisses.value++
  gate(state, client, now)
  checkTokenShape(found.token)
  return verify(state, match, found, candidates, now, trace)
}

function anonymous(match: RouteMatch<RouteConfig>): Decision {
  return {
    route: match.route,
    params: match.params,
    claims: undefined,
    provider: undefined,
    found: undefined,
    cached: undefined,
  }
}

async function verify(
  state: State,
  match: RouteMatch<RouteConfig>,
  found: FoundToken,
  candidates: readonly Provider[],
  now: number,
  trace: Trace | undefined,
): Promise<Decision> {
  let provider: Provider
  let claims: Claims
  let keys: number
  try {
    const header = readHeader(found.token)
    trace?.push({
      step: `token header: alg ${header.alg}${
        header.kid !== undefined ? `, kid ${header.kid}` : ''
      }${header.iss !== undefined ? `, iss ${header.iss}` : ''}`,
      ok: true,
    })
    const chosen = pickProvider(candidates, header.iss)
    if (chosen === undefined) throw new TokenError('wrong_issuer', WRONG_ISSUER)
    provider = chosen
    trace?.push({ step: `provider ${provider.config.name}`, ok: true })
    // The key-set version the verification starts from: a refresh that lands while it runs
    // (another request's unknown kid) must not stamp this token as checked against the new
    // set, or a token whose key was just removed would be served from the cache. A version read
    // too early only costs a cache miss.
    keys = state.keysVersion(provider.config.name)
    const started = performance.now()
    try {
      claims = await provider.verifier.verify(found.token, header)
    } finally {
      state.metrics?.verifyDuration.observe(
        [provider.config.name],
        (performance.now() - started) / 1000,
      )
    }
  } catch (e) {
    trace?.push({
      step: 'verification',
      ok: false,
      detail: e instanceof GatewayError ? e.code : 'failed',
    })
    throw e
  }
  const name = provider.config.name
  const cached = state.cache?.set(
    found.token,
    claims,
    name,
    keys,
    provider.config.verify.clockSkewSec,
    now,
  )
  trace?.push({
    step: 'verification: signature, times, issuer, audience, required claims',
    ok: true,
  })
  return { route: match.route, params: match.params, claims, provider, found, cached }
}

/**
 * The route's requirements on the decision's verified claims, for a request with `method` (its
 * own, or the one a forward-authentication check asks about); throws ForbiddenError (403).
 */
export function authorize(decision: Decision, method: string, trace?: Trace): void {
  if (decision.claims === undefined) return
  checkRequirements(decision.route.route.require, decision.claims, {
    method,
    params: decision.params,
  }, trace)
}
