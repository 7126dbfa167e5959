/**
 * @module The Redis connection (ioredis, on Bun and under Deno alike), set up so that a slow or
 * dead server costs a request its deadline and never more: every command has the configured
 * deadline (`commandTimeout`), a command while disconnected fails at once (no offline queue, no
 * retries per request), and the connection is re-established in the background with back-off
 * (50 ms doubling to 2 s), for as long as the gateway runs.
 *
 * Why ioredis: it runs unchanged on Bun and under Deno (`npm:`) and bundles into the compiled
 * binary; it has per-command deadlines and fail-fast-when-disconnected built in, reconnects by
 * itself, and resubscribes pub/sub channels after a reconnect. Bun's own RedisClient does not run
 * under Deno, and was seen hanging ~31 s on a dead server with its defaults.
 */
import { Redis, type RedisOptions } from 'ioredis'
import type { RedisConfig } from '../core/config/types.ts'

/** The longest back-off between reconnection attempts. */
const MAX_RECONNECT_MS = 2000

/** The connection options for `config` (the URL carries host, port, user, password, db, TLS). */
export function redisOptions(config: RedisConfig): RedisOptions {
  return {
    commandTimeout: config.timeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: Math.max(1000, config.timeoutMs * 10),
    retryStrategy: (attempt: number) => Math.min(50 * 2 ** Math.min(attempt, 6), MAX_RECONNECT_MS),
    // A reply to a command sent before a failover must not be taken for another's.
    autoResendUnfulfilledCommands: false,
    lazyConnect: false,
  }
}

/**
 * A client for `config`. Connection errors are not thrown here and not logged per attempt: the
 * callers' breakers log each change of state once.
 */
export function connectRedis(config: RedisConfig): Redis {
  const client = new Redis(config.url, redisOptions(config))
  // Without a listener an `error` event would be thrown; the breaker reports failures.
  client.on('error', () => {})
  return client
}
