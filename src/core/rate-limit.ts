/**
 * @module A first, in-memory rate limit: GCRA (the generic cell rate algorithm, a smooth token
 * bucket) per key — the token's subject, or the client address for requests without a token. One
 * number per key, no timer per key, and a bounded number of keys.
 */

export interface RateLimit {
  readonly limit: number
  readonly periodMs: number
}

/** Parses `100/1m`, `10/1s`, `1000/1h`. */
export function parseRateLimit(text: string): RateLimit | undefined {
  const match = /^\s*(\d+)\s*\/\s*(\d*)\s*(ms|s|m|h)\s*$/.exec(text)
  if (match === null) return undefined
  const limit = Number(match[1])
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[3] as 'ms' | 's' | 'm' | 'h']
  const periodMs = (match[2] === '' ? 1 : Number(match[2])) * unit
  return limit >= 1 && periodMs >= 1 ? { limit, periodMs } : undefined
}

export class RateLimiter {
  /** Theoretical arrival time per key (GCRA's one number). */
  readonly #tat = new Map<string, number>()
  readonly #interval: number
  readonly #tolerance: number

  constructor(readonly rate: RateLimit, readonly maxKeys = 100_000) {
    this.#interval = rate.periodMs / rate.limit
    this.#tolerance = rate.periodMs - this.#interval
  }

  /** Takes one request for `key` at `now`; returns 0 when allowed, else the ms until it would be. */
  take(key: string, now: number): number {
    const stored = this.#tat.get(key)
    const tat = stored === undefined || stored < now ? now : stored
    const wait = tat - now - this.#tolerance
    if (wait > 0) return wait
    if (stored === undefined && this.#tat.size >= this.maxKeys) this.#evict(now)
    this.#tat.set(key, tat + this.#interval)
    return 0
  }

  /** Keys whose bucket is full again carry no state; drop them, then the oldest if still too many. */
  #evict(now: number): void {
    for (const [key, tat] of this.#tat) if (tat <= now) this.#tat.delete(key)
    const excess = this.#tat.size - this.maxKeys + 1
    if (excess > 0) {
      let n = 0
      for (const key of this.#tat.keys()) {
        if (n++ >= excess) break
        this.#tat.delete(key)
      }
    }
  }

  get size(): number {
    return this.#tat.size
  }
}
