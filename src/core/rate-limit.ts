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
import { type Bucket, bucketOf, type LimitCheck, waitOf } from './limits/gcra.ts'
import type { LimitStore } from './limits/store.ts'
import { clientBucket } from './limits/client.ts'

/** The bucket of requests no verified token speaks for. */
export function addressKey(client: string | undefined): string {
  return `ip:${clientBucket(client)}`
}

/**
 * The bucket a verified token's request counts in: its subject's; for a token without `sub`
 * (a machine's, often), which names no one, its address's — else every such token of an issuer
 * would share one bucket, and one client spend the limit of all.
 */
export function tokenKey(
  iss: string | undefined,
  sub: string | undefined,
  client: string | undefined,
): string {
  return sub === undefined ? addressKey(client) : subjectKey(iss, sub)
}

/**
 * The bucket of a verified token's subject: issuer and subject as JSON strings, which end where
 * they say (with `:` between, the issuer `https://a` and subject `b:c` would share the bucket of
 * `https://a:b` and `c`: one user spending another's limit) and spell a lone surrogate out (Redis
 * keys are UTF-8: `\ud800` and `\ud801` would both become U+FFFD, one bucket).
 */
export function subjectKey(iss: string | undefined, sub: string | undefined): string {
  return `sub:${JSON.stringify(iss ?? '')}${JSON.stringify(sub ?? '')}`
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
  // A request costs at least 10 µs (Redis's script counts in whole µs: at 1 µs a rate of
  // 670,000/s ran as 1,000,000; from 10 µs the rounding is within 5 %), and a period is at most
  // a year.
  if (!(limit >= 1 && periodMs >= 1 && periodMs <= MAX_PERIOD_MS && periodMs / limit >= 0.01)) {
    return undefined
  }
  return { limit, periodMs }
}

const MAX_PERIOD_MS = 366 * 86_400_000

/**
 * Where a gateway takes requests from buckets: in this process (RateLimiter), or shared with
 * other processes (SharedLimiter). `GatewayDeps.limiter` chooses.
 */
export interface Limiter {
  /** The ms until `key` may take a request at `now` (0: now), from what is known here, without taking one. */
  wait(key: string, now: number): number
  /** Takes one request for `key` at `now`; 0 when allowed, else the ms until it would be. */
  take(key: string, now: number): number | Promise<number>
}

/**
 * Buckets in this process (GCRA): the default `Limiter`, bounded to `maxKeys` keys.
 *
 * @example
 * import { RateLimiter } from 'jwtgate'
 * const limiter = new RateLimiter({ limit: 100, periodMs: 60_000 })
 * const wait = limiter.take('sub:https://idp:alice', Date.now()) // 0: allowed; else ms to wait
 */
export class RateLimiter implements Limiter {
  /** Theoretical arrival time per key (GCRA's one number). */
  readonly #tat = new Map<string, number>()
  readonly #interval: number
  readonly #tolerance: number

  /** The limit. */
  readonly rate: RateLimit
  /** Keys kept at most: full buckets are dropped first, then the oldest. */
  readonly maxKeys: number

  /** Empty buckets for `rate`, at most `maxKeys` of them. */
  constructor(rate: RateLimit, maxKeys = 100_000) {
    this.rate = rate
    this.maxKeys = maxKeys
    this.#interval = rate.periodMs / rate.limit
    this.#tolerance = rate.periodMs - this.#interval
  }

  /** The ms until `key` may take a request at `now` (0: now), without taking one. */
  wait(key: string, now: number): number {
    const stored = this.#tat.get(key)
    if (stored === undefined) return 0
    return Math.max(0, this.#tatAt(stored, now) - now - this.#tolerance)
  }

  /**
   * The TAT a bucket holds at `now`: never behind now, nor further ahead than a full bucket's
   * (tolerance and one interval), which no take under a steady clock exceeds — after the wall
   * clock was set back an hour, a bucket used a moment before would otherwise refuse for an hour.
   */
  #tatAt(stored: number, now: number): number {
    if (stored < now) return now
    const most = now + this.#tolerance + this.#interval
    return stored > most ? most : stored
  }

  /** Takes one request for `key` at `now`; returns 0 when allowed, else the ms until it would be. */
  take(key: string, now: number): number {
    const stored = this.#tat.get(key)
    const tat = stored === undefined ? now : this.#tatAt(stored, now)
    const wait = tat - now - this.#tolerance
    if (wait > 0) return wait
    if (stored === undefined && this.#tat.size >= this.maxKeys) this.#evict(now)
    this.#tat.set(key, tat + this.#interval)
    return 0
  }

  /**
   * Keys whose bucket is full again carry no state; drop them, then the oldest if still too many
   * — a hundredth of the keys at once, so that a stream of new keys (addresses a client picks)
   * pays this pass once per many, not each (a pass over 100,000 keys: ~1 ms).
   */
  #evict(now: number): void {
    for (const [key, tat] of this.#tat) if (tat <= now) this.#tat.delete(key)
    const excess = this.#tat.size - this.maxKeys + Math.max(1, Math.ceil(this.maxKeys / 100))
    if (excess > 0) {
      let n = 0
      for (const key of this.#tat.keys()) {
        if (n++ >= excess) break
        this.#tat.delete(key)
      }
    }
  }

  /** Keys with state. */
  get size(): number {
    return this.#tat.size
  }
}

/** What the holder of the buckets answers a take. */
export interface RemoteTake {
  /** 0 when allowed; else the ms until it would be. */
  readonly wait: number
  /** When allowed: the ms until the next take of the key would be (0 or absent: now). */
  readonly next?: number
}

/**
 * A limit whose buckets another process holds (the primary of several workers): every take asks
 * it (`remote`), so the limit holds in total, not per process. A key it refused, or whose bucket
 * its take emptied (`next`), is remembered here until its retry time and refused without asking:
 * a flood over the limit costs no messages, and `wait` knows an emptied bucket as a single
 * process would. When `remote` fails (the holder is gone), this process's own buckets decide.
 *
 * @example
 * import { createGateway, loadConfig, SharedLimiter } from 'jwtgate'
 * // `ask` sends the key to the process that holds the buckets and resolves with its answer.
 * const gateway = createGateway(await loadConfig(env), {
 *   limiter: (rate) => new SharedLimiter(rate, (key) => ask(rate, key)),
 * })
 */
export class SharedLimiter implements Limiter {
  readonly #refusedUntil = new Map<string, number>()
  readonly #local: RateLimiter

  /** The limit (also this process's own buckets' when `remote` fails). */
  readonly rate: RateLimit
  /** Takes one request for `key` where the buckets are (see `RemoteTake`). */
  readonly remote: (key: string) => Promise<RemoteTake>
  /** Refused keys remembered at most. */
  readonly maxKeys: number

  /** A limit `rate` whose buckets `remote` holds. */
  constructor(rate: RateLimit, remote: (key: string) => Promise<RemoteTake>, maxKeys = 100_000) {
    this.rate = rate
    this.remote = remote
    this.maxKeys = maxKeys
    this.#local = new RateLimiter(rate, maxKeys)
  }

  wait(key: string, now: number): number {
    const until = this.#refusedUntil.get(key)
    if (until === undefined) return 0
    // A refusal lasts at most one interval; longer, the clock was set back: the holder is asked.
    if (until > now && until - now <= this.rate.periodMs / this.rate.limit) return until - now
    this.#refusedUntil.delete(key)
    return 0
  }

  take(key: string, now: number): number | Promise<number> {
    const known = this.wait(key, now)
    if (known > 0) return known
    return this.remote(key).then(
      (taken) => {
        // Refused: until the retry time. Allowed but emptied: the next take would be refused.
        const until = taken.wait > 0 ? taken.wait : taken.next ?? 0
        if (until > 0) this.#remember(key, now + until, now)
        return taken.wait
      },
      () => this.#local.take(key, now),
    )
  }

  #remember(key: string, until: number, now: number): void {
    if (this.#refusedUntil.size >= this.maxKeys) {
      for (const [k, t] of this.#refusedUntil) if (t <= now) this.#refusedUntil.delete(k)
      if (this.#refusedUntil.size >= this.maxKeys) this.#refusedUntil.clear()
    }
    this.#refusedUntil.set(key, until)
  }
}

/**
 * JWTGATE_RATE_LIMIT in a `LimitStore` shared by several instances (Redis, behind a
 * GuardedStore): each take is one store call; `wait` knows what the store's guard remembers of
 * refused buckets (the address gate before verification then costs no store call). Its keys start
 * with `~rate:`, which no named limit's can (names start with a letter or digit).
 *
 * @example
 * import { GuardedStore, StoreLimiter } from 'jwtgate'
 * const store = new GuardedStore(redisStore, { name: 'redis' })
 * const gateway = createGateway(config, { limiter: (rate) => new StoreLimiter(rate, store) })
 */
export class StoreLimiter implements Limiter {
  readonly #bucket: Bucket

  /** The limit `rate` (a burst of its count), its buckets in `store`. */
  constructor(
    readonly rate: RateLimit,
    readonly store: LimitStore & { known?(check: LimitCheck, now: number): number },
  ) {
    this.#bucket = bucketOf(rate.limit, rate.periodMs, rate.limit)
  }

  wait(key: string, now: number): number {
    return this.store.known?.({ key: `~rate:${key}`, bucket: this.#bucket }, now) ?? 0
  }

  take(key: string, now: number): number | Promise<number> {
    const bucket = this.#bucket
    const result = this.store.take([{ key: `~rate:${key}`, bucket }], now)
    if (result instanceof Promise) {
      return result.then((r) => (r.allowed ? 0 : Math.max(1, waitOf(r.ahead[0]!, bucket))))
    }
    return result.allowed ? 0 : Math.max(1, waitOf(result.ahead[0]!, bucket))
  }
}
