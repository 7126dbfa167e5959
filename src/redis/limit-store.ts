/**
 * @module Rate-limit buckets in Redis: one atomic script per take (`EVALSHA`, loaded again after
 * `NOSCRIPT`, as after a Redis restart), GCRA as gcra.ts computes it, on the Redis server's clock
 * (`TIME`) so that the instances' clocks do not matter. Each key expires when its bucket is full
 * again. All buckets of one request are taken in the same script: all or none.
 *
 * Keys: `<prefix>rl:<limit name>:<key value>`. Several keys in one script need one server (no
 * Redis Cluster slots across them): run a single Redis, or one with replicas and failover.
 */
import type { Redis } from 'ioredis'
import type { LimitCheck, TakeResult } from '../core/limits/gcra.ts'
import type { LimitStore } from '../core/limits/store.ts'

/**
 * KEYS: the buckets. ARGV: per bucket its interval and its tolerance, in µs. Returns the
 * verdict (1 allowed, 0 not) and per bucket its TAT minus now afterwards, in µs. TATs are written
 * with `%.0f`: a plain `tostring` would round a µs timestamp to 14 digits.
 */
export const GCRA_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = #KEYS
local tats = {}
local allowed = 1
for i = 1, n do
  local tat = tonumber(redis.call('GET', KEYS[i]))
  if tat == nil or tat < now then tat = now end
  tats[i] = tat
  if tat - now > tonumber(ARGV[2 * i]) then allowed = 0 end
end
local out = { allowed }
for i = 1, n do
  local tat = tats[i]
  if allowed == 1 then
    tat = tat + tonumber(ARGV[2 * i - 1])
    redis.call('SET', KEYS[i], string.format('%.0f', tat), 'PX', math.max(1, math.ceil((tat - now) / 1000)))
  end
  out[i + 1] = tat - now
end
return out
`

/**
 * A LimitStore in Redis. Every call rejects when the client does (its deadline passed, the server
 * is unreachable); a GuardedStore around it decides what then.
 *
 * @example
 * const store = new GuardedStore(new RedisLimitStore(connectRedis(config.redis), 'jwtgate:'), { name: 'redis' })
 */
export class RedisLimitStore implements LimitStore {
  #sha: string | undefined

  /** Buckets under `prefix` on `client`. */
  constructor(readonly client: Redis, readonly prefix: string) {}

  async take(checks: readonly LimitCheck[], _now: number): Promise<TakeResult> {
    const args: (string | number)[] = []
    for (const c of checks) args.push(`${this.prefix}rl:${c.key}`)
    for (const c of checks) {
      args.push(Math.round(c.bucket.intervalMs * 1000), Math.round(c.bucket.toleranceMs * 1000))
    }
    const reply = (await this.#run(checks.length, args)) as number[]
    const ahead = new Array<number>(checks.length)
    for (let i = 0; i < checks.length; i++) ahead[i] = Number(reply[i + 1]) / 1000
    return { allowed: Number(reply[0]) === 1, ahead }
  }

  async #run(keys: number, args: (string | number)[]): Promise<unknown> {
    this.#sha ??= (await this.client.script('LOAD', GCRA_SCRIPT)) as string
    try {
      return await this.client.evalsha(this.#sha, keys, ...args)
    } catch (e) {
      if (!(e instanceof Error) || !e.message.startsWith('NOSCRIPT')) throw e
      this.#sha = (await this.client.script('LOAD', GCRA_SCRIPT)) as string
      return await this.client.evalsha(this.#sha, keys, ...args)
    }
  }
}
