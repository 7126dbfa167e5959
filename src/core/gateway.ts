/**
 * @module createGateway: the runtime-agnostic core, `(Request) => Promise<Response>`. Wires the
 * key sources, verifier, policy and proxy together; every error becomes a response in respond.ts.
 */
import { encodeClaim, readClaim, type Claims } from './auth/claims.ts'
import { remoteSource } from './auth/jwks.ts'
import { checkPolicy } from './auth/policy.ts'
import { staticSource, type KeySource } from './auth/source.ts'
import { extractToken, removeCookie, type FoundToken } from './auth/token.ts'
import { createVerifier } from './auth/verify.ts'
import type { Config } from './config/load.ts'
import { GatewayError, TokenError } from './errors.ts'
import { silentLogger, type Logger } from './log.ts'
import { forward, type ForwardOptions } from './proxy/forward.ts'
import { acceptableRequestId, downstreamHeaders, foldHeaderName, upstreamHeaders } from './proxy/headers.ts'
import { searchWithout, upstreamUrl } from './proxy/url.ts'
import { errorResponse } from './respond.ts'
import { checkMethod } from './routing/method.ts'
import { normalizeTarget, type Target } from './routing/path.ts'
import { compilePublicPaths, isPublicPath } from './routing/public-paths.ts'

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
  /** Stops background work (JWKS retries). */
  close(): void
}

const NO_INFO: ConnectionInfo = Object.freeze({})

/** The authority of an absolute URL (a Request built without a Host header). */
function urlHost(url: string): string {
  const start = url.indexOf('://') + 3
  const end = url.indexOf('/', start)
  return url.slice(start, end < 0 ? undefined : end)
}
const JSON_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store' }

/** Per-request facts the access log reports. */
interface Outcome {
  code: string | undefined
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
  const fetchImpl = deps.fetch ?? globalThis.fetch
  const now = deps.now ?? Date.now
  const logger = deps.logger ?? silentLogger
  const sources: KeySource[] = config.keys.local.map((l) => staticSource(l.label, l.keys))
  if (config.keys.jwksUrl !== undefined || config.keys.oidcIssuer !== undefined) {
    const remote = remoteSource({
      jwksUrl: config.keys.jwksUrl,
      oidcIssuer: config.keys.oidcIssuer,
      algorithms: config.verify.algorithms,
      cooldownMs: config.keys.cooldownMs,
      maxAgeMs: config.keys.maxAgeMs,
      timeoutMs: config.keys.timeoutMs,
      allowInsecure: config.keys.allowInsecure,
      fetch: fetchImpl,
      now,
      logger,
    })
    remote.start()
    sources.push(remote)
  }
  const verifier = createVerifier({ sources, ...config.verify, now })
  const publicPaths = compilePublicPaths(config.publicPaths)
  const claimHeaders = config.forward.claims
  const strip = new Set(claimHeaders.map((c) => foldHeaderName(c.header)))
  const forwardOptions: ForwardOptions = { fetch: fetchImpl, timeoutMs: config.upstream.timeoutMs, init: deps.fetchInit ?? {} }
  const decodedEncodings = deps.decodedEncodings ?? []
  const logRequests = logger.enabled('info')
  const isReady = () => sources.every((s) => s.current() !== undefined)

  function removeTokens(headers: Headers, search: string, found: FoundToken | undefined): string {
    for (const source of config.tokenSources) {
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
    return search
  }

  async function proxy(request: Request, target: Target, info: ConnectionInfo, requestId: string, claims: Claims | undefined, found: FoundToken | undefined, outcome: Outcome): Promise<Response> {
    const headers = upstreamHeaders(
      request.headers,
      {
        clientAddress: info.clientAddress,
        proto: request.url.startsWith('https:') ? 'https' : 'http',
        host: request.headers.get('host') ?? urlHost(request.url),
        requestId,
        trustedProxies: config.trustedProxies,
      },
      strip,
    )
    if (decodedEncodings.length > 0) headers.delete('accept-encoding')
    let search = target.search
    if (!config.forward.token) search = removeTokens(headers, search, found)
    if (claims !== undefined) {
      for (const { claim, header } of claimHeaders) {
        const value = encodeClaim(readClaim(claims, claim))
        if (value !== undefined) headers.set(header, value)
      }
    }
    const upstream = await forward(request, upstreamUrl(config.upstream.base, target.path, search), headers, forwardOptions)
    outcome.upstreamStatus = upstream.status
    const encoding = decodedEncodings.length > 0 ? upstream.headers.get('content-encoding') : null
    const decoded = encoding !== null && decodedEncodings.includes(encoding.trim().toLowerCase())
    return new Response(upstream.body, {
      status: upstream.status,
      statusText: upstream.statusText,
      headers: downstreamHeaders(upstream.headers, decoded, requestId),
    })
  }

  async function handle(request: Request, target: Target, info: ConnectionInfo, requestId: string, outcome: Outcome): Promise<Response> {
    const path = target.path
    if ((path === '/healthz' || path === '/readyz') && (request.method === 'GET' || request.method === 'HEAD')) {
      const ok = path === '/healthz' || isReady()
      return new Response(JSON.stringify({ status: ok ? 'ok' : 'starting' }), {
        status: ok ? 200 : 503,
        headers: { ...JSON_HEADERS, 'x-request-id': requestId },
      })
    }
    if (isPublicPath(publicPaths, path)) return proxy(request, target, info, requestId, undefined, undefined, outcome)
    const found = extractToken(request.headers, target.search, config.tokenSources, config.maxTokenBytes)
    if (found === undefined) throw new TokenError('token_missing', 'A bearer token is required.')
    const claims = await verifier.verify(found.token)
    outcome.sub = typeof claims.sub === 'string' ? claims.sub : undefined
    checkPolicy(claims, config.policy)
    return proxy(request, target, info, requestId, claims, found, outcome)
  }

  async function handleRequest(request: Request, info: ConnectionInfo = NO_INFO): Promise<Response> {
    const started = now()
    const incomingId = request.headers.get('x-request-id')
    const requestId = acceptableRequestId(incomingId) ? incomingId : crypto.randomUUID()
    const outcome: Outcome = { code: undefined, sub: undefined, upstreamStatus: undefined }
    let response: Response
    let target: Target | undefined
    try {
      checkMethod(request.method)
      target = normalizeTarget(request.url)
      response = await handle(request, target, info, requestId, outcome)
    } catch (e) {
      outcome.code = e instanceof GatewayError ? e.code : 'internal_error'
      if (!(e instanceof GatewayError)) logger.log('error', 'internal_error', { request_id: requestId, error: e instanceof Error ? e.name : 'unknown' })
      response = errorResponse(e, requestId)
    }
    if (logRequests) {
      logger.log('info', 'request', {
        request_id: requestId,
        client: info.clientAddress,
        method: request.method,
        path: target?.path,
        status: response.status,
        decision: outcome.code ?? 'allowed',
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
      return isReady()
    },
    close() {
      for (const s of sources) s.close()
    },
  }
}
