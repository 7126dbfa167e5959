/**
 * @module A shared store (Redis) with what keeps a gateway fast and correct when it is slow or
 * gone: a circuit breaker, a fallback, and a local memory of refused buckets.
 *
 * - A take that fails (the store's own deadline passed, or it is unreachable) is answered by the
 *   fallback: this process's own buckets (`local`, the default), every request (`allow`) or none
 *   (`deny`). After `failures` failures in a row the breaker opens: takes go straight to the
 *   fallback, and one probe every `retryMs` tries the store again; the first success closes it.
 *   Each change is logged once (`store_down`, `store_up`) and counted.
 * - A bucket the store refused is remembered here until its retry time, and refused without
 *   asking: a flood over a limit does not become a flood of store calls.
 */
import type { Logger } from '../log.ts'
import { type LimitCheck, type TakeResult, waitOf } from './gcra.ts'
import { type LimitStore, MemoryStore } from './store.ts'

/** What a gateway does with a take while the shared store cannot answer. */
export type StoreFallback = 'local' | 'allow' | 'deny'

/** A store's health, as `/metrics` reports it. */
export interface StoreHealth {
  /** The store's name in metrics and logs (`redis`). */
  readonly name: string
  /** False while the breaker is open. */
  readonly up: boolean
  /** Store calls that failed (one per call, however many takes it carried): deadline, unreachable, an error. */
  readonly failures: number
  /** Takes the fallback answered. */
  readonly fallbacks: number
}

/** How a GuardedStore behaves. */
export interface GuardedOptions {
  /** The store's name in metrics and logs. */
  readonly name: string
  /** Who answers while the store cannot (default `local`). */
  readonly fallback?: StoreFallback
  /** Failures in a row that open the breaker (default 3). */
  readonly failures?: number
  /** Time between probes while open, in ms (default 1000). */
  readonly retryMs?: number
  /** Where state changes are logged. */
  readonly logger?: Logger
  /** Refused buckets remembered at most (default 100 000). */
  readonly maxKeys?: number
}

/**
 * A shared `LimitStore` behind a circuit breaker, with a fallback and a memory of refused keys.
 *
 * @example
 * import { GuardedStore } from 'jwtgate'
 * // `redis` is any LimitStore whose calls reject when the store is slow or gone.
 * const store = new GuardedStore(redis, { name: 'redis', fallback: 'local', logger })
 */
export class GuardedStore implements LimitStore, StoreHealth {
  readonly #remote: LimitStore
  readonly #local = new MemoryStore()
  readonly #refused = new Map<string, number>()
  readonly #fallback: StoreFallback
  readonly #threshold: number
  readonly #retryMs: number
  readonly #logger: Logger | undefined
  readonly #maxKeys: number
  #inRow = 0
  /** The last failure seen: takes sent in one store call fail with the same error, and count once. */
  #lastError: unknown = undefined
  #openUntil = 0
  #probing = false
  #up = true
  #failures = 0
  #fallbacks = 0

  /** The store's name in metrics and logs. */
  readonly name: string

  /** `remote` guarded as `options` say. */
  constructor(remote: LimitStore, options: GuardedOptions) {
    this.#remote = remote
    this.name = options.name
    this.#fallback = options.fallback ?? 'local'
    this.#threshold = options.failures ?? 3
    this.#retryMs = options.retryMs ?? 1000
    this.#logger = options.logger
    this.#maxKeys = options.maxKeys ?? 100_000
  }

  get up(): boolean {
    return this.#up
  }
  get failures(): number {
    return this.#failures
  }
  get fallbacks(): number {
    return this.#fallbacks
  }

  /** The ms until a bucket refused before takes a request again, as known here (0: not known). */
  known(check: LimitCheck, now: number): number {
    const tat = this.#refused.get(check.key)
    return tat === undefined || !refusing(tat - now, check) ? 0 : waitOf(tat - now, check.bucket)
  }

  take(checks: readonly LimitCheck[], now: number): TakeResult | Promise<TakeResult> {
    const known = this.#knownRefusal(checks, now)
    if (known !== undefined) return known
    if (!this.#up) {
      if (this.#probing || now < this.#openUntil) return this.#fallbackTake(checks, now)
      this.#probing = true
    }
    let answer: TakeResult | Promise<TakeResult>
    try {
      answer = this.#remote.take(checks, now)
    } catch (e) {
      return this.#failed(e, checks, now)
    }
    if (!(answer instanceof Promise)) return this.#succeeded(answer, checks, now)
    return answer.then(
      (result) => this.#succeeded(result, checks, now),
      (e) => this.#failed(e, checks, now),
    )
  }

  /** A refusal known here: some bucket's remembered retry time is still ahead. */
  #knownRefusal(checks: readonly LimitCheck[], now: number): TakeResult | undefined {
    if (this.#refused.size === 0) return undefined
    let ahead: number[] | undefined
    for (let i = 0; i < checks.length; i++) {
      const check = checks[i]!
      const tat = this.#refused.get(check.key)
      if (tat === undefined) continue
      if (!refusing(tat - now, check)) {
        this.#refused.delete(check.key)
        continue
      }
      ahead ??= new Array<number>(checks.length).fill(0)
      ahead[i] = tat - now
    }
    return ahead === undefined ? undefined : { allowed: false, ahead }
  }

  #succeeded(result: TakeResult, checks: readonly LimitCheck[], now: number): TakeResult {
    this.#inRow = 0
    this.#lastError = undefined
    this.#probing = false
    if (!this.#up) {
      this.#up = true
      this.#logger?.log('info', 'store_up', { store: this.name })
    }
    if (!result.allowed) {
      if (this.#refused.size >= this.#maxKeys) this.#sweep(now)
      for (let i = 0; i < checks.length; i++) {
        const check = checks[i]!
        const ahead = result.ahead[i]!
        if (waitOf(ahead, check.bucket) > 0) this.#refused.set(check.key, now + ahead)
      }
    }
    return result
  }

  #failed(e: unknown, checks: readonly LimitCheck[], now: number): TakeResult {
    this.#probing = false
    // One failed store call that carried several takes is one failure, not one per take.
    if (e !== this.#lastError || typeof e !== 'object' || e === null) {
      this.#lastError = e
      this.#failures++
      this.#inRow++
    }
    if (this.#up && this.#inRow >= this.#threshold) {
      this.#up = false
      this.#logger?.log('warn', 'store_down', {
        store: this.name,
        error: e instanceof Error ? e.message.slice(0, 200) : 'failed',
        fallback: this.#fallback,
      })
    }
    if (!this.#up) this.#openUntil = now + this.#retryMs
    return this.#fallbackTake(checks, now)
  }

  #fallbackTake(checks: readonly LimitCheck[], now: number): TakeResult {
    this.#fallbacks++
    if (this.#fallback === 'local') return this.#local.take(checks, now)
    if (this.#fallback === 'allow') return { allowed: true, ahead: checks.map(() => 0) }
    return { allowed: false, ahead: checks.map((c) => c.bucket.toleranceMs + this.#retryMs) }
  }

  #sweep(now: number): void {
    for (const [key, tat] of this.#refused) if (tat <= now) this.#refused.delete(key)
    if (this.#refused.size >= this.#maxKeys) this.#refused.clear()
  }
}

/**
 * True while a remembered refusal still holds: the bucket has not refilled, and its TAT is no
 * further ahead than a full bucket's — further, the clock was set back since, and the store
 * (which caps it so) is to be asked.
 */
function refusing(ahead: number, check: LimitCheck): boolean {
  return waitOf(ahead, check.bucket) > 0 &&
    ahead <= check.bucket.toleranceMs + check.bucket.intervalMs
}
