/**
 * @module Rate-limit buckets in Redis: GCRA as gcra.ts computes it, in an atomic Lua script
 * (`EVALSHA`, loaded again after `NOSCRIPT`, as after a Redis restart), on the Redis server's
 * clock (`TIME`) so that the instances' clocks do not matter. Each key expires when its bucket
 * is full again. All buckets of one request are taken together: all or none.
 *
 * Takes are coalesced: every take asked for while the event loop runs its current turn goes to
 * Redis in one script call when the turn ends (`setImmediate`), each request still decided on its
 * own and in order. Under load one call carries many requests, so the per-call cost of the client
 * and the server is shared; a lone request waits for nothing but the end of its turn.
 *
 * Keys: `<prefix>rl:<limit name>:<key value>`. Several keys in one script need one server (no
 * Redis Cluster slots across them): run a single Redis, or one with replicas and failover.
 */
import { setImmediate } from 'node:timers'
import type { Redis } from 'ioredis'
import type { LimitCheck, TakeResult } from '../core/limits/gcra.ts'
import type { LimitStore } from '../core/limits/store.ts'

/**
 * KEYS: the buckets of every request, in order. ARGV: the number of requests, then per request
 * its number of buckets, then per bucket its interval and its tolerance (µs). Returns per request
 * its verdict (1 allowed, 0 not) and per bucket its TAT minus now afterwards (µs). A key taken
 * twice in one call sees the first take (TATs are kept in a table); a TAT further ahead than a
 * full bucket's (Redis's clock was set back) counts as a full bucket's. Each key moved is written
 * once, at the end. TATs are written with `%.0f`: `tostring` would round a µs timestamp to 14
 * digits.
 */
export const GCRA_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local known = {}
local written = {}
local out = {}
local k = 1
local a = 2
for r = 1, tonumber(ARGV[1]) do
  local n = tonumber(ARGV[a])
  a = a + 1
  local tats = {}
  local allowed = 1
  for i = 0, n - 1 do
    local key = KEYS[k + i]
    local tat = known[key]
    if tat == nil then tat = tonumber(redis.call('GET', key)) end
    if tat == nil or tat < now then tat = now end
    local most = now + tonumber(ARGV[a + 2 * i]) + tonumber(ARGV[a + 2 * i + 1])
    if tat > most then tat = most end
    tats[i] = tat
    if tat - now > tonumber(ARGV[a + 2 * i + 1]) then allowed = 0 end
  end
  out[#out + 1] = allowed
  for i = 0, n - 1 do
    local tat = tats[i]
    if allowed == 1 then
      local key = KEYS[k + i]
      tat = tat + tonumber(ARGV[a + 2 * i])
      if written[key] == nil then written[#written + 1] = key end
      known[key] = tat
      written[key] = true
    end
    out[#out + 1] = tat - now
  end
  k = k + n
  a = a + 2 * n
end
for _, key in ipairs(written) do
  local tat = known[key]
  redis.call('SET', key, string.format('%.0f', tat), 'PX', math.max(1, math.ceil((tat - now) / 1000)))
end
return out
`

/** Requests in one script call at most (the rest go in the next). */
const MAX_BATCH = 256

interface Pending {
  readonly checks: readonly LimitCheck[]
  resolve(result: TakeResult): void
  reject(error: unknown): void
}

/**
 * A LimitStore in Redis. Every take rejects when the client does (its deadline passed, the server
 * is unreachable); a GuardedStore around it decides what then.
 *
 * @example
 * const store = new GuardedStore(new RedisLimitStore(connectRedis(config.redis), 'jwtgate:'), { name: 'redis' })
 */
export class RedisLimitStore implements LimitStore {
  #sha: string | undefined
  #pending: Pending[] = []
  #scheduled = false
  readonly #flush = () => this.#send()

  /** Buckets under `prefix` on `client`. */
  constructor(readonly client: Redis, readonly prefix: string) {}

  take(checks: readonly LimitCheck[], _now: number): Promise<TakeResult> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ checks, resolve, reject })
      if (!this.#scheduled) {
        this.#scheduled = true
        setImmediate(this.#flush)
      }
    })
  }

  #send(): void {
    this.#scheduled = false
    const all = this.#pending
    this.#pending = []
    for (let from = 0; from < all.length; from += MAX_BATCH) {
      void this.#call(all.slice(from, from + MAX_BATCH))
    }
  }

  async #call(batch: Pending[]): Promise<void> {
    const keys: string[] = []
    const args: (string | number)[] = [batch.length]
    for (const p of batch) {
      args.push(p.checks.length)
      for (const c of p.checks) {
        keys.push(`${this.prefix}rl:${c.key}`)
        args.push(Math.round(c.bucket.intervalMs * 1000), Math.round(c.bucket.toleranceMs * 1000))
      }
    }
    const results: TakeResult[] = []
    try {
      const reply = (await this.#run(keys, args)) as number[]
      if (!Array.isArray(reply)) throw new Error('Redis answered the script with no list')
      let at = 0
      for (const p of batch) {
        const allowed = Number(reply[at++]) === 1
        const ahead = new Array<number>(p.checks.length)
        for (let i = 0; i < ahead.length; i++) ahead[i] = Number(reply[at++]) / 1000
        if (ahead.some(Number.isNaN)) {
          throw new Error('Redis answered the script with too few values')
        }
        results.push({ allowed, ahead })
      }
    } catch (e) {
      // One error for the whole call: the guard counts it once.
      for (const p of batch) p.reject(e)
      return
    }
    batch.forEach((p, i) => p.resolve(results[i]!))
  }

  /**
   * One command within the deadline, two at most: EVALSHA by the script's SHA-1 (computed here,
   * not asked of Redis), and when Redis does not have the script (a first call, a restart, SCRIPT
   * FLUSH) its quick NOSCRIPT answer, then EVAL with the script, which also keeps it there. So a
   * take waits the deadline plus one quick answer at most, never three commands' deadlines.
   */
  async #run(keys: string[], args: (string | number)[]): Promise<unknown> {
    this.#sha ??= await sha1Hex(GCRA_SCRIPT)
    try {
      return await this.client.evalsha(this.#sha, keys.length, ...keys, ...args)
    } catch (e) {
      if (!(e instanceof Error) || !e.message.startsWith('NOSCRIPT')) throw e
      return await this.client.eval(GCRA_SCRIPT, keys.length, ...keys, ...args)
    }
  }
}

/** The SHA-1 of `text` in lower-case hex: the name Redis gives a script. */
async function sha1Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-1', new TextEncoder().encode(text)))
  let hex = ''
  for (const byte of digest) hex += byte.toString(16).padStart(2, '0')
  return hex
}
