/**
 * @module The access decision for one request, apart from proxying: route, token, provider,
 * verification, requirements. The gateway and `jwtgate explain` share it; with a trace it also
 * records every step (explain), without one it does no extra work (the hot path).
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
import type { RouteConfig } from './config/load.ts'
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

function findRoute(state: State, method: string, path: string, trace?: Trace) {
  if (trace === undefined) return matchRoute(state.routes, method, path)
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
function gate(state: State, note: DecisionNote | undefined, now: number): void {
  if (state.limiter === undefined || note === undefined) return
  const wait = state.limiter.wait(addressKey(note.client), now)
  if (wait > 0) {
    throw new LimitError('rate_limited', 'Too many requests; retry later.', Math.ceil(wait / 1000))
  }
}

/**
 * Decides whether `request` may pass, and where to. Throws a GatewayError (404 no route, 401, 403,
 * 503) otherwise. `note` receives the route's name, then the token's subject and issuer, as
 * soon as each is known.
 */
export function decide(
  state: State,
  request: Request,
  target: Target,
  trace?: Trace,
  note?: DecisionNote,
): Decision | Promise<Decision> {
  const match = findRoute(state, request.method, target.path, trace)
  if (match === undefined) throw new NoRouteError()
  const route = match.route.route
  if (note !== undefined) note.route = route.name
  if (route.auth === 'public') {
    trace?.push({ step: `auth public: no token needed`, ok: true })
    return {
      route: match.route,
      params: match.params,
      claims: undefined,
      provider: undefined,
      found: undefined,
      cached: undefined,
    }
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
    if (route.auth === 'optional') {
      return {
        route: match.route,
        params: match.params,
        claims: undefined,
        provider: undefined,
        found: undefined,
        cached: undefined,
      }
    }
    gate(state, note, now)
    throw new TokenError('token_missing', 'A bearer token is required.')
  }
  trace?.push({ step: `token: found in ${describeTokenSource(found.source)}`, ok: true })
  const candidates = auth.candidates.get(found.source)!
  const cached = state.cache?.get(found.token, now, state.keysVersion)
  if (cached !== undefined) {
    // The hot path: a token verified before needs no decoding and no await, when the provider
    // this request would choose is the one that verified it (else it is verified afresh).
    const provider = pickProvider(candidates, cached.claims.iss)
    if (provider !== undefined && provider.config.name === cached.provider) {
      if (state.metrics !== undefined) state.metrics.cacheHits.value++
      trace?.push({
        step: `token: verified before by provider ${provider.config.name} (cache)`,
        ok: true,
      })
      return authorize(match, request, cached.claims, provider, found, cached, trace, note)
    }
  }
  if (state.cache !== undefined && state.metrics !== undefined) state.metrics.cacheMisses.value++
  gate(state, note, now)
  checkTokenShape(found.token)
  return verifyThenAuthorize(state, match, request, found, candidates, now, trace, note)
}

async function verifyThenAuthorize(
  state: State,
  match: RouteMatch<RouteConfig>,
  request: Request,
  found: FoundToken,
  candidates: readonly Provider[],
  now: number,
  trace: Trace | undefined,
  note: DecisionNote | undefined,
): Promise<Decision> {
  let provider: Provider
  let claims: Claims
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
    state.keysVersion(name),
    provider.config.verify.clockSkewSec,
    now,
  )
  trace?.push({
    step: 'verification: signature, times, issuer, audience, required claims',
    ok: true,
  })
  return authorize(match, request, claims, provider, found, cached, trace, note)
}

/** The route's requirements on verified claims; the decision when they hold. */
function authorize(
  match: RouteMatch<RouteConfig>,
  request: Request,
  claims: Claims,
  provider: Provider,
  found: FoundToken,
  cached: CachedToken | undefined,
  trace: Trace | undefined,
  note: DecisionNote | undefined,
): Decision {
  if (note !== undefined) {
    note.sub = typeof claims.sub === 'string' ? claims.sub : undefined
    note.iss = typeof claims.iss === 'string' ? claims.iss : undefined
  }
  checkRequirements(match.route.route.require, claims, {
    method: request.method,
    params: match.params,
  }, trace)
  return { route: match.route, params: match.params, claims, provider, found, cached }
}

/** What the access log learns as the decision goes, even when it ends in a rejection. */
export interface DecisionNote {
  /** The client's address: its JWTGATE_RATE_LIMIT bucket when no verified token speaks for it. */
  readonly client: string | undefined
  route: string | undefined
  sub: string | undefined
  iss: string | undefined
}
