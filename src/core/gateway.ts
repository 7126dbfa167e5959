/**
 * @module createGateway: the runtime-agnostic core, `(Request) => Promise<Response>`, as its
 * pipeline: check the request → answer preflights and health probes → route → authenticate →
 * authorize (decide.ts) → rate limit → proxy (proxy/proxy.ts; an upgrade: websocket/proxy.ts) →
 * CORS → account (exchange.ts).
 * Each step returns what it found or throws a GatewayError; the gateway keeps its own record of
 * the request, and every error becomes a response in respond.ts.
 */
import type { Config } from './config/types.ts'
import { assertGuardable } from './config/local.ts'
import {
  ADMIN_LISTENER,
  adminResponse,
  checkAdminHost,
  healthResponse,
  isHealthProbe,
} from './admin.ts'
import { allowOrigin, isPreflight, preflightResponse } from './cors.ts'
import type { Claims } from './auth/claims.ts'
import { authenticate, authorize, type Decision, route } from './decide.ts'
import { ForbiddenError, GatewayError, LimitError, TokenError } from './errors.ts'
import { type Exchange, openExchange, settle } from './exchange.ts'
import { type Logger, silentLogger } from './log.ts'
import { Metrics } from './metrics.ts'
import {
  acceptableRequestId,
  checkFraming,
  forwardedClient,
  type HeaderBuild,
} from './proxy/headers.ts'
import { type Client, Proxied, type ProxyDeps, received, sendProxied } from './proxy/proxy.ts'
import { upstreamFailure } from './proxy/forward.ts'
import { countLimits, setLimitFields } from './limits/policy.ts'
import type { StoreHealth } from './limits/guarded.ts'
import type { LimitStore } from './limits/store.ts'
import { RefusedCredentials, revocationsResponse } from './revocation/admin.ts'
import { checkRevoked, revocationsFor } from './revocation/check.ts'
import type { Revocation } from './revocation/entry.ts'
import { RevocationList } from './revocation/list.ts'
import { addressKey, type Limiter, type RateLimit, tokenKey } from './rate-limit.ts'
import { errorResponse, failureResponse } from './respond.ts'
import {
  checkedOrigin,
  checkOrigin,
  CROSS_SITE,
  isCookieLogin,
  isCookieWrite,
  ownOrigin,
  urlProtocol,
} from './origin.ts'
import { checkHost } from './routing/host.ts'
import { checkMethod, checkMethodOverride } from './routing/method.ts'
import {
  checkHandlerUrl,
  normalizeOriginTarget,
  normalizeTarget,
  rawPath,
  type Target,
} from './routing/path.ts'
import { type Check, checkOf } from './forward/check.ts'
import { claimHeaders } from './proxy/claim-headers.ts'
import type { Counted } from './limits/policy.ts'
import { buildState, isReady, retireState, type State } from './state.ts'
import { isWebSocketUpgrade } from './auth/token.ts'
import { Connections } from './websocket/connections.ts'
import {
  checkLocalWebSocket,
  checkProxiedWebSocket,
  checkWebSocketCheck,
  proxyWebSocket,
  type WebSocketClient,
  type WebSocketDeps,
  type WebSocketUpgrade,
} from './websocket/proxy.ts'

/** What the host runtime provides. All optional: the defaults are the global ones. */
export interface GatewayDeps {
  /** Used for upstream requests, and for JWKS/OIDC fetches unless `keyFetch` is given. */
  readonly fetch?: typeof fetch
  /** Used for JWK Set and OIDC metadata fetches (default: `fetch`). */
  readonly keyFetch?: typeof fetch
  /**
   * Makes the buckets of the configured rate limit (default: in this process, `RateLimiter`).
   * Several processes that must share one limit pass a `SharedLimiter`.
   */
  readonly limiter?: (rate: RateLimit) => Limiter
  /**
   * Holds the buckets of the named limits (`rateLimits:`); default: this process's memory. Several
   * instances share one (a `GuardedStore` around Redis); a store that is also a `StoreHealth` is
   * reported on `/metrics`.
   */
  readonly limitStore?: LimitStore & Partial<StoreHealth>
  /**
   * The networks the listener is on, as CIDR ranges: with loopback, who may ask for
   * forward-authentication checks unless JWTGATE_AUTH_CALLERS says (the entrypoint finds them).
   */
  readonly localNetworks?: readonly string[]
  /**
   * The revocations every verified token is checked against (the entrypoint keeps them in step
   * with Redis or the revocations file); default: none.
   */
  readonly revocations?: RevocationList
  /**
   * Stores a revocation where every gateway reads it and puts it in force here (`POST
   * /revocations` on the admin listener); rejects when it cannot be stored.
   */
  readonly revoke?: (entry: Revocation) => Promise<void>
  /**
   * Opens WebSocket connections to upstreams (default: the global `WebSocket`, which under Bun and
   * Deno takes `{ headers, protocols }`).
   */
  readonly WebSocket?: WebSocketClient
  /** The clock, in milliseconds since the epoch. */
  readonly now?: () => number
  /** Where access lines and events go (default: nowhere). See `createLogger`. */
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
   * The runtime's fetch also decodes a list of codings (`Content-Encoding: gzip, br`) when each
   * is one of `decodedEncodings` (Node's undici does; Deno's fetch decodes only a single coding).
   */
  readonly decodesStackedEncodings?: boolean
  /**
   * How this runtime builds header lists fastest (default `copy`): Deno's adapter says `append`,
   * its `new Headers(headers)` being slow, Bun's `edit`, its request headers being mutable (see
   * HeaderBuild).
   */
  readonly headerBuild?: HeaderBuild
  /**
   * The runtime's server closes client connections silent for this long (the entrypoint set it).
   * When it is no longer than the stream idle timeout, a request body without a length needs no
   * watch in JavaScript for idleness, and without a size cap is passed on untouched: every chunk
   * otherwise goes through JavaScript, which costs memory on large uploads.
   */
  readonly connectionIdleMs?: number
  /**
   * Whether the rest of the gateway is ready as well: a worker asks its primary whether every
   * worker is. The main listener's `/readyz` is 200 only when this process is ready and this
   * resolves true (a rejection is not ready), so that a load balancer probing the port does not
   * send to a worker still without keys. Default: this process is the whole gateway.
   */
  readonly othersReady?: () => Promise<boolean>
}

/** Runtime-neutral facts about the connection, filled in by each entrypoint. */
export interface ConnectionInfo {
  /** The peer's IP address, as the socket reports it (the first hop when behind proxies). */
  readonly clientAddress?: string
  /** The protocol the client connected with (never taken from the request line, which a client writes). */
  readonly protocol?: 'http' | 'https'
  /**
   * Upgrades this request to a WebSocket, where the server can (the Bun and Deno adapters give
   * it to upgrade requests); without it an allowed upgrade is answered 501.
   */
  readonly upgrade?: WebSocketUpgrade
}

/**
 * A running gateway, from `createGateway` or `protect`: a web-standard `fetch` handler for the
 * proxy, and an `admin` handler for a separate listener. It never throws from `fetch`: every
 * refusal and failure is a response (problem+json).
 */
export interface Gateway {
  /**
   * Answers one request: routes it, checks its token and the route's requirements, and proxies it
   * (or, from `protect`, calls the handler). `info` gives the client's address and protocol;
   * without an address, requests without a token share one rate-limit bucket and
   * `X-Forwarded-For` gets no entry for the client.
   */
  fetch(request: Request, info?: ConnectionInfo): Promise<Response>
  /**
   * The admin listener's handler: `/metrics`, `/healthz`, `/readyz`, `POST /revocations`. It
   * never throws either: a failure is a problem+json 500, logged as `internal_error`.
   */
  admin(request: Request): Response | Promise<Response>
  /** True once every key source has a key set, until draining starts. */
  readonly ready: boolean
  /** The configuration in force. */
  readonly config: Config
  /** The counters and histograms `admin` serves at `/metrics` (Prometheus text format). */
  readonly metrics: Metrics
  /** Swaps in a new configuration atomically; requests in flight finish on the old one. */
  reload(config: Config): void
  /** Shutdown has begun: `/readyz` answers 503 from now on. */
  drain(): void
  /** Stops background work (JWKS retries). */
  close(): void
}

const NO_INFO: ConnectionInfo = Object.freeze({})

/** What the pipeline comes to: the response, or the upstream request in flight. */
type Outcome = Response | Proxied

/** One request on its way through the pipeline's steps, once it is routed: what they read. */
interface Passage {
  /** The state at the request's arrival. */
  readonly s: State
  readonly request: Request
  readonly info: ConnectionInfo
  /** The gateway's record of the request, which the steps fill in. */
  readonly x: Exchange
  /** A forward-authentication check's question, when the request is one. */
  readonly check: Check | undefined
  readonly target: Target
}
/**
 * The clock of durations (the request histogram, the log's `duration_ms`): monotonic and below a
 * millisecond, as the upstream's and verification's are — `Date.now()` put a third of 0.6 ms
 * requests in the 100 µs bucket, and steps back when the wall clock is set back.
 */
const elapsed = () => performance.now()

/**
 * Builds a gateway from a loaded Config (see mod.ts for serving it from Bun or Deno).
 *
 * @example
 * const gateway = createGateway(await loadConfig(env), { logger })
 * const response = await gateway.fetch(request, { clientAddress: '192.0.2.1' })
 */
export function createGateway(
  config: Config,
  deps: GatewayDeps = {},
  /** Allowed requests go to this handler instead of an upstream (guard.ts: `protect`). */
  local?: LocalHandler,
): Gateway {
  const now = deps.now ?? Date.now
  const logger = deps.logger ?? silentLogger
  const accessLog = logger.enabled('info') ? logger : undefined
  const metrics = new Metrics(now())
  const refusedCredentials = new RefusedCredentials()
  const adminHost = config.admin?.host
  const fetch = deps.fetch ?? globalThis.fetch
  const proxyDeps: ProxyDeps = {
    fetch,
    fetchInit: deps.fetchInit ?? {},
    decodedEncodings: deps.decodedEncodings ?? [],
    decodesStacked: deps.decodesStackedEncodings ?? false,
    headerBuild: deps.headerBuild ?? 'copy',
    connectionIdleMs: deps.connectionIdleMs,
    now,
  }
  const stateDeps = {
    fetch,
    keyFetch: deps.keyFetch,
    limiter: deps.limiter,
    limitStore: deps.limitStore,
    localNetworks: deps.localNetworks,
    now,
    logger,
    metrics,
  }
  if (deps.limitStore?.name !== undefined) metrics.stores.push(deps.limitStore as StoreHealth)
  if (local !== undefined) assertGuardable(config)
  const revocations = revocationsFor(config, deps.revocations)
  const connections = new Connections(metrics, revocations)
  const webSocketDeps: WebSocketDeps = {
    proxy: proxyDeps,
    WebSocket: deps.WebSocket ?? (globalThis.WebSocket as unknown as WebSocketClient),
    connections,
  }
  metrics.revocations = revocations
  // A revocation also drops the cache entries it covers (they would be refused anyway) and closes
  // the WebSocket connections opened with them: one pass over each per change, however many
  // entries a sync brings.
  const unsubscribe = revocations?.onAdd((entries) => {
    const cache = state.cache
    const cached = cache !== undefined && cache.size > 0
    if (!cached && connections.size === 0) return
    const changed = new RevocationList(entries.length)
    changed.replace(entries, now())
    if (cached) {
      cache.deleteWhere((entry) => changed.revoked(entry.claims, entry.hash) !== undefined)
    }
    connections.revoked(changed)
  })
  let state = buildState(config, stateDeps)
  let draining = false
  let checkWithoutClientSaid = false
  // Not before the revocations have been read once: an empty list is no list of none revoked.
  const ready = () => !draining && isReady(state) && (revocations?.loaded ?? true)
  const othersReady = deps.othersReady

  /** `/readyz` of a process that is ready itself: 200 when the others are too (`othersReady`). */
  async function readyLater(others: () => Promise<boolean>, requestId: string): Promise<Response> {
    const all = await others().catch(() => false)
    return healthResponse('/readyz', requestId, all && ready(), draining)
  }

  /**
   * The pipeline for one request; each step returns what it found, or throws. It waits only where
   * a step must — a token to verify, a bucket or a revocation list held elsewhere, a handler, an
   * upgrade — and each later step is then chained on: a request with a cached token runs straight
   * through to its upstream request, handed back in flight (`handle` awaits it). One await per
   * request, not one per step: each async frame costs the heap a generator, a promise and its
   * scopes (~1 µs of CPU per request for four, measured under load on Bun).
   */
  function pipeline(
    s: State,
    request: Request,
    info: ConnectionInfo,
    x: Exchange,
  ): Outcome | Promise<Outcome> {
    // A forward-authentication check: the request it asks about is the one decided.
    const check = s.forwardAuth === undefined
      ? undefined
      : checkOf(s.forwardAuth, request, info.clientAddress)
    const method = check === undefined ? request.method : check.method
    if (check !== undefined) {
      x.method = method
      // The caller is a trusted proxy: the client is the address it reported (X-Forwarded-For's
      // last entry, or further back behind JWTGATE_TRUSTED_PROXIES more), not the proxy's own,
      // so that one client's refusals do not fill the rate-limit bucket of every client. A proxy
      // that reports none leaves its own, which every client then shares: said once.
      const reported = forwardedClient(
        request.headers.get('x-forwarded-for'),
        undefined,
        s.config.trustedProxies + 1,
      )
      if (reported === undefined && !checkWithoutClientSaid) {
        checkWithoutClientSaid = true
        logger.log('warn', 'check_without_client', {
          caller: info.clientAddress,
          reason:
            'a forward-authentication check without the client in X-Forwarded-For: its address rate limits and log lines are the proxy’s, which every client shares; set the header in the proxy',
        })
      }
      x.client = reported ?? info.clientAddress
    }
    checkMethod(method)
    const cors = s.config.cors
    if (check === undefined && cors !== undefined && isPreflight(request)) {
      const answer = preflightResponse(cors, request, x.requestId)
      if (answer.status === 403) x.code = 'cors_rejected'
      return answer
    }
    checkHost(request.headers.get('host'))
    const target = check === undefined
      ? normalizeTarget(request.url)
      : normalizeOriginTarget(check.uri)
    x.path = target.path
    checkMethodOverride(target.search)
    if (check === undefined && isHealthProbe(method, target.path)) {
      if (target.path === '/readyz' && othersReady !== undefined && ready()) {
        return readyLater(othersReady, x.requestId)
      }
      return healthResponse(target.path, x.requestId, ready(), draining)
    }
    // A guarded handler routes on request.url itself: one it would read otherwise is refused
    // (after the probes, which reach no handler: HAProxy's httpchk sends HTTP/1.0 without Host).
    if (local !== undefined && check === undefined) checkHandlerUrl(request.url)
    const match = route(s, method, target.path)
    x.route = match.route.route.name
    const decision = authenticate(s, match, request, target, x.client)
    const q: Passage = { s, request, info, x, check, target }
    if (decision instanceof Promise) return admitLater(q, decision)
    return admit(q, decision)
  }

  // Each step that may wait has a `…Later` twin that awaits and goes on: a closure in the step
  // itself would cost every request a scope object, also those that never wait.
  async function admitLater(q: Passage, decision: Promise<Decision>): Promise<Outcome> {
    return admit(q, await decision)
  }

  /** An authenticated request: its token checked against the revocations in force. */
  function admit(q: Passage, decision: Decision): Outcome | Promise<Outcome> {
    const claims = decision.claims
    if (claims !== undefined) {
      const x = q.x
      x.sub = typeof claims.sub === 'string' ? claims.sub : undefined
      x.iss = typeof claims.iss === 'string' ? claims.iss : undefined
      if (revocations !== undefined) {
        const checked = checkRevoked(revocations, decision, q.s.config.revocations, now())
        if (checked !== undefined) return allowLater(q, decision, checked)
      }
    }
    return allow(q, decision)
  }

  async function allowLater(
    q: Passage,
    decision: Decision,
    checked: Promise<void>,
  ): Promise<Outcome> {
    await checked
    return allow(q, decision)
  }

  /** Not revoked: the route's requirements, then the client's JWTGATE_RATE_LIMIT bucket. */
  function allow(q: Passage, decision: Decision): Outcome | Promise<Outcome> {
    const x = q.x
    // A cross-site page cannot use the user's cookie (origin.ts), nor use up the user's limits:
    // refused before the requirements, whose refusals (403) count against the user.
    if (isCookieLogin(decision)) checkCookieLogin(q, decision)
    authorize(decision, x.method)
    const limiter = q.s.limiter
    if (limiter === undefined) return count(q, decision, 0)
    const key = decision.claims !== undefined
      ? tokenKey(x.iss, x.sub, x.client)
      : addressKey(x.client)
    const wait = limiter.take(key, now())
    if (typeof wait !== 'number') return countLater(q, decision, wait)
    return count(q, decision, wait)
  }

  /**
   * A request a cookie authenticated, before its route's requirements and the rate limits: a
   * write from another origin is 403 `origin_rejected` (cross-site request forgery); a WebSocket
   * handshake meets its route's and origin's rules (cross-site WebSocket hijacking), which the
   * upgrade applies again. Refused after either, a page on any site could spend a user's limits
   * by posting or opening WebSockets in the user's browser.
   */
  function checkCookieLogin(q: Passage, decision: Decision): void {
    const { s, request, info } = q
    if (isCookieWrite(decision, q.x.method)) checkCrossSite(q)
    if (q.check !== undefined) checkWebSocketCheck(s, request, decision)
    else if (local !== undefined) checkLocalWebSocket(s, request, decision, info.protocol)
    else if (isWebSocketUpgrade(request.headers)) {
      checkProxiedWebSocket(s.config, request, decision, info.protocol ?? 'http')
    }
  }

  /** Refuses a cookie-authenticated write from another origin (403 origin_rejected). */
  function checkCrossSite(q: Passage): void {
    const s = q.s
    const own = q.check !== undefined ? checkedOrigin(s.config, q.request.headers) : ownOrigin(
      s.config,
      q.request,
      q.info.protocol ?? (local === undefined ? 'http' : urlProtocol(q.request.url)),
    )
    checkOrigin(s.config, q.request.headers, own, CROSS_SITE)
  }

  async function countLater(
    q: Passage,
    decision: Decision,
    wait: Promise<number>,
  ): Promise<Outcome> {
    return count(q, decision, await wait)
  }

  /** Within JWTGATE_RATE_LIMIT (`wait` 0; else 429): the route's named limits count it. */
  function count(q: Passage, decision: Decision, wait: number): Outcome | Promise<Outcome> {
    if (wait > 0) throw limited(wait)
    const limits = q.s.routeLimits.get(decision.route.route)
    if (limits === undefined) return dispatch(q, decision)
    const counted = countLimits(q.s.limitStore, limits, {
      claims: decision.claims,
      provider: decision.provider?.config.name,
      headers: q.request.headers,
      client: q.x.client,
    }, now())
    if (counted instanceof Promise) return dispatchLater(q, decision, counted)
    q.x.counted = counted
    return dispatch(q, decision)
  }

  async function dispatchLater(
    q: Passage,
    decision: Decision,
    counted: Promise<Counted | undefined>,
  ): Promise<Outcome> {
    q.x.counted = await counted
    return dispatch(q, decision)
  }

  /** Allowed: answered as a check, handed to the handler, upgraded, or sent upstream. */
  function dispatch(q: Passage, decision: Decision): Outcome | Promise<Outcome> {
    const { s, request, info, x } = q
    if (q.check !== undefined) {
      checkWebSocketCheck(s, request, decision)
      return checkAnswer(s, decision, x.requestId, x.counted)
    }
    if (local !== undefined) {
      checkLocalWebSocket(s, request, decision, info.protocol)
      checkFraming(request.headers)
      return callLocal(local, request, decision, x.requestId, x.counted)
    }
    x.upstream = decision.route.route.upstream
    const client: Client = {
      address: info.clientAddress,
      protocol: info.protocol ?? 'http',
      requestId: x.requestId,
    }
    if (isWebSocketUpgrade(request.headers)) return upgrade(q, decision, client)
    return sendProxied(proxyDeps, s, request, q.target, decision, client)
  }

  /** An allowed upgrade: the WebSocket proxied; its record is the exchange's from now on. */
  async function upgrade(q: Passage, decision: Decision, client: Client): Promise<Response> {
    const opened = await proxyWebSocket(
      webSocketDeps,
      q.s,
      q.request,
      q.target,
      decision,
      client,
      q.info.upgrade,
    )
    q.x.websocket = opened.relay.record
    return opened.response
  }

  /**
   * A refusal's count against JWTGATE_RATE_LIMIT: a bad token for the address, a 403 for the
   * token's subject. A promise when the buckets are another process's (SharedLimiter): the answer
   * is awaited, so that the next request of the same client meets an emptied bucket as in one
   * process.
   */
  function countRefusal(s: State, e: unknown, x: Exchange): Promise<number> | undefined {
    if (s.limiter === undefined) return undefined
    let taken: number | Promise<number> | undefined
    if (e instanceof TokenError) taken = s.limiter.take(addressKey(x.client), now())
    else if (e instanceof ForbiddenError) {
      taken = s.limiter.take(tokenKey(x.iss, x.sub, x.client), now())
    }
    return typeof taken === 'object' ? taken : undefined
  }

  /** A refusal: its record and its response. */
  function refuse(s: State, e: unknown, x: Exchange): Response {
    x.code = e instanceof GatewayError ? e.code : 'internal_error'
    if (e instanceof ForbiddenError) x.requirement = e.requirement
    if (e instanceof LimitError && e.fields !== undefined) {
      x.limit = e.fields.limit
      metrics.rateLimited.inc([e.fields.limit])
    }
    if (!(e instanceof GatewayError)) {
      const error = e instanceof Error ? e.name : 'unknown'
      logger.log('error', 'internal_error', { request_id: x.requestId, error })
    }
    const response = errorResponse(e, x.requestId)
    if (s.config.debugHeaders) {
      const reason = x.requirement === undefined ? x.code : `${x.code}; ${x.requirement}`
      response.headers.set('x-jwtgate-reason', reason)
    }
    return response
  }

  async function handle(request: Request, info: ConnectionInfo = NO_INFO): Promise<Response> {
    // The state at arrival serves the whole request, even if a reload swaps it meanwhile.
    const s = state
    const x = openExchange(request, requestIdOf(request), clientOf(s, request, info), elapsed())
    const cors = s.config.cors
    // Read first: proxying may edit the request's headers (HeaderBuild `edit`).
    const origin = cors === undefined ? null : request.headers.get('origin')
    metrics.inFlight.value++
    // Declared here, not in the blocks: a block's variables that live across an await cost a
    // scope object of their own.
    let response: Response
    let outcome: Outcome | Promise<Outcome>
    let upstream: Response
    try {
      outcome = pipeline(s, request, info, x)
      if (outcome instanceof Promise) outcome = await outcome
      if (outcome instanceof Proxied) {
        try {
          upstream = await outcome.pending!
        } catch (e) {
          throw upstreamFailure(outcome, request, e)
        }
        response = received(proxyDeps, s, outcome, upstream, x.requestId)
        x.proxied = outcome
        metrics.observeUpstream(outcome.upstream, outcome.upstreamSeconds!)
        if (x.counted !== undefined) setLimitFields(x.counted, response.headers)
      } else response = outcome
    } catch (e) {
      response = refuse(s, e, x)
      const counted = countRefusal(s, e, x)
      if (counted !== undefined) await counted.catch(() => 0)
    }
    // An upgrade's answer is the runtime's (Bun's: a marker shared by every upgrade).
    if (cors !== undefined && x.websocket === undefined) {
      try {
        allowOrigin(cors, request, origin, response.headers)
      } catch (e) {
        // Headers that cannot be edited: callLocal re-wraps a handler's, and the gateway's own
        // and proxied responses have mutable ones, so this is a bug; still a response, never a
        // rejected promise with the request left in flight.
        response.body?.cancel().catch(() => {})
        response = refuse(s, e, x)
        allowOrigin(cors, request, origin, response.headers)
      }
    }
    metrics.inFlight.value--
    settle(x, response, metrics, accessLog, elapsed)
    return response
  }

  /**
   * The admin listener's handler. It never throws: a failure is the generic problem+json 500,
   * logged as `internal_error` (the runtime's own error answer could show the error, and Bun's
   * development page the source).
   */
  function admin(request: Request): Response | Promise<Response> {
    try {
      // The address the admin listener was opened on (at start; a reload does not move it).
      checkAdminHost(request, adminHost)
      const answer = rawPath(request.url) === '/revocations'
        ? revocationsResponse(request, {
          token: state.config.admin?.token,
          revoke: deps.revoke,
          now,
          maxLifetimeSec: state.config.revocations.maxTokenLifetimeSec,
          beforeMarginSec: state.config.revocations.beforeMarginSec,
          logger,
          refused: refusedCredentials,
        })
        : adminResponse(request, metrics, ready(), draining)
      return answer instanceof Promise ? answer.catch(adminFailed) : answer
    } catch (e) {
      return adminFailed(e)
    }
  }

  /** An admin request that failed: logged as the proxy's are, answered problem+json. */
  function adminFailed(e: unknown): Response {
    return failureResponse(e, logger, ADMIN_LISTENER)
  }

  return {
    fetch: handle,
    admin,
    get ready() {
      return ready()
    },
    get config() {
      return state.config
    },
    metrics,
    reload(next: Config) {
      // Refused as at creation (a ConfigError, a TypeError): the old configuration stays.
      if (local !== undefined) assertGuardable(next)
      if (revocations === undefined) revocationsFor(next, undefined)
      const old = state
      state = buildState(boundAtStart(next, config), stateDeps, old)
      retireState(old, state)
    },
    drain() {
      draining = true
      // Long-lived connections would hold shutdown for its whole timeout: closed now (1001), the
      // clients reconnect to an instance that stays.
      connections.shutdown()
    },
    close() {
      unsubscribe?.()
      retireState(state)
    },
  }
}

/** What a handler guarded in the same process learns of an allowed request. */
export interface Guarded {
  /** The verified claims; undefined on a public route, or an optional one without a token. */
  readonly claims: Claims | undefined
  /** The route's name. */
  readonly route: string
  /** The route pattern's parameters (`/orders/:id` → `{ id }`). */
  readonly params: Readonly<Record<string, string>>
}

/** A fetch handler behind the gateway's rules, in the same process. */
export type LocalHandler = (request: Request, guarded: Guarded) => Response | Promise<Response>

async function callLocal(
  local: LocalHandler,
  request: Request,
  decision: Decision,
  requestId: string,
  counted: Counted | undefined,
): Promise<Response> {
  const guarded = {
    claims: decision.claims,
    route: decision.route.route.name,
    params: decision.params,
  }
  let response = await local(request, guarded)
  try {
    response.headers.set('x-request-id', requestId)
  } catch {
    // Immutable headers (a Response.redirect, a fetch response under Deno): copied once into a
    // response of the same status, status text, headers and body, so that every later edit (the
    // request id, the rate-limit fields, CORS) can be made. One that cannot be copied (a used
    // body, Deno's Response.error() with its status 0) throws here: a 500, as a failing handler.
    response = new Response(response.body, response)
    response.headers.set('x-request-id', requestId)
  }
  if (counted !== undefined) setLimitFields(counted, response.headers)
  return response
}

/**
 * The client's address for the access log and JWTGATE_RATE_LIMIT: the peer's, or behind trusted
 * proxies the one the outermost of them reported.
 */
function clientOf(s: State, request: Request, info: ConnectionInfo): string | undefined {
  const trusted = s.config.trustedProxies
  if (trusted === 0) return info.clientAddress
  return forwardedClient(request.headers.get('x-forwarded-for'), info.clientAddress, trusted)
}

/**
 * `next` with the WebSocket limits the server was started with (`first`'s): the runtime's server
 * enforces its own copy (Bun's backpressure limit, message cap and idle timeout are set when it
 * listens), and a relay bounding buffers by a larger reloaded value would let the server drop
 * messages silently (`send` returning 0). A reload says so (`reload_needs_restart`).
 */
function boundAtStart(next: Config, first: Config): Config {
  const w = next.websockets
  const f = first.websockets
  if (
    w.maxMessageBytes === f.maxMessageBytes && w.maxBufferedBytes === f.maxBufferedBytes &&
    w.idleTimeoutSec === f.idleTimeoutSec
  ) return next
  const websockets = Object.freeze({
    ...w,
    maxMessageBytes: f.maxMessageBytes,
    maxBufferedBytes: f.maxBufferedBytes,
    idleTimeoutSec: f.idleTimeoutSec,
  })
  return Object.freeze({ ...next, websockets })
}

/** The client's X-Request-Id when it is a sane one, else a new UUID. */
function requestIdOf(request: Request): string {
  const incoming = request.headers.get('x-request-id')
  return acceptableRequestId(incoming) ? incoming : crypto.randomUUID()
}

/** JWTGATE_RATE_LIMIT's refusal: 429 with the seconds to wait. */
function limited(waitMs: number): LimitError {
  return new LimitError('rate_limited', 'Too many requests; retry later.', Math.ceil(waitMs / 1000))
}

/**
 * An allowed check: 200 without a body, with the claim headers for the asking proxy to copy
 * upstream — every claim header of the configuration, empty when this route or token gives it no
 * value, so that copying one always replaces a client's copy (Caddy before 2.9 would otherwise
 * set the literal placeholder, 2.10 keep the client's value) — the request id, and the rate-limit
 * fields; never cached.
 */
function checkAnswer(
  s: State,
  decision: Decision,
  requestId: string,
  counted: Counted | undefined,
): Response {
  const headers = new Headers({ 'cache-control': 'no-store', 'x-request-id': requestId })
  for (const name of s.claimHeaderNames) headers.set(name, '')
  for (const [name, value] of claimHeaders(decision)) headers.set(name, value)
  if (counted !== undefined) setLimitFields(counted, headers)
  return new Response(null, { status: 200, headers })
}
