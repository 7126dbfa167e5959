/**
 * @module The running form of a Config: key sources and a verifier per provider, upstreams by
 * name, routes compiled once. A reload builds a new State and swaps it in; remote key sources
 * whose settings did not change carry over, so a reload never waits for a JWK Set again.
 */
import { TokenCache } from './auth/cache.ts'
import { remoteSource } from './auth/jwks.ts'
import { type KeySource, staticSource } from './auth/source.ts'
import {
  describeTokenSource,
  refererHeader,
  removedAfterHeaders,
  tokenHeader,
  type TokenSource,
} from './auth/token.ts'
import { createVerifier, type Verifier } from './auth/verify.ts'
import type { Config, ProviderConfig, RouteConfig, UpstreamConfig } from './config/types.ts'
import type { Logger } from './log.ts'
import type { Metrics } from './metrics.ts'
import {
  foldHeaderName,
  type HeaderFilter,
  NOT_FORWARDED_PREFIXES,
  Prefixes,
} from './proxy/headers.ts'
import { AddressSet, LOOPBACK } from './forward/addresses.ts'
import type { ForwardAuth } from './forward/check.ts'
import { type ActiveLimit, activeLimits } from './limits/policy.ts'
import { type LimitStore, MemoryStore } from './limits/store.ts'
import { type Limiter, type RateLimit, RateLimiter } from './rate-limit.ts'
import { type CompiledRoute, compileRoutes } from './routing/routes.ts'

export interface Provider {
  readonly config: ProviderConfig
  readonly sources: readonly KeySource[]
  readonly verifier: Verifier
}

/** Where a route looks for a token, and which of its providers may verify a token found there. */
export interface RouteAuth {
  /** The token sources of every provider the route accepts, in order, without repeats. */
  readonly sources: readonly TokenSource[]
  /**
   * Per source (the objects in `sources`): the route's providers that list it, in the route's
   * order. A token is verified only by a provider that looks for it where it was found.
   */
  readonly candidates: ReadonlyMap<TokenSource, readonly Provider[]>
}

export interface State {
  readonly config: Config
  readonly providers: ReadonlyMap<string, Provider>
  readonly upstreams: ReadonlyMap<string, UpstreamConfig>
  readonly routes: readonly CompiledRoute<RouteConfig>[]
  /** Per route: where its token is looked for, and by which providers it is verified. */
  readonly auth: ReadonlyMap<RouteConfig, RouteAuth>
  /**
   * What upstreamHeaders leaves out of every request: every claim header of every route, folded
   * (a client's copy is removed on every path), the operator's strip list, the headers tokens
   * travel in, and the size cap.
   */
  readonly headerFilter: HeaderFilter
  /**
   * The token sources of every provider that the header pass cannot take out (cookies, query
   * parameters): removed from every request but for the verified copy when it is forwarded.
   */
  readonly afterHeaders: readonly TokenSource[]
  /**
   * The `protocol:` token sources of every provider: a WebSocket's marker and the token after it
   * are never offered upstream (but for the verified copy when it is forwarded).
   */
  readonly tokenProtocols: readonly Extract<TokenSource, { kind: 'protocol' }>[]
  /** JWTGATE_RATE_LIMIT's buckets; carried over by a reload that keeps the same limit. */
  readonly limiter: Limiter | undefined
  /** Forward-authentication checks, when the configuration answers any. */
  readonly forwardAuth: ForwardAuth | undefined
  /**
   * Every claim header of every route (lower-cased, without repeats): an allowed check answers
   * each, empty when it has no value, so a proxy that copies them always replaces a client's copy.
   */
  readonly claimHeaderNames: readonly string[]
  /** Per route with named limits (`rateLimits:`): those that apply to it, compiled. */
  readonly routeLimits: ReadonlyMap<RouteConfig, readonly ActiveLimit[]>
  /** Where the named limits' buckets are: the gateway's store, or this process's memory. */
  readonly limitStore: LimitStore
  /** Remote sources by their settings, for reuse by the next State. */
  readonly remotes: ReadonlyMap<string, KeySource & { start(): void }>
  readonly metrics: Metrics | undefined
  readonly now: () => number
  /** Verified tokens of this configuration (a reload starts afresh: issuers or audiences may differ). */
  readonly cache: TokenCache | undefined
  /** The key-set version of a provider: the sum of its sources' versions. */
  readonly keysVersion: (provider: string) => number
}

export interface StateDeps {
  readonly fetch: typeof fetch
  /** Fetches JWK Sets and OIDC metadata (default: `fetch`). */
  readonly keyFetch?: typeof fetch
  /** Makes the buckets of a rate limit (default: this process's own, RateLimiter). */
  readonly limiter?: (rate: RateLimit) => Limiter
  /** The networks the listener is on (CIDR ranges): with loopback, the default check callers. */
  readonly localNetworks?: readonly string[]
  /** Holds the named limits' buckets (default: this process's memory, kept across reloads). */
  readonly limitStore?: LimitStore
  readonly now: () => number
  readonly logger: Logger
  readonly metrics?: Metrics
}

function remoteKey(p: ProviderConfig): string {
  const { jwksUrl, oidcIssuer, cooldownMs, timeoutMs, maxAgeMs, allowInsecure } = p.keys
  return JSON.stringify([
    jwksUrl,
    oidcIssuer,
    cooldownMs,
    timeoutMs,
    maxAgeMs,
    allowInsecure,
    p.verify.algorithms,
  ])
}

/**
 * The providers a remote key source serves, each of which counts its fetches
 * (`jwtgate_jwks_fetches_total`); a reload that keeps the source names them anew.
 */
const servedProviders = new WeakMap<KeySource, string[]>()

/** Builds the running state; `previous` lends its remote key sources where settings match. */
export function buildState(config: Config, deps: StateDeps, previous?: State): State {
  const remotes = new Map<string, KeySource & { start(): void }>()
  const providers = new Map<string, Provider>()
  for (const p of config.providers) {
    const sources: KeySource[] = p.keys.local.map((l) => staticSource(l.label, l.keys))
    if (p.keys.jwksUrl !== undefined || p.keys.oidcIssuer !== undefined) {
      const key = remoteKey(p)
      let remote = remotes.get(key)
      if (remote === undefined) {
        remote = previous?.remotes.get(key)
        // This state's providers only: a renamed or removed one no longer counts.
        if (remote !== undefined) servedProviders.get(remote)!.length = 0
      }
      if (remote === undefined) {
        const served: string[] = []
        remote = remoteSource({
          jwksUrl: p.keys.jwksUrl,
          oidcIssuer: p.keys.oidcIssuer,
          algorithms: p.verify.algorithms,
          cooldownMs: p.keys.cooldownMs,
          maxAgeMs: p.keys.maxAgeMs,
          timeoutMs: p.keys.timeoutMs,
          allowInsecure: p.keys.allowInsecure,
          fetch: deps.keyFetch ?? deps.fetch,
          now: deps.now,
          logger: deps.logger,
          onFetch: deps.metrics === undefined ? undefined : (ok) => {
            const result = ok ? 'success' : 'failure'
            for (const name of served) deps.metrics!.jwksFetches.inc([name, result])
          },
        })
        servedProviders.set(remote, served)
        remote.start()
      }
      servedProviders.get(remote)!.push(p.name)
      remotes.set(key, remote)
      sources.push(remote)
    }
    providers.set(p.name, {
      config: p,
      sources,
      verifier: createVerifier({ sources, ...p.verify, now: deps.now }),
    })
  }
  const auth = new Map(
    config.routes.map((r) => [r, routeAuth(r.providers.map((name) => providers.get(name)!))]),
  )
  const allSources = uniqueSources([...providers.values()])
  const sameLimit = previous !== undefined &&
    JSON.stringify(previous.config.rateLimit) === JSON.stringify(config.rateLimit)
  return {
    config,
    providers,
    upstreams: new Map(config.upstreams.map((u) => [u.name, u])),
    routes: compileRoutes(config.routes),
    auth,
    headerFilter: {
      strip: new Set([
        ...config.routes.flatMap((r) => r.claimHeaders.map((c) => foldHeaderName(c.header))),
        ...config.stripHeaders.names.map(foldHeaderName),
      ]),
      // Folded like the names: `X_Internal-*` also takes a client's `X-Internal-Role`.
      prefixes: new Prefixes([
        ...NOT_FORWARDED_PREFIXES,
        ...config.stripHeaders.prefixes.map(foldHeaderName),
      ]),
      tokenHeaders: new Map(
        [...allSources.map(tokenHeader), refererHeader(allSources)].flatMap((header) =>
          header === undefined ? [] : [[header.name, header] as const]
        ),
      ),
      maxBytes: config.limits.maxHeaderBytes,
    },
    afterHeaders: allSources.filter(removedAfterHeaders),
    tokenProtocols: allSources.filter((t): t is Extract<TokenSource, { kind: 'protocol' }> =>
      t.kind === 'protocol'
    ),
    limiter: sameLimit
      ? previous.limiter
      : config.rateLimit === undefined
      ? undefined
      : deps.limiter?.(config.rateLimit) ?? new RateLimiter(config.rateLimit),
    forwardAuth: config.mode === 'auth' || config.forwardAuth.path !== undefined
      ? {
        config: config.forwardAuth,
        everyRequest: config.mode === 'auth',
        callers: new AddressSet(
          config.forwardAuth.callers ?? [...LOOPBACK, ...(deps.localNetworks ?? [])],
        ),
      }
      : undefined,
    claimHeaderNames: [
      ...new Set(config.routes.flatMap((r) => r.claimHeaders.map((c) => c.header))),
    ],
    routeLimits: new Map(
      config.routes.flatMap((r) => {
        const limits = activeLimits(config.rateLimits, r.name)
        return limits.length === 0 ? [] : [[r, limits] as const]
      }),
    ),
    limitStore: deps.limitStore ?? previous?.limitStore ?? new MemoryStore(),
    remotes,
    metrics: deps.metrics,
    now: deps.now,
    cache: config.tokenCache.size > 0
      ? new TokenCache({ maxEntries: config.tokenCache.size, maxAgeMs: config.tokenCache.maxAgeMs })
      : undefined,
    keysVersion(name) {
      let version = 0
      for (const source of providers.get(name)?.sources ?? []) version += source.version()
      return version
    },
  }
}

/** The token sources of `providers`, in order, without repeats. */
function uniqueSources(providers: readonly Provider[]): TokenSource[] {
  return [...routeAuth(providers).sources]
}

/** The token sources of `providers` in order without repeats, each with the providers that list it. */
function routeAuth(providers: readonly Provider[]): RouteAuth {
  const byId = new Map<string, { source: TokenSource; providers: Provider[] }>()
  for (const provider of providers) {
    for (const source of provider.config.tokenSources) {
      const id = describeTokenSource(source)
      const known = byId.get(id)
      if (known === undefined) byId.set(id, { source, providers: [provider] })
      else known.providers.push(provider)
    }
  }
  const entries = [...byId.values()]
  return {
    sources: entries.map((e) => e.source),
    candidates: new Map(entries.map((e) => [e.source, e.providers])),
  }
}

/** True once every key source of every provider has a key set. */
export function isReady(state: State): boolean {
  for (const p of state.providers.values()) {
    for (const s of p.sources) if (s.current() === undefined) return false
  }
  return true
}

/** Stops the remote sources of `old` that `next` does not carry over. */
export function retireState(old: State, next?: State): void {
  const kept = new Set(next?.remotes.values() ?? [])
  for (const remote of old.remotes.values()) if (!kept.has(remote)) remote.close()
}
