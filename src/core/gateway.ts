/**
 * @module createGateway: the runtime-agnostic core, `(Request) => Promise<Response>`. Checks the
 * request's shape and limits, decides (decide.ts), proxies, and accounts for it (log line,
 * metrics); every error becomes a response in respond.ts.
 */
import { encodeClaim, readClaim } from './auth/claims.ts'
import { removeCookie, sameSource, type TokenSource } from './auth/token.ts'
import type { Config } from './config/load.ts'
import { addCorsHeaders, isPreflight, originAllowed, preflightResponse } from './cors.ts'
import { decide, type Decision } from './decide.ts'
import { ForbiddenError, GatewayError, LimitError, TokenError } from './errors.ts'
import { type Logger, silentLogger } from './log.ts'
import { Metrics } from './metrics.ts'
import { type BodyEnd, watchBody } from './proxy/body.ts'
import { type BodyState, forward, type ForwardOptions } from './proxy/forward.ts'
import {
  acceptableRequestId,
  cleanDownstream,
  downstreamHeaders,
  upstreamHeaders,
} from './proxy/headers.ts'
import { searchWithout, upstreamUrl } from './proxy/url.ts'
import { addressKey, subjectKey } from './rate-limit.ts'
import { errorResponse } from './respond.ts'
import { checkHost } from './routing/host.ts'
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
  /**
   * The runtime's server closes client connections silent for this long (the entrypoint set it).
   * When it is no longer than the stream idle timeout, a request body without a length needs no
   * watch in JavaScript for idleness, and without a size cap is passed on untouched: every chunk
   * otherwise goes through JavaScript, which costs memory on large uploads.
   */
  readonly connectionIdleMs?: number
}

/** Runtime-neutral facts about the connection, filled in by each entrypoint. */
export interface ConnectionInfo {
  readonly clientAddress?: string
  /** The protocol the client connected with (never taken from the request line, which a client writes). */
  readonly protocol?: 'http' | 'https'
}

export interface Gateway {
  fetch(request: Request, info?: ConnectionInfo): Promise<Response>
  /** The admin listener's handler: `/metrics`, `/healthz`, `/readyz`. */
  admin(request: Request): Response
  /** True once every key source has a key set, until draining starts. */
  readonly ready: boolean
  /** The configuration in force. */
  readonly config: Config
  readonly metrics: Metrics
  /** Swaps in a new configuration atomically; requests in flight finish on the old one. */
  reload(config: Config): void
  /** Shutdown has begun: `/readyz` answers 503 from now on. */
  drain(): void
  /** Stops background work (JWKS retries). */
  close(): void
}

const NO_INFO: ConnectionInfo = Object.freeze({})
const JSON_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store' }

/** Everything the access log line and the metrics report about one request; forward() reads how its body ended. */
interface Exchange extends BodyState {
  readonly requestId: string
  readonly started: number
  readonly client: string | undefined
  readonly method: string
  path: string | undefined
  route: string | undefined
  code: string | undefined
  requirement: string | undefined
  sub: string | undefined
  iss: string | undefined
  status: number
  upstream: string | undefined
  upstreamStatus: number | undefined
  upstreamMs: number | undefined
  bytesIn: number | undefined
  bytesOut: number | undefined
  /** How the response body ended, when it was watched. */
  end: BodyEnd | undefined
  /** The response body is watched: the log line waits for its end. */
  deferred: boolean
}

const NO_HEADERS: readonly (readonly [string, string])[] = []

/** The route's claim headers for the decision's claims, encoded once per cached token and route. */
function claimHeaders(decision: Decision): readonly (readonly [string, string])[] {
  const route = decision.route.route
  if (route.claimHeaders.length === 0) return NO_HEADERS
  const known = decision.cached?.headers.get(route.name)
  if (known !== undefined) return known
  const out: [string, string][] = []
  for (const { claim, header } of route.claimHeaders) {
    const value = encodeClaim(readClaim(decision.claims!, claim))
    if (value !== undefined) out.push([header, value])
  }
  decision.cached?.headers.set(route.name, out)
  return out
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
  const metrics = new Metrics(now())
  const stateDeps = { fetch: deps.fetch ?? globalThis.fetch, now, logger, metrics }
  let state = buildState(config, stateDeps)
  let draining = false
  const decodedEncodings = deps.decodedEncodings ?? []
  const connectionIdleMs = deps.connectionIdleMs
  const logRequests = logger.enabled('info')

  function finish(x: Exchange): void {
    const seconds = (now() - x.started) / 1000
    metrics.countRequest(x.route ?? 'none', x.method, x.status, seconds)
    if (x.code !== undefined) metrics.rejections.inc([x.code])
    if (!logRequests) return
    logger.log('info', 'request', {
      request_id: x.requestId,
      client: x.client,
      method: x.method,
      path: x.path,
      route: x.route,
      status: x.status,
      decision: x.code ?? 'allowed',
      requirement: x.requirement,
      sub: x.sub,
      iss: x.iss,
      upstream: x.upstream,
      upstream_status: x.upstreamStatus,
      upstream_ms: x.upstreamMs,
      duration_ms: now() - x.started,
      bytes_in: x.bytesIn,
      bytes_out: x.bytesOut,
      end: x.end === 'done' ? undefined : x.end,
    })
  }

  /**
   * Tokens leave the request where the header pass could not take them out: cookies and query
   * parameters of every configured token source, but for the copy that was verified when it is
   * forwarded (`kept`). (Authorization and custom token headers are left out by upstreamHeaders.)
   */
  function removeTokens(
    s: State,
    headers: Headers,
    search: string,
    kept: TokenSource | undefined,
  ): string {
    for (const source of s.allSources) {
      if (sameSource(source, kept)) continue
      if (source.kind === 'cookie') {
        const cookie = headers.get('cookie')
        if (cookie === null) continue
        const rest = removeCookie(cookie, source.name)
        if (rest === undefined) headers.delete('cookie')
        else headers.set('cookie', rest)
      } else if (source.kind === 'query' && search !== '') {
        search = searchWithout(search, source.name)
      }
    }
    return search
  }

  /**
   * The request body to forward. A body with a Content-Length passes as it is (the runtime holds
   * it to that length; the cap is checked against it before anything is sent). A body without one
   * is watched for its cap and its idle time (and counted on the way), unless there is no cap and
   * the server's connection idle timeout covers idleness. Watching costs memory on large streams
   * (each chunk passes through JavaScript), so nothing is watched that need not be.
   */
  function requestBody(s: State, request: Request, x: Exchange): ReadableStream<Uint8Array> | null {
    const body = request.body
    if (body === null) return null
    const { maxBodyBytes, streamIdleMs } = s.config.limits
    const length = request.headers.get('content-length')
    if (length !== null) {
      const size = Number(length)
      if (maxBodyBytes !== undefined && size > maxBodyBytes) {
        throw new LimitError('payload_too_large', 'The request body is larger than allowed.')
      }
      x.bytesIn = size
      return body
    }
    if (
      maxBodyBytes === undefined && connectionIdleMs !== undefined &&
      connectionIdleMs <= streamIdleMs
    ) return body
    return watchBody(body, {
      maxBytes: maxBodyBytes,
      idleMs: streamIdleMs,
      now,
      onEnd(bytes, end) {
        x.bytesIn = bytes
        x.requestBodyEnd = end
      },
    })
  }

  async function proxy(
    s: State,
    request: Request,
    target: Target,
    info: ConnectionInfo,
    decision: Decision,
    x: Exchange,
  ): Promise<Response> {
    const route = decision.route.route
    const upstream = s.upstreams.get(route.upstream)!
    x.upstream = upstream.name
    // Only a verified token goes upstream, and only where it was found.
    const keptToken = s.config.forwardToken && decision.claims !== undefined
      ? decision.found?.source
      : undefined
    const headers = upstreamHeaders(
      request.headers,
      {
        clientAddress: info.clientAddress,
        proto: info.protocol ?? 'http',
        requestId: x.requestId,
        trustedProxies: s.config.trustedProxies,
        keptToken,
      },
      s.headerFilter,
    )
    if (decodedEncodings.length > 0) headers.delete('accept-encoding')
    let search = target.search
    if (s.removeTokensAfter) search = removeTokens(s, headers, search, keptToken)
    // upstreamHeaders left out every client copy of a claim header: append, no search.
    if (decision.claims !== undefined) {
      for (const [name, value] of claimHeaders(decision)) headers.append(name, value)
    }
    const body = requestBody(s, request, x)
    const path = upstreamPath(route, target.path, request.method, decision.params)
    const options: ForwardOptions = {
      fetch: stateDeps.fetch,
      timeoutMs: upstream.timeoutMs,
      init: deps.fetchInit ?? {},
    }
    const sent = performance.now()
    const response = await forward(
      request,
      body,
      upstreamUrl(upstream.base, path, search),
      headers,
      options,
      x,
    )
    const upstreamSeconds = (performance.now() - sent) / 1000
    metrics.observeUpstream(upstream.name, upstreamSeconds)
    x.upstreamMs = Math.round(upstreamSeconds * 1000)
    x.upstreamStatus = response.status
    const encoding = decodedEncodings.length > 0 ? response.headers.get('content-encoding') : null
    const decoded = encoding !== null && decodedEncodings.includes(encoding.trim().toLowerCase())
    // A body without a length may be a stream (SSE, chunked): watch it for idleness (and its size
    // for the log line). A body with a length is passed on untouched, and `body` is not even read:
    // on Bun that would make a stream object of it (~0.8 µs of CPU per request under load).
    const length = response.headers.get('content-length')
    if (length !== null && !decoded) x.bytesOut = Number(length)
    const upstreamBody = length === null ? response.body : null
    const watch = upstreamBody !== null
    if (!watch) {
      try {
        cleanDownstream(response.headers, decoded, x.requestId)
        return response
      } catch {
        // Immutable headers (Deno): copy below.
      }
    }
    const out = downstreamHeaders(response.headers, decoded, x.requestId)
    let responseBody: ReadableStream<Uint8Array> | null = watch ? upstreamBody : response.body
    if (watch) {
      x.deferred = true
      responseBody = watchBody(upstreamBody, {
        maxBytes: undefined,
        idleMs: s.config.limits.streamIdleMs,
        now,
        onEnd(bytes, end) {
          x.bytesOut = bytes
          x.end = end
          finish(x)
        },
      })
    }
    return new Response(responseBody as BodyInit | null, {
      status: response.status,
      statusText: response.statusText,
      headers: out,
    })
  }

  function health(path: string, requestId: string): Response {
    const ok = path === '/healthz' || (!draining && isReady(state))
    const status = path === '/healthz' ? 'ok' : draining ? 'draining' : ok ? 'ok' : 'starting'
    return new Response(JSON.stringify({ status }), {
      status: ok ? 200 : 503,
      headers: { ...JSON_HEADERS, 'x-request-id': requestId },
    })
  }

  async function handleRequest(
    request: Request,
    info: ConnectionInfo = NO_INFO,
  ): Promise<Response> {
    // The state at arrival serves the whole request, even if a reload swaps it meanwhile.
    const s = state
    const incomingId = request.headers.get('x-request-id')
    const x: Exchange = {
      requestId: acceptableRequestId(incomingId) ? incomingId : crypto.randomUUID(),
      started: now(),
      client: info.clientAddress,
      method: request.method,
      path: undefined,
      route: undefined,
      code: undefined,
      requirement: undefined,
      sub: undefined,
      iss: undefined,
      status: 0,
      upstream: undefined,
      upstreamStatus: undefined,
      upstreamMs: undefined,
      bytesIn: undefined,
      bytesOut: undefined,
      end: undefined,
      deferred: false,
      requestBodyEnd: undefined,
    }
    metrics.inFlight.value++
    const cors = s.config.cors
    let response: Response
    try {
      checkMethod(request.method)
      if (cors !== undefined && isPreflight(request)) {
        response = preflightResponse(cors, request, x.requestId)
        if (response.status === 403) x.code = 'cors_rejected'
      } else {
        checkHost(request.headers.get('host'))
        const target = normalizeTarget(request.url)
        x.path = target.path
        const path = target.path
        if (
          (path === '/healthz' || path === '/readyz') &&
          (request.method === 'GET' || request.method === 'HEAD')
        ) response = health(path, x.requestId)
        else {
          let decision = decide(s, request, target, undefined, x)
          if (decision instanceof Promise) decision = await decision
          if (s.limiter !== undefined) {
            const key = decision.claims !== undefined
              ? subjectKey(x.iss, x.sub)
              : addressKey(x.client)
            const wait = s.limiter.take(key, now())
            if (wait > 0) {
              throw new LimitError(
                'rate_limited',
                'Too many requests; retry later.',
                Math.ceil(wait / 1000),
              )
            }
          }
          response = await proxy(s, request, target, info, decision, x)
        }
      }
    } catch (e) {
      x.code = e instanceof GatewayError ? e.code : 'internal_error'
      if (e instanceof ForbiddenError) x.requirement = e.requirement
      // Refusals count too: a bad token for the address, a 403 for the token's subject.
      if (s.limiter !== undefined) {
        if (e instanceof TokenError) s.limiter.take(addressKey(x.client), now())
        else if (e instanceof ForbiddenError) s.limiter.take(subjectKey(x.iss, x.sub), now())
      }
      if (!(e instanceof GatewayError)) {
        logger.log('error', 'internal_error', {
          request_id: x.requestId,
          error: e instanceof Error ? e.name : 'unknown',
        })
      }
      response = errorResponse(e, x.requestId)
      if (s.config.debugHeaders) {
        response.headers.set(
          'x-jwtgate-reason',
          x.requirement === undefined ? x.code : `${x.code}; ${x.requirement}`,
        )
      }
    }
    if (cors !== undefined && !isPreflight(request)) {
      const origin = request.headers.get('origin')
      if (origin !== null && originAllowed(cors, origin)) {
        addCorsHeaders(cors, origin, response.headers)
      }
    }
    metrics.inFlight.value--
    x.status = response.status
    if (!x.deferred) {
      if (logRequests && x.bytesOut === undefined) {
        x.bytesOut = response.body === null
          ? 0
          : Number(response.headers.get('content-length') ?? 0) || undefined
      }
      finish(x)
    }
    return response
  }

  return {
    fetch: handleRequest,
    admin(request: Request): Response {
      const path = new URL(request.url).pathname
      if (path === '/metrics') {
        return new Response(metrics.render(), {
          headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' },
        })
      }
      if (path === '/healthz' || path === '/readyz') return health(path, crypto.randomUUID())
      return new Response('not found\n', { status: 404, headers: { 'content-type': 'text/plain' } })
    },
    get ready() {
      return !draining && isReady(state)
    },
    get config() {
      return state.config
    },
    metrics,
    reload(next: Config) {
      const old = state
      state = buildState(next, stateDeps, old)
      retireState(old, state)
    },
    drain() {
      draining = true
    },
    close() {
      retireState(state)
    },
  }
}
