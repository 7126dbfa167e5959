/**
 * @module `jwtgate revoke`: stores a revocation where the running gateways read it — Redis
 * (announced to every instance at once) or the revocations file (each gateway reloads it within a
 * second) — with the same configuration the gateways run with. A token given with `--token` (or
 * `--token -`, read from standard input so that it stays out of the shell history) is stored as
 * its SHA-256, never as itself.
 */
import type { Config } from '../core/config/types.ts'
import {
  parseNewRevocation,
  type Revocation,
  revocationJson,
  tokenHash,
} from '../core/revocation/entry.ts'
import { decodeSegment } from '../core/auth/verify.ts'
import type { Host } from './host.ts'
import { appendRevocation } from './revocations.ts'

/** The flags of `jwtgate revoke` (values as given). */
export interface RevokeFlags {
  readonly jti?: string
  readonly sub?: string
  readonly issuer?: string
  readonly iss?: string
  readonly token?: string
  readonly exp?: string
  readonly before?: string
  readonly until?: string
}

export const REVOKE_USAGE =
  'usage: jwtgate revoke (--jti ID [--iss ISSUER] [--exp TIME] | --token JWT|- | --sub SUB [--iss ISSUER] [--before TIME] | --issuer ISSUER [--before TIME]) [--until TIME] [--config FILE]'

/** How long `revoke` waits for Redis. */
const CONNECT_TIMEOUT_MS = 5000

/** Seconds since the epoch from `now`, a number of seconds, or an ISO 8601 date; else undefined. */
export function parseTime(text: string, nowSec: number): number | undefined {
  if (text === 'now') return nowSec
  if (/^\d{1,11}$/.test(text)) return Number(text)
  if (!/^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text)) return undefined
  const ms = Date.parse(text)
  return Number.isNaN(ms) ? undefined : Math.floor(ms / 1000)
}

/** The `exp` of a compact JWT's payload (not verified: only to know when to forget it). */
function tokenExp(token: string): number | undefined | string {
  const parts = token.split('.')
  if (parts.length !== 3) return 'the --token value is not a compact JWT'
  try {
    const payload = decodeSegment(parts[1]!) as { exp?: unknown }
    return typeof payload.exp === 'number' ? Math.floor(payload.exp) : undefined
  } catch {
    return 'the --token value is not a compact JWT (its payload is not JSON)'
  }
}

/** The entry the flags describe, or what is wrong with them. */
export async function revocationFromFlags(
  flags: RevokeFlags,
  config: Config,
  nowSec: number,
  readToken: () => Promise<string>,
): Promise<Revocation | string> {
  const times: Record<string, number> = {}
  for (const name of ['exp', 'before', 'until'] as const) {
    const text = flags[name]
    if (text === undefined) continue
    const time = parseTime(text, nowSec)
    if (time === undefined) {
      return `--${name} must be seconds since the epoch, an ISO 8601 date or now`
    }
    times[name] = time
  }
  const value: Record<string, unknown> = {
    jti: flags.jti,
    sub: flags.sub,
    issuer: flags.issuer,
    iss: flags.iss,
    ...times,
  }
  if (flags.token !== undefined) {
    const token = (flags.token === '-' ? await readToken() : flags.token).trim()
    const exp = tokenExp(token)
    if (typeof exp === 'string') return exp
    value.token_sha256 = await tokenHash(token)
    value.exp ??= exp
  }
  for (const k of Object.keys(value)) if (value[k] === undefined) delete value[k]
  const entry = parseNewRevocation(
    value,
    nowSec,
    config.revocations.maxTokenLifetimeSec,
    config.revocations.beforeMarginSec,
  )
  return typeof entry === 'string'
    ? entry.replace(/"(\w+)"/g, (_, f) => `--${f === 'token_sha256' ? 'token' : f}`)
    : entry
}

/** Stores `entry` where the gateways of `config` read revocations; the problem, if any. */
export async function storeEntry(
  host: Host,
  config: Config,
  entry: Revocation,
): Promise<string | undefined> {
  if (config.redis !== undefined) {
    // Imported here, as in store.ts: ioredis costs start-up time to every other command.
    const [{ connectRedis }, { roomProblem, storeRevocation }] = await Promise.all([
      import('../redis/client.ts'),
      import('../redis/revocations.ts'),
    ])
    const client = connectRedis(config.redis)
    try {
      const ready = await Promise.race([
        new Promise<boolean>((resolve) => client.once('ready', () => resolve(true))),
        new Promise<boolean>((resolve) => setTimeout(resolve, CONNECT_TIMEOUT_MS, false)),
      ])
      if (!ready) return `Redis did not answer within ${CONNECT_TIMEOUT_MS / 1000} s`
      const full = await roomProblem(
        client,
        config.redis.prefix,
        entry,
        config.revocations.maxEntries,
      )
      if (full !== undefined) return full
      await storeRevocation(client, config.redis.prefix, entry)
      return undefined
    } catch (e) {
      return `Redis refused the revocation: ${e instanceof Error ? e.message : String(e)}`
    } finally {
      client.disconnect()
    }
  }
  if (config.revocations.file !== undefined) {
    try {
      appendRevocation(
        host,
        config.revocations.file,
        entry,
        Math.floor(Date.now() / 1000),
        config.revocations.maxTokenLifetimeSec,
        config.revocations.maxEntries,
      )
      return undefined
    } catch (e) {
      const why = e instanceof Error && e.message.startsWith('the revocations file')
        ? e.message
        : ''
      return why !== '' ? why : `cannot append to the revocations file ${config.revocations.file}`
    }
  }
  return 'no revocation store: set JWTGATE_REDIS_URL, or JWTGATE_REVOCATIONS_FILE for one instance (or POST /revocations to a gateway)'
}

/** `jwtgate revoke`: resolves with the exit code. */
export async function revoke(host: Host, config: Config, flags: RevokeFlags): Promise<number> {
  const entry = await revocationFromFlags(
    flags,
    config,
    Math.floor(Date.now() / 1000),
    () => new Response(host.stdin()).text(),
  )
  if (typeof entry === 'string') {
    host.stderr(`jwtgate: ${entry}`)
    host.stderr(REVOKE_USAGE)
    return 2
  }
  const problem = await storeEntry(host, config, entry)
  if (problem !== undefined) {
    host.stderr(`jwtgate: ${problem}`)
    return 1
  }
  host.stdout(`revoked ${JSON.stringify(revocationJson(entry))}`)
  return 0
}
