/**
 * @module The verified-token cache: a token seen before skips decoding and signature
 * verification. Keyed by the whole token (never a short hash two tokens could share); bounded;
 * an entry lives until the earliest of the token's `exp`, a maximum age and a change of its
 * provider's key set, and `exp`/`nbf` are checked against the clock on every hit. Only successful
 * verifications are kept. Route policy (scopes, roles, claim rules) still runs on every request.
 */
import type { Claims } from './claims.ts'

export interface CachedToken {
  readonly claims: Claims
  /** The provider that verified it. */
  readonly provider: string
  /** The provider's key-set version when it was verified. */
  readonly keys: number
  /** Epoch ms after which the entry is not used (the token's exp plus skew, or the max age). */
  readonly until: number
  /** Epoch ms before which the token is not yet valid (its nbf/iat minus skew), or 0. */
  readonly from: number
  /** Encoded claim-header values, per route, filled on first use. */
  readonly headers: Map<string, readonly (readonly [string, string])[]>
}

export interface TokenCacheOptions {
  readonly maxEntries: number
  readonly maxAgeMs: number
}

export class TokenCache {
  readonly #entries = new Map<string, CachedToken>()
  constructor(readonly options: TokenCacheOptions) {}

  /** The entry for `token` if it is still usable at `now` with the provider's current key set. */
  get(token: string, now: number, keysVersion: (provider: string) => number): CachedToken | undefined {
    const entry = this.#entries.get(token)
    if (entry === undefined) return undefined
    if (now >= entry.until || now < entry.from || keysVersion(entry.provider) !== entry.keys) {
      this.#entries.delete(token)
      return undefined
    }
    return entry
  }

  /** Keeps a verified token. `skewSec` widens exp/nbf the way verification did. */
  set(token: string, claims: Claims, provider: string, keys: number, skewSec: number, now: number): CachedToken | undefined {
    if (this.options.maxEntries <= 0) return undefined
    const exp = typeof claims.exp === 'number' ? claims.exp * 1000 + skewSec * 1000 : Infinity
    const notBefore = Math.max(typeof claims.nbf === 'number' ? claims.nbf : 0, typeof claims.iat === 'number' ? claims.iat : 0)
    const entry: CachedToken = {
      claims,
      provider,
      keys,
      until: Math.min(exp, now + this.options.maxAgeMs),
      from: notBefore === 0 ? 0 : (notBefore - skewSec) * 1000,
      headers: new Map(),
    }
    if (this.#entries.size >= this.options.maxEntries) {
      // Oldest first: a Map iterates in insertion order.
      const oldest = this.#entries.keys().next()
      if (!oldest.done) this.#entries.delete(oldest.value)
    }
    this.#entries.set(token, entry)
    return entry
  }

  get size(): number {
    return this.#entries.size
  }
}
