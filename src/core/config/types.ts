/**
 * @module The Config types: what loadConfig returns — the listener, the providers (token issuers
 * and their keys), the upstreams, the ordered routes, and the operational settings.
 */
import type { ClaimPath } from '../auth/claims.ts'
import type { VerifyKey } from '../auth/keys.ts'
import type { Requirements } from '../auth/requirements.ts'
import type { TokenSource } from '../auth/token.ts'
import type { CorsConfig } from '../cors.ts'
import type { LogFormat, LogLevel } from '../log.ts'
import type { StripHeaders } from '../proxy/headers.ts'
import type { UpstreamBase } from '../proxy/url.ts'
import type { NamedLimit } from '../limits/policy.ts'
import type { StoreFallback } from '../limits/guarded.ts'
import type { RateLimit } from '../rate-limit.ts'
import type { Template } from '../routing/template.ts'

/** Reads a file's text; provided by the entrypoint (the core has no file system). */
export type ReadFile = (path: string) => string

/** An environment: variable names and their values. */
export type Environment = Readonly<Record<string, string | undefined>>

/** A claim forwarded upstream in a request header. */
export interface ClaimHeader {
  /** The claim whose value is sent. */
  readonly claim: ClaimPath
  /** Lower-cased header name. */
  readonly header: string
  /**
   * How the value is written: `text` (strings as they are, lists joined with `,`; a value the
   * header cannot carry exactly refuses the token) or `json` (any value, as JSON in ASCII).
   */
  readonly as: ClaimEncoding
}

/** How a claim header writes its value (claims.ts: encodeClaim, encodeClaimJson). */
export type ClaimEncoding = 'text' | 'json'

/** Keys loaded at start, with where they came from. */
export interface LocalKeys {
  /** The kind of key material (`secret`: an HMAC secret), for messages. */
  readonly label: 'secret' | 'public key'
  /** The imported keys, one per algorithm each may verify. */
  readonly keys: readonly VerifyKey[]
}

/** A token issuer: its keys, what its tokens must say, and where its tokens are found. */
export interface ProviderConfig {
  /** The provider's name, as routes refer to it. */
  readonly name: string
  /** Where its verification keys come from. */
  readonly keys: {
    /** Secrets and public keys given directly, imported at start. */
    readonly local: readonly LocalKeys[]
    /** A remote JWK Set (JWTGATE_JWKS_URL). */
    readonly jwksUrl: string | undefined
    /** An issuer whose OpenID Connect discovery names the JWK Set (JWTGATE_OIDC_ISSUER). */
    readonly oidcIssuer: string | undefined
    /** Least time between two refetches of the JWK Set. */
    readonly cooldownMs: number
    /** Timeout of a JWKS or discovery request. */
    readonly timeoutMs: number
    /** A JWK Set older than this is refreshed in the background. */
    readonly maxAgeMs: number
    /** `http://` JWKS and OIDC URLs are allowed on hosts other than loopback. */
    readonly allowInsecure: boolean
  }
  /** What its tokens must satisfy. */
  readonly verify: {
    /** The algorithms a token may use: configured, or derived from the key types. */
    readonly algorithms: readonly string[]
    /** Accepted `iss` values; empty: no check. */
    readonly issuers: readonly string[]
    /** Accepted `aud` values, any one matching; empty: no check. */
    readonly audiences: readonly string[]
    /** Tolerance for `exp`, `nbf` and `iat`, in seconds. */
    readonly clockSkewSec: number
    /** Claims that must be present. */
    readonly requiredClaims: readonly string[]
    /** Required `typ` header value (RFC 8725 §3.11), e.g. `at+jwt`. */
    readonly requiredTyp: string | undefined
  }
  /** Where its tokens are looked for, in order. */
  readonly tokenSources: readonly TokenSource[]
}

/** A named upstream: the base URL requests go to, and how long its response headers may take. */
export interface UpstreamConfig {
  /** The upstream's name, as routes refer to it. */
  readonly name: string
  /** The base URL as configured. */
  readonly url: string
  /** The base URL parsed: origin and path prefix. */
  readonly base: UpstreamBase
  /** Time until the upstream's response headers, counted from the start of the request. */
  readonly timeoutMs: number
}

/** Whether a route needs a valid token, forwards one's claims when present, or is open. */
export type AuthMode = 'required' | 'optional' | 'public'

/** A route: what it matches, where it goes, who may pass, and what reaches the upstream. */
export interface RouteConfig {
  /** The route's name, in logs, metrics and `Guarded.route`. */
  readonly name: string
  /** Where the route is in the configuration: `routes[2]`, or `JWTGATE_PUBLIC_PATHS`. */
  readonly place: string
  /** The path pattern (`/orders/:id`, `/docs/*`). */
  readonly pattern: string
  /** The methods it matches (GET also matches HEAD); undefined: every method. */
  readonly methods: readonly string[] | undefined
  /** The name of the upstream it goes to; empty when a local configuration's route names none. */
  readonly upstream: string
  /** Whether a token is required, optional, or not looked at. */
  readonly auth: AuthMode
  /** Names of the providers whose tokens the route accepts. */
  readonly providers: readonly string[]
  /** A path prefix removed before the request goes upstream. */
  readonly stripPrefix: string | undefined
  /** The upstream path, as a template of the route's parameters (`/items/{params.id}`). */
  readonly rewrite: Template | undefined
  /** Claims sent upstream in request headers. */
  readonly claimHeaders: readonly ClaimHeader[]
  /** The scopes, roles and claim conditions a token must satisfy. */
  readonly require: Requirements
  /**
   * WebSocket upgrades are proxied on this route (when `Config.websockets.enabled`); default:
   * on the routes that authenticate, off on public ones.
   */
  readonly websockets: boolean
}

/**
 * Forward authentication (JWTGATE_MODE=auth, JWTGATE_AUTH_*): checks other proxies ask for
 * (nginx `auth_request`, Caddy `forward_auth`, Traefik `ForwardAuth`, Envoy `ext_authz`).
 */
export interface ForwardAuthConfig {
  /**
   * Requests to this path or below it are checks (in proxy mode: the only ones; in auth mode:
   * the prefix taken off a check's own path, for Envoy's `path_prefix`). Undefined: in proxy mode
   * no checks; in auth mode every request is one.
   */
  readonly path: string | undefined
  /**
   * Who may ask: addresses and CIDR ranges. Undefined: loopback and the networks the listener is
   * on (as the entrypoint reports them).
   */
  readonly callers: readonly string[] | undefined
  /**
   * What says what is checked: `original` (X-Original-Method/-URI, nginx), `forwarded`
   * (X-Forwarded-Method/-Uri, Traefik, Caddy) or `path` (the check's own method and path below
   * `path`, Envoy); the other conventions' headers are then ignored. Undefined: either header
   * convention (a check carrying both is refused), else the check's own path.
   */
  readonly headers: 'original' | 'forwarded' | 'path' | undefined
}

/** The whole validated configuration, deeply frozen. */
export interface Config {
  /** `proxy`: forward allowed requests upstream; `auth`: answer other proxies' checks (JWTGATE_MODE). */
  readonly mode: 'proxy' | 'auth'
  /** Forward-authentication checks: where, from whom, read how. */
  readonly forwardAuth: ForwardAuthConfig
  /** The listen address (JWTGATE_HOST). */
  readonly host: string
  /** The listen port (JWTGATE_PORT; 0 picks a free one). */
  readonly port: number
  /** Proxies in front whose `X-Forwarded-For` entries are trusted (JWTGATE_TRUSTED_PROXIES). */
  readonly trustedProxies: number
  /** The operator's headers never forwarded, beyond the built-in lists. */
  readonly stripHeaders: StripHeaders
  /** The longest token accepted, checked before any decoding. */
  readonly maxTokenBytes: number
  /** Keep the verified token in the upstream request (JWTGATE_FORWARD_TOKEN). */
  readonly forwardToken: boolean
  /** Return the rejection reason in an `X-Jwtgate-Reason` header (debugging only). */
  readonly debugHeaders: boolean
  /** The token issuers and their keys. */
  readonly providers: readonly ProviderConfig[]
  /** The named upstreams (empty with `{ local: true }` and no upstream configured). */
  readonly upstreams: readonly UpstreamConfig[]
  /** The routes, in order: the first that matches a request wins. */
  readonly routes: readonly RouteConfig[]
  /** Log level and format (JWTGATE_LOG_LEVEL, JWTGATE_LOG_FORMAT); see `createLogger`. */
  readonly log: { readonly level: LogLevel; readonly format: LogFormat }
  /** The admin listener (metrics, health, revocations) — off unless a port is given. */
  readonly admin:
    | {
      readonly host: string
      readonly port: number
      /** The bearer credential writes need (JWTGATE_ADMIN_TOKEN); undefined: no writes. */
      readonly token: string | undefined
    }
    | undefined
  /** How long requests in flight may take to finish on shutdown. */
  readonly shutdownTimeoutMs: number
  /**
   * Processes serving the listener (JWTGATE_WORKERS): `auto` is as many as the cores the process may use keep busy.
   * The command line acts on it; an embedded gateway is one process whatever it says.
   */
  readonly workers: Workers
  /** PEM text of the certificate chain and key, read at start; undefined for plain HTTP. */
  readonly tls: { readonly cert: string; readonly key: string } | undefined
  /** CORS for browser clients; undefined: off. */
  readonly cors: CorsConfig | undefined
  /** Request limits. */
  readonly limits: {
    /** Total size of the request's header fields (431 above it). */
    readonly maxHeaderBytes: number
    /** Request body cap, enforced while streaming; undefined: none. */
    readonly maxBodyBytes: number | undefined
    /** Longest silence while waiting for the next chunk of a streamed body (either direction). */
    readonly streamIdleMs: number
  }
  /** WebSocket connections (JWTGATE_WEBSOCKET_*, `websockets:`). */
  readonly websockets: WebSocketsConfig
  /** Requests allowed per period, per token subject or client address; undefined: no limit. */
  readonly rateLimit: RateLimit | undefined
  /** Named limits (`rateLimits:` in the file): per route, provider, and key; all must pass. */
  readonly rateLimits: readonly NamedLimit[]
  /** The shared store of several instances (JWTGATE_REDIS_URL); undefined: this process alone. */
  readonly redis: RedisConfig | undefined
  /** Token revocations: where they are kept, and how the gateway checks them. */
  readonly revocations: RevocationsConfig
  /** The verified-token cache: entries (0: off) and the longest an entry is used. */
  readonly tokenCache: { readonly size: number; readonly maxAgeMs: number }
  /** The configuration file, when there is one. */
  readonly file: { readonly path: string; readonly watch: boolean } | undefined
  /** Problems that do not stop the gateway (a route shadowed by an earlier one). */
  readonly warnings: readonly string[]
}

/** Where several instances share rate-limit buckets: a Redis (or Valkey) server. */
export interface RedisConfig {
  /** `redis://` or `rediss://` (TLS), with user, password and database: a secret, never logged. */
  readonly url: string
  /** The deadline of every call; past it the fallback answers. */
  readonly timeoutMs: number
  /** Who answers while Redis cannot: this process's own buckets, everyone, or no one. */
  readonly onFailure: StoreFallback
  /** The start of every key jwtgate writes. */
  readonly prefix: string
}

/** Token revocations (JWTGATE_REVOCATIONS_*, `revocations:`). */
export interface RevocationsConfig {
  /**
   * One instance: the file they are kept in (JSON lines), reloaded when it changes. With Redis
   * configured they are in Redis instead, and this is undefined.
   */
  readonly file: string | undefined
  /** Refuse tokens (503) while the list cannot be confirmed (Redis unreachable). */
  readonly strict: boolean
  /** How long a token may live at most: how long subject and issuer revocations are kept. */
  readonly maxTokenLifetimeSec: number
  /** Entries kept at most. */
  readonly maxEntries: number
  /**
   * The largest clock skew of the providers: a new subject or issuer revocation without `before`
   * covers tokens issued up to this long after it is made, as verification accepts an `iat` that
   * far ahead (an identity provider whose clock runs ahead dates its tokens so).
   */
  readonly beforeMarginSec: number
}

/** WebSocket connections through the gateway. */
export interface WebSocketsConfig {
  /** Upgrades are proxied at all (JWTGATE_WEBSOCKETS); each route then says whether on it. */
  readonly enabled: boolean
  /** The largest message either side may send (1009 above it). */
  readonly maxMessageBytes: number
  /**
   * Bytes waiting for a slow receiver at most; past it the connection is closed (1013): the
   * runtimes' WebSocket objects cannot stop reading the other side.
   */
  readonly maxBufferedBytes: number
  /** A connection with no message and no answered ping this long is closed (pings are sent). */
  readonly idleTimeoutSec: number
  /** Open connections at most per process (503 above it). */
  readonly maxConnections: number
  /** Time a connection outlives its token's `exp`, beyond the provider's clock skew. */
  readonly expiryGraceMs: number
}

/** JWTGATE_WORKERS: a count, or `auto`. */
export type Workers = number | 'auto'
