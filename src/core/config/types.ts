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
import type { RateLimit } from '../rate-limit.ts'
import type { Template } from '../routing/template.ts'

/** Reads a file's text; provided by the entrypoint (the core has no file system). */
export type ReadFile = (path: string) => string

/** An environment: variable names and their values. */
export type Environment = Readonly<Record<string, string | undefined>>

/** A claim forwarded upstream in a request header. */
export interface ClaimHeader {
  readonly claim: ClaimPath
  /** Lower-cased header name. */
  readonly header: string
}

/** Keys loaded at start, with where they came from. */
export interface LocalKeys {
  readonly label: 'secret' | 'public key'
  readonly keys: readonly VerifyKey[]
}

/** A token issuer: its keys, what its tokens must say, and where its tokens are found. */
export interface ProviderConfig {
  readonly name: string
  readonly keys: {
    readonly local: readonly LocalKeys[]
    readonly jwksUrl: string | undefined
    readonly oidcIssuer: string | undefined
    readonly cooldownMs: number
    readonly timeoutMs: number
    readonly maxAgeMs: number
    readonly allowInsecure: boolean
  }
  readonly verify: {
    /** The algorithms a token may use: configured, or derived from the key types. */
    readonly algorithms: readonly string[]
    readonly issuers: readonly string[]
    readonly audiences: readonly string[]
    readonly clockSkewSec: number
    readonly requiredClaims: readonly string[]
    /** Required `typ` header value (RFC 8725 §3.11), e.g. `at+jwt`. */
    readonly requiredTyp: string | undefined
  }
  readonly tokenSources: readonly TokenSource[]
}

/** A named upstream: the base URL requests go to, and how long its response headers may take. */
export interface UpstreamConfig {
  readonly name: string
  readonly url: string
  readonly base: UpstreamBase
  readonly timeoutMs: number
}

/** Whether a route needs a valid token, forwards one's claims when present, or is open. */
export type AuthMode = 'required' | 'optional' | 'public'

/** A route: what it matches, where it goes, who may pass, and what reaches the upstream. */
export interface RouteConfig {
  readonly name: string
  /** Where the route is in the configuration: `routes[2]`, or `JWTGATE_PUBLIC_PATHS`. */
  readonly place: string
  readonly pattern: string
  readonly methods: readonly string[] | undefined
  readonly upstream: string
  readonly auth: AuthMode
  /** Names of the providers whose tokens the route accepts. */
  readonly providers: readonly string[]
  readonly stripPrefix: string | undefined
  readonly rewrite: Template | undefined
  readonly claimHeaders: readonly ClaimHeader[]
  readonly require: Requirements
}

/** The whole validated configuration, deeply frozen. */
export interface Config {
  readonly host: string
  readonly port: number
  readonly trustedProxies: number
  /** The operator's headers never forwarded, beyond the built-in lists. */
  readonly stripHeaders: StripHeaders
  readonly maxTokenBytes: number
  readonly forwardToken: boolean
  /** Return the rejection reason in an `X-Jwtgate-Reason` header (debugging only). */
  readonly debugHeaders: boolean
  readonly providers: readonly ProviderConfig[]
  readonly upstreams: readonly UpstreamConfig[]
  readonly routes: readonly RouteConfig[]
  readonly log: { readonly level: LogLevel; readonly format: LogFormat }
  /** The admin listener (metrics, health) — off unless a port is given. */
  readonly admin: { readonly host: string; readonly port: number } | undefined
  readonly shutdownTimeoutMs: number
  /** PEM text of the certificate chain and key, read at start; undefined for plain HTTP. */
  readonly tls: { readonly cert: string; readonly key: string } | undefined
  readonly cors: CorsConfig | undefined
  readonly limits: {
    readonly maxHeaderBytes: number
    /** Request body cap, enforced while streaming; undefined: none. */
    readonly maxBodyBytes: number | undefined
    readonly streamIdleMs: number
  }
  readonly rateLimit: RateLimit | undefined
  /** The verified-token cache: entries (0: off) and the longest an entry is used. */
  readonly tokenCache: { readonly size: number; readonly maxAgeMs: number }
  /** The configuration file, when there is one. */
  readonly file: { readonly path: string; readonly watch: boolean } | undefined
  /** Problems that do not stop the gateway (a route shadowed by an earlier one). */
  readonly warnings: readonly string[]
}
