/**
 * @module createGateway: the runtime-agnostic core, `(Request) => Promise<Response>`. Normalises
 * the request, decides (decide.ts), proxies; every error becomes a response in respond.ts.
 */
import { encodeClaim, readClaim } from './auth/claims.ts'
import { removeCookie, type FoundToken } from './auth/token.ts'
import type { Config } from './config/load.ts'
import { decide, type Decision } from './decide.ts'
import { ForbiddenError, GatewayError } from './errors.ts'
import { silentLogger, type Logger } from './log.ts'
import { forward, type ForwardOptions } from './proxy/forward.ts'
import { acceptableRequestId, downstreamHeaders, upstreamHeaders } from './proxy/headers.ts'
import { searchWithout, upstreamUrl } from './proxy/url.ts'
import { errorResponse } from './respond.ts'
import { checkMethod } from './routing/method.ts'
import { normalizeTarget, type Target } from './routing/path.ts'
import { upstreamPath } from './routing/rewrite.ts'
import { buildState, isReady, retireState, type State } from './state.ts'

/** What the host runtime provides. All optional: the defaults are the global ones. */
export interface GatewayDeps {
  /** Used for upstream requests and JWKS/OIDC fetches. */
  readonly fetch?: typeof fetch
  /** The clock, in milliseconds since the epoch. */
  readonly now?: () => number
  readonly logger?: Logger
  /** Runtime-specific options for upstream fetches, e.g. Bun's `{ decompress: false }`. */
  readonly fetchInit?: Readonly<Record<string, unknown>>
  /**
   * Content codings this runtime's fetch decodes by itself despite `fetchInit` (Deno: gzip, br).
   * The runtime then negotiates `Accept-Encoding` itself, and a response it decoded loses
   * `Content-Encoding`/`Content-Length` so the client's headers fit the body.
   */
  readonly decodedEncodings?: readonly string[]
}

/** Runtime-neutral facts about the connection, filled in by each entrypoint. */
export interface ConnectionInfo {
  readonly clientAddress?: string
}

export interface Gateway {
  fetch(request: Request, info?: ConnectionInfo): Promise<Response>
  /** True once every key source has a key set. */
  readonly ready: boolean
  /** The configuration in force. */
  readonly config: Config
  /** Swaps in a new configuration atomically; requests in flight finish on the old one. */
  reload(config: Config): void
  /** Stops background work (JWKS retries). */
  close(): void
}

const NO_INFO: ConnectionInfo = Object.freeze({})
const JSON_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store' }

/** The authority of an absolute URL (a Request built without a Host header). */
function urlHost(url: string): string {
  const start = url.indexOf('://') + 3
  const end = url.indexOf('/', start)
  return url.slice(start, end < 0 ? undefined : end)
}

/** Per-request facts the access log reports. */
interface Outcome {
  route: string | undefined
  code: string | undefined
  requirement: string | undefined
  sub: string | undefined
  upstreamStatus: number | undefined
}

/**
 * Builds a gateway from a loaded Config (see mod.ts for serving it from Bun or Deno).
 *
 * @example
 * const gateway = createGateway(await loadConfig(env), { logger })
 * const response = await gateway.fetch(request, { clientAddress: '192.0.2.1' })
 */
export function createGateway(config: Config, deps: GatewayDeps = {}): Gateway {
  const now = deps.now ?? Date.now
  const logger = deps.logger ?? silentLogger
  const stateDeps = { fetch: deps.fetch ?? globalThis.fetch, now, logger }
  let state = buildState(config, stateDeps)
  const decodedEncodings = deps.decodedEncodings ?? []
  const logRequests = logger.enabled('info')

  function removeTokens(s: State, headers: Headers, search: string, found: FoundToken | undefined): string {
    for (const provider of s.providers.values()) {
      for (const source of provider.config.tokenSources) {
        if (source.kind === 'authorization') {
          const value = headers.get('authorization')
          if (value !== null && value.slice(0, 7).toLowerCase() === 'bearer ') headers.delete('authorization')
        } else if (source.kind === 'header') headers.delete(source.name)
        else if (source.kind === 'cookie') {
          const cookie = headers.get('cookie')
          if (cookie === null) continue
          const rest = removeCookie(cookie, source.name)
          if (rest === undefined) headers.delete('cookie')
          else headers.set('cookie', rest)
        } else if (search !== '' && (found === undefined || found.source === source)) {
          search = searchWithout(search, source.name)
        }
      }
    }
    return search
  }

  async function proxy(s: State, request: Request, target: Target, info: ConnectionInfo, requestId: string, decision: Decision, outcome: Outcome): Promise<Response> {
    const route = decision.route.route
    const upstream = s.upstreams.get(route.upstream)!
    const headers = upstreamHeaders(
      request.headers,
      {
        clientAddress: info.clientAddress,
        proto: request.url.startsWith('https:') ? 'https' : 'http',
        host: request.headers.get('host') ?? urlHost(request.url),
        requestId,
        trustedProxies: s.config.trustedProxies,
      },
      s.strip,
    )
    if (decodedEncodings.length > 0) headers.delete('accept-encoding')
    let search = target.search
    if (!s.config.forwardToken) search = removeTokens(s, headers, search, decision.found)
    const claims = decision.claims
    if (claims !== undefined) {
      for (const { claim, header } of route.claimHeaders) {
        const value = encodeClaim(readClaim(claims, claim))
        if (value !== undefined) headers.set(header, value)
      }
    }
    const path = upstreamPath(route, target.path, request.method, decision.params)
    const options: ForwardOptions = { fetch: stateDeps.fetch, timeoutMs: upstream.timeoutMs, init: deps.fetchInit ?? {} }
    const response = await forward(request, upstreamUrl(upstream.base, path, search), headers, options)
    outcome.upstreamStatus = response.status
    const encoding = decodedEncodings.length > 0 ? response.headers.get('content-encoding') : null
    const decoded = encoding !== null && decodedEncodings.includes(encoding.trim().toLowerCase())
    return new Response(response.body, {
      status: response.status,
      statusText: response.statusText,
      headers: downstreamHeaders(response.headers, decoded, requestId),
    })
  }

  async function handle(s: State, request: Request, target: Target, info: ConnectionInfo, requestId: string, outcome: Outcome): Promise<Response> {
    const path = target.path
    if ((path === '/healthz' || path === '/readyz') && (request.method === 'GET' || request.method === 'HEAD')) {
      const ok = path === '/healthz' || isReady(s)
      return new Response(JSON.stringify({ status: ok ? 'ok' : 'starting' }), {
        status: ok ? 200 : 503,
        headers: { ...JSON_HEADERS, 'x-request-id': requestId },
      })
    }
    const decision = await decide(s, request, target, undefined, outcome)
    const sub = decision.claims?.sub
    outcome.sub = typeof sub === 'string' ? sub : undefined
    return proxy(s, request, target, info, requestId, decision, outcome)
  }

  async function handleRequest(request: Request, info: ConnectionInfo = NO_INFO): Promise<Response> {
    // The state at arrival serves the whole request, even if a reload swaps it meanwhile.
    const s = state
    const started = now()
    const incomingId = request.headers.get('x-request-id')
    const requestId = acceptableRequestId(incomingId) ? incomingId : crypto.randomUUID()
    const outcome: Outcome = { route: undefined, code: undefined, requirement: undefined, sub: undefined, upstreamStatus: undefined }
    let response: Response
    let target: Target | undefined
    try {
      checkMethod(request.method)
      target = normalizeTarget(request.url)
      response = await handle(s, request, target, info, requestId, outcome)
    } catch (e) {
      outcome.code = e instanceof GatewayError ? e.code : 'internal_error'
      if (e instanceof ForbiddenError) outcome.requirement = e.requirement
      if (!(e instanceof GatewayError)) logger.log('error', 'internal_error', { request_id: requestId, error: e instanceof Error ? e.name : 'unknown' })
      response = errorResponse(e, requestId)
      if (s.config.debugHeaders) response.headers.set('x-jwtgate-reason', outcome.requirement === undefined ? outcome.code : `${outcome.code}; ${outcome.requirement}`)
    }
    if (logRequests) {
      logger.log('info', 'request', {
        request_id: requestId,
        client: info.clientAddress,
        method: request.method,
        path: target?.path,
        route: outcome.route,
        status: response.status,
        decision: outcome.code ?? 'allowed',
        requirement: outcome.requirement,
        sub: outcome.sub,
        upstream_status: outcome.upstreamStatus,
        duration_ms: now() - started,
      })
    }
    return response
  }

  return {
    fetch: handleRequest,
    get ready() {
      return isReady(state)
    },
    get config() {
      return state.config
    },
    reload(next: Config) {
      const old = state
      state = buildState(next, stateDeps, old)
      retireState(old, state)
    },
    close() {
      retireState(state)
    },
  }
}
