/**
 * @module `jwtgate explain`: the decision for one request, step by step, without contacting the
 * upstream — which route matched and why earlier ones did not, the provider, verification, each
 * requirement with the claim value it saw, and the final status.
 */
import type { Trace } from './auth/requirements.ts'
import type { Config } from './config/types.ts'
import { isWebSocketUpgrade } from './auth/token.ts'
import { authenticate, authorize, type Decision, route as routeFor } from './decide.ts'
import { GatewayError } from './errors.ts'
import { silentLogger, terminalSafe } from './log.ts'
import { upstreamUrl } from './proxy/url.ts'
import { checkMethod } from './routing/method.ts'
import { checkTokenAge, revocationsConfigured } from './revocation/check.ts'
import { normalizeTarget } from './routing/path.ts'
import { upstreamPath } from './routing/rewrite.ts'
import { buildState, isReady, retireState } from './state.ts'
import { checkWebSocketRoute } from './websocket/proxy.ts'

export interface Explanation {
  readonly method: string
  readonly path: string | undefined
  readonly status: number
  readonly decision: string
  readonly route: string | undefined
  /** The upstream URL the request would go to (never contacted). */
  readonly upstream: string | undefined
  readonly steps: Trace
}

export interface ExplainDeps {
  readonly fetch?: typeof fetch
  readonly now?: () => number
  /** How long to wait for remote key sets to load. */
  readonly keysTimeoutMs?: number
}

/** Explains what the gateway would do with `request` under `config`. */
export async function explain(
  config: Config,
  request: Request,
  deps: ExplainDeps = {},
): Promise<Explanation> {
  const now = deps.now ?? Date.now
  const state = buildState(config, {
    fetch: deps.fetch ?? globalThis.fetch,
    now,
    logger: silentLogger,
  })
  const steps: Trace = []
  let path: string | undefined
  let routeName: string | undefined
  try {
    const deadline = Date.now() + (deps.keysTimeoutMs ?? 5000)
    while (!isReady(state) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    if (!isReady(state)) steps.push({ step: 'keys: a remote key set has not loaded', ok: false })
    checkMethod(request.method)
    const target = normalizeTarget(request.url)
    path = target.path
    steps.push({ step: `request ${request.method} ${target.path}${target.search}`, ok: true })
    const match = routeFor(state, request.method, target.path, steps)
    routeName = match.route.route.name
    const decision = await authenticate(state, match, request, target, undefined, steps)
    if (decision.claims !== undefined && revocationsConfigured(config)) {
      // The rule a gateway with revocations applies; the list itself is not consulted here.
      const max = config.revocations.maxTokenLifetimeSec
      checkTokenAge(decision, max, now())
      steps.push({ step: `token: issued within the longest token lifetime (${max}s)`, ok: true })
    }
    authorize(decision, request.method, steps)
    const route = decision.route.route
    const base = state.upstreams.get(route.upstream)!.base
    const upgrade = isWebSocketUpgrade(request.headers)
    if (upgrade) explainWebSocket(config, decision, steps)
    steps.push({ step: 'allowed', ok: true })
    return {
      method: request.method,
      path,
      status: upgrade ? 101 : 200,
      decision: 'allowed',
      route: route.name,
      upstream: (upgrade ? 'ws' : 'http') + upstreamUrl(
        base,
        upstreamPath(route, target.path, request.method, decision.params),
        target.search,
      ).slice(4),
      steps,
    }
  } catch (e) {
    const error = e instanceof GatewayError ? e : undefined
    steps.push({
      step: `rejected: ${error?.code ?? 'internal_error'}`,
      ok: false,
      detail: error?.detail,
    })
    return {
      method: request.method,
      path,
      status: error?.status ?? 500,
      decision: error?.code ?? 'internal_error',
      route: routeName,
      upstream: undefined,
      steps,
    }
  } finally {
    retireState(state)
  }
}

/**
 * An upgrade's steps: whether the route takes WebSockets (else the refusal), and when the
 * connection would be closed for its token's expiry.
 */
function explainWebSocket(config: Config, decision: Decision, steps: Trace): void {
  if (!config.websockets.enabled || !decision.route.route.websockets) {
    steps.push({ step: 'websocket: this route does not take upgrades', ok: false })
  }
  checkWebSocketRoute(config, decision.route.route)
  const exp = decision.claims?.exp
  const skew = decision.provider?.config.verify.clockSkewSec ?? 0
  const closes = typeof exp === 'number'
    ? `closed (1008) at ${
      new Date((exp + skew) * 1000 + config.websockets.expiryGraceMs).toISOString()
    }: exp + ${skew} s clock skew${
      config.websockets.expiryGraceMs > 0
        ? ` + ${config.websockets.expiryGraceMs / 1000} s grace`
        : ''
    }, or earlier if revoked`
    : 'no exp: open until either side closes it, or a revocation'
  steps.push({ step: `websocket: upgrade proxied; ${closes}`, ok: true })
}

/** Plain-text form: one line per step, ✓ or ✗, then the final status. */
export function formatExplanation(e: Explanation): string {
  // A step shows the token's own values (its roles, its claims): the issuer's text, never the
  // terminal's commands.
  const lines = e.steps.map((s) =>
    terminalSafe(`${s.ok ? '✓' : '✗'} ${s.step}${s.detail !== undefined ? ` (${s.detail})` : ''}`)
  )
  lines.push(
    `→ ${e.status} ${e.decision}${e.route !== undefined ? ` via route "${e.route}"` : ''}${
      e.upstream !== undefined ? ` to ${e.upstream}` : ''
    }`,
  )
  return lines.join('\n')
}
