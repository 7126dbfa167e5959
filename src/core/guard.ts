/**
 * @module Guarding your own handler in the same process, with the gateway's routes, providers,
 * requirements, rate limits, CORS, logs and metrics, and no second hop: `protect(config,
 * handler)` runs the handler for allowed requests and hands it the verified claims;
 * `createVerifier(config)` only answers "who is this, and may it pass?" for code that routes by
 * itself. Load the configuration with `loadConfig(env, { local: true })`: no upstream is needed.
 */
import { checkRevoked, revocationsFor } from './revocation/check.ts'
import type { Claims } from './auth/claims.ts'
import type { Config } from './config/types.ts'
import { assertGuardable } from './config/local.ts'
import { authenticate, authorize, route } from './decide.ts'
import {
  type ConnectionInfo,
  createGateway,
  type Gateway,
  type GatewayDeps,
  type Guarded,
  type LocalHandler,
} from './gateway.ts'
import { silentLogger } from './log.ts'
import { acceptableRequestId, checkFraming } from './proxy/headers.ts'
import { errorResponse } from './respond.ts'
import { checkHost } from './routing/host.ts'
import { checkMethod, checkMethodOverride } from './routing/method.ts'
import { checkHandlerUrl, normalizeTarget } from './routing/path.ts'
import { checkLocalWebSocket } from './websocket/proxy.ts'
import { checkOrigin, CROSS_SITE, isCookieWrite, ownOrigin, urlProtocol } from './origin.ts'
import { buildState, retireState } from './state.ts'

export type { Guarded, LocalHandler }

/**
 * A gateway whose allowed requests go to `handler`, with what was verified, instead of an
 * upstream. Refusals are the gateway's own (401, 403, 404, 429 problem+json).
 *
 * @example
 * import { loadConfig, protect } from 'jwtgate'
 * const guarded = protect(await loadConfig(env, { local: true }), (request, { claims }) =>
 *   Response.json({ hello: claims?.sub }))
 * // guarded.fetch(request) from any server, or serve(guarded, …) from an adapter
 */
export function protect(config: Config, handler: LocalHandler, deps: GatewayDeps = {}): Gateway {
  return createGateway(config, deps, handler)
}

/** What `verify` finds for an allowed request. */
export interface Verified extends Guarded {
  /** The verified claims; undefined on a public route, or an optional one without a token. */
  readonly claims: Claims | undefined
}

/** What `createVerifier` returns: a check for each request, and `close` when done. */
export interface RequestVerifier {
  /**
   * The verified claims, route and parameters for `request`, or the refusal to send back (a
   * problem+json Response: 401 with `WWW-Authenticate`, 403, 404, 503).
   */
  verify(request: Request, info?: ConnectionInfo): Promise<Verified | Response>
  /** Stops background work (JWKS refreshes). */
  close(): void
}

/**
 * The decision alone: route, token, provider, revocations (when `deps.revocations` is given),
 * requirements — no proxying, rate limits, logs or metrics (use `protect` for those).
 *
 * @example
 * import { createVerifier, loadConfig } from 'jwtgate'
 * const verifier = createVerifier(await loadConfig(env, { local: true }))
 * const who = await verifier.verify(request)
 * if (who instanceof Response) return who
 * console.log(who.claims?.sub)
 */
export function createVerifier(
  config: Config,
  deps: Pick<GatewayDeps, 'fetch' | 'now' | 'logger' | 'revocations'> = {},
): RequestVerifier {
  assertGuardable(config)
  const revocations = revocationsFor(config, deps.revocations)
  const state = buildState(config, {
    fetch: deps.fetch ?? globalThis.fetch,
    now: deps.now ?? Date.now,
    logger: deps.logger ?? silentLogger,
  })
  return {
    async verify(request, info = {}) {
      try {
        checkMethod(request.method)
        checkHost(request.headers.get('host'))
        const target = normalizeTarget(request.url)
        checkMethodOverride(target.search)
        // The caller routes on request.url itself: one it would read otherwise is refused.
        checkHandlerUrl(request.url)
        const match = route(state, request.method, target.path)
        const decision = await authenticate(state, match, request, target, info.clientAddress)
        if (revocations !== undefined && decision.claims !== undefined) {
          await checkRevoked(revocations, decision, config.revocations, state.now())
        }
        // In the order `protect` checks: a cookie's origin before the route's requirements.
        checkLocalWebSocket(state, request, decision, info.protocol)
        if (isCookieWrite(decision, request.method)) {
          const own = ownOrigin(config, request, info.protocol ?? urlProtocol(request.url))
          checkOrigin(config, request.headers, own, CROSS_SITE)
        }
        authorize(decision, request.method)
        checkFraming(request.headers)
        return { claims: decision.claims, route: match.route.route.name, params: decision.params }
      } catch (e) {
        const incoming = request.headers.get('x-request-id')
        return errorResponse(e, acceptableRequestId(incoming) ? incoming : crypto.randomUUID())
      }
    },
    close: () => retireState(state),
  }
}
