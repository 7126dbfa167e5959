/**
 * @module Where limit buckets live: the `LimitStore` the gateway takes requests from. This
 * process's memory (`MemoryStore`, the default), or a store shared by several instances (Redis,
 * given by the entrypoint; `GuardedStore` puts a circuit breaker and a fallback around it).
 */
import { type LimitCheck, takeAll, type TakeResult } from './gcra.ts'

/** Holds buckets; takes one request from several at once, all or none (see `TakeResult`). */
export interface LimitStore {
  /** Takes one request from every bucket of `checks`, or from none; `now` is this process's clock. */
  take(checks: readonly LimitCheck[], now: number): TakeResult | Promise<TakeResult>
}

/**
 * Buckets in this process's memory, bounded to `maxKeys`: full buckets are dropped first, then
 * the oldest.
 *
 * @example
 * import { bucketOf, MemoryStore } from 'jwtgate'
 * const store = new MemoryStore()
 * const { allowed } = store.take([{ key: 'per-user:alice', bucket: bucketOf(10, 1000, 10) }], Date.now())
 */
export class MemoryStore implements LimitStore {
  readonly #tat = new Map<string, number>()
  readonly #read = (key: string) => this.#tat.get(key)
  #now = 0
  readonly #write = (key: string, tat: number) => {
    if (this.#tat.size >= this.maxKeys && !this.#tat.has(key)) this.#evict(this.#now)
    this.#tat.set(key, tat)
  }

  /** Empty buckets, at most `maxKeys` of them. */
  constructor(readonly maxKeys = 100_000) {}

  take(checks: readonly LimitCheck[], now: number): TakeResult {
    this.#now = now
    return takeAll(checks, now, this.#read, this.#write)
  }

  /**
   * Keys whose bucket is full again carry no state; drop them, then the oldest if still too many
   * — a hundredth of the keys at once, so that a flood of new keys costs one scan per hundredth,
   * not one per key.
   */
  #evict(now: number): void {
    for (const [key, tat] of this.#tat) if (tat <= now) this.#tat.delete(key)
    let excess = this.#tat.size - this.maxKeys + Math.max(1, Math.floor(this.maxKeys / 100))
    for (const key of this.#tat.keys()) {
      if (excess-- <= 0) break
      this.#tat.delete(key)
    }
  }

  /** Buckets with state. */
  get size(): number {
    return this.#tat.size
  }
}
