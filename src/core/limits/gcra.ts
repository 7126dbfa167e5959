/**
 * @module GCRA, the generic cell rate algorithm, as every limit store computes it: one number per
 * bucket, its theoretical arrival time (TAT). A request may pass when the TAT is no further ahead
 * of now than the tolerance; passing moves the TAT one interval on. The same arithmetic runs in
 * this process (store.ts) and, as a Lua script, inside Redis.
 */

/** A bucket's shape: `limit` requests per `periodMs`, of which `burst` may come at once. */
export interface Bucket {
  /** The time one request costs: the period divided by the limit. */
  readonly intervalMs: number
  /** How far ahead of now the TAT may be and a request still pass: (burst − 1) intervals. */
  readonly toleranceMs: number
}

/**
 * The bucket of `limit` requests per `periodMs` with bursts of up to `burst` requests.
 *
 * @example
 * import { bucketOf } from 'jwtgate'
 * const bucket = bucketOf(100, 60_000, 10) // 100 a minute, at most 10 at once
 * console.log(bucket.intervalMs) // 600
 */
export function bucketOf(limit: number, periodMs: number, burst: number): Bucket {
  const intervalMs = periodMs / limit
  return { intervalMs, toleranceMs: (burst - 1) * intervalMs }
}

/** One bucket to take a request from, in a store: its key, and its shape. */
export interface LimitCheck {
  /** The bucket's key in the store (the limit's name and the key's value). */
  readonly key: string
  /** The bucket's shape. */
  readonly bucket: Bucket
}

/**
 * What a store answers to a take from several buckets at once: either all of them pass (each
 * moves on) or none does (none moves). `ahead[i]` is how far the i-th bucket's TAT is ahead of
 * now afterwards, in ms: what the headers and `Retry-After` are computed from.
 */
export interface TakeResult {
  /** True when every bucket had room; the request was then counted in each. */
  readonly allowed: boolean
  /** Per check, in order: its TAT minus now, after the take (ms, ≥ 0). */
  readonly ahead: readonly number[]
}

/** The ms until a bucket whose TAT is `ahead` ms away takes a request (0: now). */
export function waitOf(ahead: number, bucket: Bucket): number {
  return Math.max(0, ahead - bucket.toleranceMs)
}

/** Requests a bucket whose TAT is `ahead` ms away would still take at once. */
export function remainingOf(ahead: number, bucket: Bucket): number {
  if (ahead > bucket.toleranceMs) return 0
  return Math.floor((bucket.toleranceMs - ahead) / bucket.intervalMs + 1e-9) + 1
}

/**
 * GCRA over several buckets at once, on TATs the caller stores (`read`, `write`): all take a
 * request, or none does.
 */
export function takeAll(
  checks: readonly LimitCheck[],
  now: number,
  read: (key: string) => number | undefined,
  write: (key: string, tat: number) => void,
): TakeResult {
  const ahead = new Array<number>(checks.length)
  let allowed = true
  for (let i = 0; i < checks.length; i++) {
    const check = checks[i]!
    const stored = read(check.key)
    let tat = stored === undefined || stored < now ? now : stored
    // Never further ahead than a full bucket's, which no take under a steady clock exceeds: a
    // wall clock set back would otherwise refuse a bucket used just before for as long.
    const most = now + check.bucket.toleranceMs + check.bucket.intervalMs
    if (tat > most) tat = most
    ahead[i] = tat - now
    if (tat - now > check.bucket.toleranceMs) allowed = false
  }
  if (allowed) {
    for (let i = 0; i < checks.length; i++) {
      const check = checks[i]!
      ahead[i] = ahead[i]! + check.bucket.intervalMs
      write(check.key, now + ahead[i]!)
    }
  }
  return { allowed, ahead }
}
