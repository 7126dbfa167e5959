/**
 * @module The verified-token cache: a token seen before skips decoding and signature
 * verification. Keyed by the whole token (never a short hash two tokens could share); bounded;
 * an entry lives until the earliest of the token's `exp`, a maximum age and a change of its
 * provider's key set, and `exp`/`nbf`/`iat` are checked against the clock on every hit with the
 * very comparisons verification makes, so a hit never accepts a token a fresh check would refuse.
 * Only successful verifications are kept. Route policy (scopes, roles, claim rules) still runs on
 * every request, and the provider a request would choose is checked by the caller (decide.ts).
 */
import type { TokenHashes } from '../revocation/entry.ts'
import type { Claims } from './claims.ts'

export interface CachedToken {
  readonly claims: Claims
  /** The provider that verified it. */
  readonly provider: string
  /** The provider's key-set version when it was verified. */
  readonly keys: number
  /** The provider's clock skew, in seconds, applied to exp, nbf and iat as verification does. */
  readonly skewSec: number
  /** Epoch ms after which the entry is not used (the maximum age). */
  readonly until: number
  /** Encoded claim-header values, per route, filled on first use. */
  readonly headers: Map<string, readonly (readonly [string, string])[]>
  /** The token's `tokenHashes`, once a revocation by token hash needed them. */
  hash?: TokenHashes
}

export interface TokenCacheOptions {
  readonly maxEntries: number
  readonly maxAgeMs: number
}

/**
 * True when verification at `now` would accept the token's times: jose's comparisons (whole
 * seconds: `exp <= now - skew` is expired, `nbf > now + skew` not yet valid) and verify.ts's own
 * for `iat` (`iat > now + skew`, not rounded).
 */
function timesHold(claims: Claims, skewSec: number, now: number): boolean {
  const seconds = Math.floor(now / 1000)
  const { exp, nbf, iat } = claims
  if (typeof exp === 'number' && exp <= seconds - skewSec) return false
  if (typeof nbf === 'number' && nbf > seconds + skewSec) return false
  return !(typeof iat === 'number' && iat > now / 1000 + skewSec)
}

export class TokenCache {
  readonly #entries = new Map<string, CachedToken>()
  constructor(readonly options: TokenCacheOptions) {}

  /** The entry for `token` if it is still usable at `now` with the provider's current key set. */
  get(
    token: string,
    now: number,
    keysVersion: (provider: string) => number,
  ): CachedToken | undefined {
    const entry = this.#entries.get(token)
    if (entry === undefined) return undefined
    if (
      now >= entry.until || keysVersion(entry.provider) !== entry.keys ||
      !timesHold(entry.claims, entry.skewSec, now)
    ) {
      this.#entries.delete(token)
      return undefined
    }
    return entry
  }

  /** Keeps a verified token. `skewSec` is the provider's clock skew, as verification used it. */
  set(
    token: string,
    claims: Claims,
    provider: string,
    keys: number,
    skewSec: number,
    now: number,
  ): CachedToken | undefined {
    if (this.options.maxEntries <= 0) return undefined
    const entry: CachedToken = {
      claims,
      provider,
      keys,
      skewSec,
      until: now + this.options.maxAgeMs,
      headers: new Map(),
    }
    if (this.#entries.size >= this.options.maxEntries && !this.#entries.has(token)) {
      // Oldest first: a Map iterates in insertion order.
      const oldest = this.#entries.keys().next()
      if (!oldest.done) this.#entries.delete(oldest.value)
    }
    this.#entries.set(token, entry)
    return entry
  }

  /** Drops every entry whose claims `match` (a revocation): returns how many. */
  deleteWhere(match: (entry: CachedToken) => boolean): number {
    let n = 0
    for (const [token, entry] of this.#entries) {
      if (match(entry)) {
        this.#entries.delete(token)
        n++
      }
    }
    return n
  }

  get size(): number {
    return this.#entries.size
  }
}
