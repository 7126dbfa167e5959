/**
 * @module What the primary keeps for all its workers, so that several processes act as one:
 * the rate-limit buckets (every worker's take is decided here, so a limit of N allows N in total),
 * and JWK Set / OIDC metadata fetches (one fetch serves every worker that asks for the same
 * address within the providers' shortest cooldown, so a key rotation does not cost a fetch per
 * worker).
 */
import { FetchDocumentError, MAX_DOCUMENT_BYTES, readCapped } from '../../core/auth/fetch-json.ts'
import type { Config } from '../../core/config/types.ts'
import type { TakeResult } from '../../core/limits/gcra.ts'
import { MemoryStore } from '../../core/limits/store.ts'
import { RateLimiter, type RemoteTake } from '../../core/rate-limit.ts'

/**
 * What a worker learns of a fetch: a status and body — with how long ago the primary's fetch of it
 * began, when it is a copy kept for the window — or why there is none.
 */
export type FetchReply =
  | {
    readonly status: number
    readonly body: string
    readonly tooLarge?: boolean
    readonly ageMs?: number
  }
  | { readonly error: string }

/** How long the primary waits for a key document (the workers keep their own, shorter deadlines). */
const FETCH_TIMEOUT_MS = 30_000

export class Shared {
  readonly #limiters = new Map<string, RateLimiter>()
  readonly #buckets = new MemoryStore()
  readonly #fetches = new Map<string, { at: number; reply: Promise<FetchReply> }>()
  #windowMs = 0

  constructor(
    config: Config,
    readonly fetch: typeof globalThis.fetch = globalThis.fetch,
    readonly now: () => number = Date.now,
  ) {
    this.configure(config)
  }

  /**
   * Takes the fetch window: the shortest cooldown of the remote providers of `configs` (during a
   * reload, the old configuration's and the new one's: a worker on either never gets a copy older
   * than its own cooldown).
   */
  configure(...configs: Config[]): void {
    const cooldowns = configs.flatMap((config) => config.providers)
      .filter((p) => p.keys.jwksUrl !== undefined || p.keys.oidcIssuer !== undefined)
      .map((p) => p.keys.cooldownMs)
    this.#windowMs = cooldowns.length === 0 ? 0 : Math.min(...cooldowns)
  }

  /** One take from `key`'s bucket of the limit `limit`/`periodMs`, and what the next would wait. */
  take(limit: number, periodMs: number, key: string): RemoteTake {
    const id = `${limit}/${periodMs}`
    let limiter = this.#limiters.get(id)
    if (limiter === undefined) {
      limiter = new RateLimiter({ limit, periodMs })
      this.#limiters.set(id, limiter)
    }
    const now = this.now()
    const wait = limiter.take(key, now)
    return wait > 0 ? { wait } : { wait, next: limiter.wait(key, now) }
  }

  /**
   * One take from the named limits' buckets of a request (`rateLimits:`), all or none: `checks`
   * as a worker sends them, `[key, intervalMs, toleranceMs]` each.
   */
  takeAll(checks: readonly (readonly [string, number, number])[]): TakeResult {
    return this.#buckets.take(
      checks.map(([key, intervalMs, toleranceMs]) => ({
        key,
        bucket: { intervalMs, toleranceMs },
      })),
      this.now(),
    )
  }

  /**
   * GETs a key document for a worker. A fetch in flight is shared; a successful one is reused
   * within the window, with its age (from when its fetch began: the worker's cooldown counts
   * from there, so a key rotated since reaches it within one cooldown); a failed one is not kept
   * (each worker retries with its own back-off).
   */
  fetchDocument(url: string): Promise<FetchReply> {
    const now = this.now()
    const known = this.#fetches.get(url)
    // Not a copy from the future either: a clock stepped back would keep it past its window.
    const ageMs = known === undefined ? -1 : now - known.at
    if (known !== undefined && ageMs >= 0 && ageMs < this.#windowMs) {
      return ageMs === 0 ? known.reply : known.reply.then((r) => withAge(r, ageMs))
    }
    const reply = this.#get(url)
    const entry = { at: now, reply }
    this.#fetches.set(url, entry)
    void reply.then((r) => {
      // Only a document the workers can use is kept for the window: not a refusal, a body over
      // the cap, nor an identity provider's error page with a 200 (no JSON object): a failed
      // fetch is tried again by each worker with its own back-off, as in one process.
      if (!usable(r) && this.#fetches.get(url) === entry) this.#fetches.delete(url)
    })
    return reply
  }

  async #get(url: string): Promise<FetchReply> {
    // Only what the configuration may name (checked there): never a file or data URL, whatever
    // a worker asks.
    if (!/^https?:\/\//i.test(url)) return { error: 'not an http or https URL' }
    try {
      const response = await this.fetch(url, {
        headers: { accept: 'application/json' },
        redirect: 'manual',
        signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
      })
      if (response.status !== 200) {
        await response.body?.cancel()
        return { status: response.status, body: '' }
      }
      const text = response.body === null ? '' : await readCapped(response.body, MAX_DOCUMENT_BYTES)
      return { status: 200, body: text }
    } catch (e) {
      // The worker's own check refuses it with its usual message.
      if (e instanceof FetchDocumentError) return { status: 200, body: '', tooLarge: true }
      const timedOut = e instanceof Error && e.name === 'TimeoutError'
      return { error: timedOut ? `no response within ${FETCH_TIMEOUT_MS} ms` : 'connection failed' }
    }
  }
}

/** A 200 with a body within the cap that is a JSON object (a key set, OpenID metadata). */
function usable(reply: FetchReply): boolean {
  if (!('status' in reply) || reply.status !== 200 || reply.tooLarge === true) return false
  try {
    const value: unknown = JSON.parse(reply.body)
    return typeof value === 'object' && value !== null && !Array.isArray(value)
  } catch {
    return false
  }
}

/** `reply` as a copy `ageMs` old (a failure stays as it is). */
function withAge(reply: FetchReply, ageMs: number): FetchReply {
  return 'status' in reply ? { ...reply, ageMs } : reply
}
