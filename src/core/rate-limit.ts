/**
 * @module A first, in-memory rate limit: GCRA (the generic cell rate algorithm, a smooth token
 * bucket) per key. One number per key, no timer per key, and a bounded number of keys.
 *
 * The buckets: a request whose token verified (allowed, or refused 403 by the route's rules)
 * counts for its subject (`iss` and `sub`); every other request counts for the client address —
 * anonymous requests on public and optional routes, and requests refused 401 (no token, a bad
 * one). An address over its limit is refused (429) before its token is decoded or verified, so
 * floods of bad tokens cost no signature checks; a token the verified-token cache holds still
 * passes (it costs nothing, and its subject's own bucket applies).
 */
import { unitMs } from './config/values.ts'

/** The bucket of requests no verified token speaks for. */
export function addressKey(client: string | undefined): string {
  return `ip:${client ?? ''}`
}

/** The bucket of a verified token's subject. */
export function subjectKey(iss: string | undefined, sub: string | undefined): string {
  return `sub:${iss ?? ''}:${sub ?? ''}`
}

/** A rate limit (JWTGATE_RATE_LIMIT `100/1m`): `limit` requests per `periodMs`. */
export interface RateLimit {
  /** Requests allowed per period. */
  readonly limit: number
  /** The period, in milliseconds. */
  readonly periodMs: number
}

/** Parses `100/1m`, `10/1s`, `1000/1h` (the units of durations). */
export function parseRateLimit(text: string): RateLimit | undefined {
  const match = /^\s*(\d+)\s*\/\s*(\d*)\s*([a-z]+)\s*$/.exec(text)
  const unit = match === null ? undefined : unitMs(match[3]!)
  if (unit === undefined) return undefined
  const limit = Number(match![1])
  const periodMs = (match![2] === '' ? 1 : Number(match![2])) * unit
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

  /** The ms until `key` may take a request at `now` (0: now), without taking one. */
  wait(key: string, now: number): number {
    const stored = this.#tat.get(key)
    if (stored === undefined) return 0
    return Math.max(0, (stored < now ? now : stored) - now - this.#tolerance)
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
