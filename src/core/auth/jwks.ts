/**
 * @module A remote JWK Set (optionally found through OIDC discovery) as a key source: fetched at
 * start with back-off until it loads, refetched for an unknown `kid` at most once per cooldown,
 * refreshed when older than its max age, and kept when a refresh fails (stale-if-error).
 */
import type { JWK } from 'jose'
import type { Logger } from '../log.ts'
import { importPublicJwk, unusableJwk, type VerifyKey } from './keys.ts'
import {
  describeUrl,
  FetchDocumentError,
  fetchJson,
  fetchJsonDocument,
  insecureUrlProblem,
} from './fetch-json.ts'
import type { KeySource } from './source.ts'

export interface RemoteSourceOptions {
  /** The JWK Set URL, or undefined when it comes from OIDC discovery. */
  readonly jwksUrl: string | undefined
  /** The OIDC issuer whose metadata names the JWK Set. */
  readonly oidcIssuer: string | undefined
  readonly algorithms: readonly string[] | undefined
  readonly cooldownMs: number
  readonly maxAgeMs: number
  readonly timeoutMs: number
  readonly allowInsecure: boolean
  readonly fetch: typeof fetch
  readonly now: () => number
  readonly logger: Logger
  /** Told the outcome of every fetch (metrics). */
  readonly onFetch?: ((ok: boolean) => void) | undefined
}

/**
 * The most keys taken from one key set (identity providers publish a few): a token without a
 * `kid` is tried against every key without one, so a set of thousands (a 1 MB document holds
 * ~2,400 RSA keys) would cost a verification each per forged token. Those past it are skipped.
 */
export const MAX_SET_KEYS = 64

/** Start-up retries: first within 1 s, doubling, capped at 10 s. */
export function startupDelay(attempt: number): number {
  return Math.min(500 * 2 ** attempt, 10_000)
}

class RemoteKeySource implements KeySource {
  readonly label: string
  #keys: readonly VerifyKey[] | undefined
  #kids = new Set<string>()
  #jwksUrl: string | undefined
  #loadedAt = 0
  #lastAttempt = -Infinity
  #inflight: Promise<boolean> | undefined
  #timer: ReturnType<typeof setTimeout> | undefined
  #attempt = 0
  #closed = false
  #version = 0
  /**
   * The `keys` array of the document the keys came from, as JSON: a refetch that finds the same
   * keeps the keys and their version, so the token cache stays valid — any token with an unknown
   * `kid` makes a refetch (one per cooldown), and a new version would send every cached token
   * back through signature verification.
   */
  #document = ''
  /** The keys skipped in that document. */
  #skipped = 0

  constructor(readonly options: RemoteSourceOptions) {
    this.#jwksUrl = options.jwksUrl
    this.label = options.jwksUrl !== undefined
      ? `jwks ${describeUrl(options.jwksUrl)}`
      : `oidc ${describeUrl(options.oidcIssuer!)}`
  }

  current(): readonly VerifyKey[] | undefined {
    if (this.#keys !== undefined && this.options.now() - this.#loadedAt > this.options.maxAgeMs) {
      void this.refresh()
    }
    return this.#keys
  }

  /** Begins loading; retries with back-off until the first key set loads. */
  start(): void {
    void this.#load().then((ok) => this.#scheduleRetry(ok))
  }

  #scheduleRetry(ok: boolean): void {
    if (ok || this.#closed || this.#keys !== undefined) return
    const delay = startupDelay(this.#attempt++)
    this.options.logger.log('warn', 'jwks_retry', { source: this.label, retry_in_ms: delay })
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      void this.#load().then((again) => this.#scheduleRetry(again))
    }, delay)
  }

  refresh(): Promise<boolean> {
    if (this.#inflight !== undefined) return this.#inflight
    if (this.#keys === undefined) return Promise.resolve(false) // the start-up loop owns fetching
    if (this.options.now() - this.#lastAttempt < this.options.cooldownMs) {
      return Promise.resolve(false)
    }
    return this.#load()
  }

  version(): number {
    return this.#version
  }

  close(): void {
    this.#closed = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
  }

  #load(): Promise<boolean> {
    if (this.#inflight !== undefined) return this.#inflight
    this.#lastAttempt = this.options.now()
    this.#inflight = this.#fetchKeys().finally(() => {
      this.#inflight = undefined
    })
    return this.#inflight
  }

  /** A fetch succeeded; `ageMs`: how old the document was when this process got it. */
  #fetched(ageMs: number): void {
    // A copy the fetch kept (the workers' primary): the cooldown and the max age count from when
    // it was fetched, or a key rotated since would reach this process up to a cooldown late. A
    // copy as old as the cooldown or older counts as new — a primary still on a longer window
    // during a reload would otherwise hand the same copy to every refresh, each one allowed at
    // once.
    const age = ageMs < this.options.cooldownMs ? ageMs : 0
    this.#lastAttempt -= age
    this.#loadedAt = this.options.now() - age
    this.#attempt = 0
  }

  async #resolveJwksUrl(): Promise<string> {
    if (this.#jwksUrl !== undefined) return this.#jwksUrl
    const { oidcIssuer, fetch, timeoutMs, allowInsecure } = this.options
    const issuer = oidcIssuer!
    const metadata = (await fetchJson(
      fetch,
      `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`,
      timeoutMs,
    )) as {
      issuer?: unknown
      jwks_uri?: unknown
    }
    if (typeof metadata !== 'object' || metadata === null) {
      throw new FetchDocumentError('OIDC metadata is not an object')
    }
    // OpenID Connect Discovery §4.3: the issuer in the metadata must be identical to the one configured.
    if (metadata.issuer !== issuer) {
      throw new FetchDocumentError(
        `OIDC metadata names issuer ${JSON.stringify(metadata.issuer)}, not ${
          JSON.stringify(issuer)
        }`,
      )
    }
    if (typeof metadata.jwks_uri !== 'string') {
      throw new FetchDocumentError('OIDC metadata has no jwks_uri')
    }
    const problem = insecureUrlProblem(metadata.jwks_uri, allowInsecure)
    if (problem !== undefined) throw new FetchDocumentError(`OIDC jwks_uri ${problem}`)
    this.#jwksUrl = metadata.jwks_uri
    return metadata.jwks_uri
  }

  async #fetchKeys(): Promise<boolean> {
    const { logger } = this.options
    try {
      const url = await this.#resolveJwksUrl()
      const fetched = await fetchJsonDocument(this.options.fetch, url, this.options.timeoutMs)
      const doc = fetched.value as { keys?: unknown }
      if (typeof doc !== 'object' || doc === null || !Array.isArray(doc.keys)) {
        throw new FetchDocumentError('the document has no "keys" array')
      }
      const document = JSON.stringify(doc.keys)
      if (this.#keys !== undefined && document === this.#document) {
        this.#fetched(fetched.ageMs)
        logger.log('info', 'jwks_loaded', {
          source: this.label,
          keys: this.#kids.size,
          skipped: this.#skipped,
          added: [],
          removed: [],
          unchanged: true,
        })
        this.options.onFetch?.(true)
        return true
      }
      const keys: VerifyKey[] = []
      let skipped = 0
      let taken = 0
      for (const jwk of doc.keys as JWK[]) {
        if (
          taken === MAX_SET_KEYS || typeof jwk !== 'object' || jwk === null ||
          unusableJwk(jwk) !== undefined
        ) {
          skipped++
          continue
        }
        try {
          keys.push(...(await importPublicJwk(jwk, this.options.algorithms)))
          taken++
        } catch {
          skipped++
        }
      }
      if (keys.length === 0) throw new FetchDocumentError('the key set has no usable signing key')
      const kids = new Set(keys.map((k) => k.kid ?? ''))
      const added = [...kids].filter((k) => !this.#kids.has(k))
      const removed = [...this.#kids].filter((k) => !kids.has(k))
      this.#keys = Object.freeze(keys)
      this.#version++
      this.#kids = kids
      this.#document = document
      this.#skipped = skipped
      this.#fetched(fetched.ageMs)
      logger.log('info', 'jwks_loaded', {
        source: this.label,
        keys: kids.size,
        skipped,
        added,
        removed,
      })
      this.options.onFetch?.(true)
      return true
    } catch (e) {
      const reason = e instanceof FetchDocumentError ? e.message : 'unexpected error'
      logger.log('warn', 'jwks_failed', {
        source: this.label,
        reason,
        keeping_keys: this.#keys !== undefined,
      })
      this.options.onFetch?.(false)
      return false
    }
  }
}

/** A remote key source; call `start()` to begin fetching. */
export function remoteSource(options: RemoteSourceOptions): KeySource & { start(): void } {
  return new RemoteKeySource(options)
}
