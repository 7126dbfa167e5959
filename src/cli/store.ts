/**
 * @module The shared store a process opens when the configuration names one (JWTGATE_REDIS_URL):
 * the named limits' buckets in Redis, behind a breaker with the configured fallback
 * (core/limits/guarded.ts). One per process: a reload keeps it (its settings change on restart).
 */
import type { Config } from '../core/config/types.ts'
import { GuardedStore } from '../core/limits/guarded.ts'
import type { GatewayDeps } from '../core/gateway.ts'
import type { Logger } from '../core/log.ts'
import { StoreLimiter } from '../core/rate-limit.ts'
import { connectRedis } from '../redis/client.ts'
import { RedisLimitStore } from '../redis/limit-store.ts'

/** An open store, and how to close its connection. */
export interface OpenStore {
  readonly limits: GuardedStore
  /** The gateway's dependencies that use it: the named limits and JWTGATE_RATE_LIMIT. */
  readonly deps: Pick<GatewayDeps, 'limitStore' | 'limiter'>
  close(): void
}

/** The Redis store of `config`, or undefined when it names none. */
export function openStore(config: Config, logger: Logger): OpenStore | undefined {
  if (config.redis === undefined) return undefined
  const client = connectRedis(config.redis)
  const limits = new GuardedStore(new RedisLimitStore(client, config.redis.prefix), {
    name: 'redis',
    fallback: config.redis.onFailure,
    logger,
  })
  return {
    limits,
    deps: { limitStore: limits, limiter: (rate) => new StoreLimiter(rate, limits) },
    close: () => client.disconnect(),
  }
}
