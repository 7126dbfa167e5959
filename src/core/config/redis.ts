/**
 * @module The shared store's settings (JWTGATE_REDIS_* or `redis:` in the file; a variable wins):
 * where several instances keep their rate-limit buckets. Its URL may hold a password, so it is
 * a secret: `{ "env": … }` or `{ "file": … }` in the file, `JWTGATE_REDIS_URL_FILE`, and never
 * printed (`describeRedis` shows it without credentials).
 */
import type { ConfigIssue } from '../errors.ts'
import type { FileConfig } from './file-schema.ts'
import type { EnvValues } from './schema.ts'
import { resolveSecret } from './secrets.ts'
import type { Environment, ReadFile, RedisConfig } from './types.ts'
import { durationMs } from './values.ts'

/** The longest store deadline accepted: a gateway must never wait seconds on its store. */
export const MAX_REDIS_TIMEOUT_MS = 5000

/** Why `text` is not a `redis://` or `rediss://` URL with a host; undefined when it is one. */
export function redisUrlProblem(text: string): string | undefined {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return 'must be a URL such as redis://127.0.0.1:6379 or rediss://user:password@host:6380/0'
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    return 'must start with redis:// or rediss:// (TLS)'
  }
  if (url.hostname === '') return 'must name a host'
  const db = url.pathname.replace(/^\//, '')
  if (db !== '' && !/^\d{1,2}$/.test(db)) return 'the path must be a database number, such as /0'
  return undefined
}

/** The URL without user and password, for `jwtgate check` and logs. */
export function describeRedis(url: string): string {
  const u = new URL(url)
  return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`
}

/** The settings, or undefined when no URL is given; problems go to `issues`. */
export function redisSettings(
  values: EnvValues,
  input: Readonly<Record<string, string>>,
  file: FileConfig | undefined,
  env: Environment,
  readFile: ReadFile | undefined,
  issues: ConfigIssue[],
): RedisConfig | undefined {
  const set = (variable: string) => variable in input
  const fromFile = file?.redis
  let url = values.JWTGATE_REDIS_URL
  if (!set('JWTGATE_REDIS_URL') && fromFile !== undefined) {
    url = resolveSecret(fromFile.url, 'redis.url', env, readFile, issues)
    const problem = url === undefined ? undefined : redisUrlProblem(url)
    if (problem !== undefined) issues.push({ path: 'redis.url', message: problem })
  }
  if (url === undefined) return undefined
  const timeoutMs = set('JWTGATE_REDIS_TIMEOUT') || fromFile === undefined
    ? values.JWTGATE_REDIS_TIMEOUT
    : durationMs(fromFile.timeout)
  if (timeoutMs < 1 || timeoutMs > MAX_REDIS_TIMEOUT_MS) {
    issues.push({
      path: set('JWTGATE_REDIS_TIMEOUT') || fromFile === undefined
        ? 'JWTGATE_REDIS_TIMEOUT'
        : 'redis.timeout',
      message: `must be from 1ms to ${MAX_REDIS_TIMEOUT_MS / 1000}s`,
    })
  }
  return {
    url,
    timeoutMs,
    onFailure: set('JWTGATE_REDIS_ON_FAILURE') || fromFile === undefined
      ? values.JWTGATE_REDIS_ON_FAILURE
      : fromFile.onFailure,
    prefix: set('JWTGATE_REDIS_PREFIX') || fromFile === undefined
      ? values.JWTGATE_REDIS_PREFIX
      : fromFile.prefix,
  }
}
