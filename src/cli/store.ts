/**
 * @module What a serving process keeps outside its requests: the named limits' buckets and the
 * revocations. With JWTGATE_REDIS_URL both are in Redis — the buckets behind a breaker with the
 * configured fallback (core/limits/guarded.ts), the revocations mirrored here and kept in step
 * by pub/sub (redis/revocations.ts). Without it the buckets are this process's own (or the
 * primary's, for workers) and the revocations come from the revocations file, reloaded when it
 * changes (revocations.ts). One per process: a reload keeps it (its settings change on restart).
 *
 * The Redis modules are imported only when Redis is configured: evaluating ioredis (and the Node
 * modules it pulls in) is most of a start-up's JavaScript time, and most gateways never use it.
 */
import type { Config } from '../core/config/types.ts'
import type { GatewayDeps } from '../core/gateway.ts'
import { GuardedStore } from '../core/limits/guarded.ts'
import type { Logger } from '../core/log.ts'
import { StoreLimiter } from '../core/rate-limit.ts'
import { RevocationList } from '../core/revocation/list.ts'
import type { Host } from './host.ts'
import { FileRevocations } from './revocations.ts'

/** An open store: what the gateway takes from it, and how to close it. */
export interface OpenStore {
  /** The gateway's dependencies that use it. */
  readonly deps: Pick<GatewayDeps, 'limitStore' | 'limiter' | 'revocations' | 'revoke'>
  /**
   * Resolves once the revocations are loaded (at once from a file; from Redis at its first sync,
   * or after FIRST_SYNC_MS when Redis has not answered — a sync under way is waited for, up to
   * FIRST_SYNC_LONGEST_MS): a gateway listens only then, so that no revoked token passes in its
   * first moments.
   */
  readonly loaded: Promise<void>
  close(): void
}

/** How long a starting process waits for Redis to answer before it serves anyway. */
const FIRST_SYNC_MS = 3000
/** How long it waits for a first sync under way (a large set, a slow link) before it serves. */
const FIRST_SYNC_LONGEST_MS = 30_000

/**
 * The stores of `config`; problems that keep it from starting (an unreadable revocations file)
 * as a string.
 */
export async function openStore(
  host: Host,
  config: Config,
  logger: Logger,
): Promise<OpenStore | string> {
  const list = new RevocationList(config.revocations.maxEntries)
  if (config.redis !== undefined) {
    const [{ connectRedis }, { RedisLimitStore }, { RedisRevocations }] = await Promise.all([
      import('../redis/client.ts'),
      import('../redis/limit-store.ts'),
      import('../redis/revocations.ts'),
    ])
    const client = connectRedis(config.redis)
    const subscriber = connectRedis(config.redis)
    const limits = new GuardedStore(new RedisLimitStore(client, config.redis.prefix), {
      name: 'redis',
      fallback: config.redis.onFailure,
      logger,
    })
    const sync = new RedisRevocations(client, subscriber, list, {
      prefix: config.redis.prefix,
      logger,
      now: Date.now,
      maxLifetimeSec: config.revocations.maxTokenLifetimeSec,
    })
    return {
      loaded: firstSync(sync, logger),
      deps: {
        limitStore: limits,
        limiter: (rate) => new StoreLimiter(rate, limits),
        revocations: list,
        revoke: (entry) => sync.revoke(entry),
      },
      close() {
        sync.close()
        subscriber.disconnect()
        client.disconnect()
      },
    }
  }
  if (config.revocations.file === undefined) {
    return { deps: {}, loaded: Promise.resolve(), close() {} }
  }
  const file = new FileRevocations(host, config.revocations.file, list, {
    logger,
    now: Date.now,
    maxLifetimeSec: config.revocations.maxTokenLifetimeSec,
  })
  const problem = file.load()
  if (problem !== undefined) return problem
  const unwatch = file.watch()
  return {
    deps: { revocations: list, revoke: (entry) => file.revoke(entry) },
    loaded: Promise.resolve(),
    close: unwatch,
  }
}

/**
 * Resolves at the first full sync of `sync`; after FIRST_SYNC_MS without one only when none is
 * under way (Redis has not answered), else when it ends or at FIRST_SYNC_LONGEST_MS. Serving
 * without it is logged: a list that is not confirmed (strict revocations refuse every token).
 */
export async function firstSync(
  sync: RedisRevocationsLike,
  logger: Logger,
  waits: { readonly firstMs: number; readonly longestMs: number } = {
    firstMs: FIRST_SYNC_MS,
    longestMs: FIRST_SYNC_LONGEST_MS,
  },
): Promise<void> {
  const started = Date.now()
  let done = false
  void sync.synced.then(() => (done = true))
  const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
  await Promise.race([sync.synced, pause(waits.firstMs)])
  while (!done && sync.loading && Date.now() - started < waits.longestMs) {
    await Promise.race([sync.synced, pause(50)])
  }
  if (done) return
  logger.log('warn', 'revocations_unconfirmed', {
    store: 'redis',
    reason: `no full load of the revocations from Redis within ${
      Math.round((Date.now() - started) / 1000)
    } s; serving with what is loaded when it comes`,
  })
}

/** What firstSync reads of a RedisRevocations. */
export interface RedisRevocationsLike {
  readonly synced: Promise<void>
  readonly loading: boolean
}
